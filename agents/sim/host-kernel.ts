// The simulated host kernel: cores, cgroups with CFS bandwidth control, a CFS run queue per core with a
// ksoftirqd per core, the NIC (rings, interrupt moderation, NAPI budgets), the network neighbours' traffic,
// and the accounting policy. Time advances in fixed steps (50 us by default); inside a step each core runs
// a small event loop: the interrupt at the step's start, softirq at irq exit on the interrupted task, then
// tasks picked by CFS until the step ends. Nothing here is fitted per scenario: the victim's loss comes from
// softirq running on its time (and charged to its quota) and from ksoftirqd competing for its core.
import type { RunSpec } from '../run-spec.ts';
import { defaultMessageBytes, isNetworkWorkload } from '../../workloads/catalog.ts';
import { AccountingPolicy, EbpfAccounting, IronAccounting, VanillaAccounting } from './accounting.ts';
import { CfsBandwidth } from './cfs-bandwidth.ts';
import type { HostProfile } from './profile.ts';
import { createRng, type Rng } from './rng.ts';
import { CoreScheduler, type SchedEntity } from './scheduler.ts';
import { RxRings, Traffic, type SoftirqUse } from './traffic.ts';

/** Per-core time categories, in the order of CORE_CATEGORIES in agents/samples.ts. */
export const CAT_VICTIM = 0, CAT_NEIGHBOURS = 1, CAT_SOFTIRQ_TASK = 2, CAT_KSOFTIRQD = 3, CAT_IDLE = 4, CAT_OTHER = 5;
export const N_CATS = 6;
const KSOFTIRQD = -1;
const IDLE = -1;
const KSOFTIRQD_RUNNING = -3; // `running` while ksoftirqd is on the core: a tick's irq_exit finds softirqs disabled

export interface ContainerSnapshot {
  sysbenchEvents: number;
  usageNs: number;
  nrPeriods: number;
  nrThrottled: number;
  throttledNs: number;
  attributedNs: number;
  chargedNs: number;
  creditedNs: number;
  // network neighbours only (zeros otherwise)
  offered: number;
  delivered: number;
  goodputBytes: number;
  retransmits: number;
  dropped: number[];
}

export interface KernelSnapshot {
  nowNs: number;
  coreCatNs: Float64Array; // cores x N_CATS
  softirqVecNs: Float64Array; // cores x 2 (NET_RX, NET_TX)
  containers: ContainerSnapshot[];
}

export interface TimelineBucket {
  tS: number;
  /** Per core, seconds per category in this bucket (CORE_CATEGORIES order). */
  cores: number[][];
}

export class HostKernel {
  readonly cores: number;
  nowNs = 0;
  readonly nContainers: number;
  readonly groups: CfsBandwidth[] = [];
  readonly homeCpu: number[] = [];
  readonly traffic: (Traffic | null)[] = [];
  readonly policy: AccountingPolicy;
  readonly coreCatNs: Float64Array;
  readonly softirqVecNs: Float64Array;
  private readonly sysbenchEvents: Float64Array;
  private readonly eventsPerNs: Float64Array;
  private readonly scheds: CoreScheduler[] = [];
  private readonly runnableFn: ((e: SchedEntity) => boolean)[] = [];
  private readonly coreTraffic: Traffic[][] = [];
  private readonly allTraffic: Traffic[] = [];
  private readonly rings: RxRings;
  private readonly rng: Rng;
  private readonly stepNs: number;
  private readonly messageBytes: number;
  // Per-core softirq state
  private readonly inEpisode: Uint8Array;
  private readonly episodeCtx: Int32Array;
  private readonly episodeNs: Float64Array;
  private readonly episodePackets: Float64Array;
  private readonly napiScheduled: Uint8Array;
  private readonly ksoftirqdPending: Uint8Array;
  private readonly lastIrqNs: Float64Array;
  private readonly nextTickNs: Float64Array;
  private readonly tickPhaseNs: Float64Array;
  private readonly episodeEndNs: Float64Array;
  private readonly softirqJiffies: number;
  private readonly tickNs: number;
  private readonly stalled: Uint8Array; // containers that blocked during the current step on the current core
  private readonly ownerNs: Float64Array;
  private readonly use: SoftirqUse = { rxNs: 0, txNs: 0, packets: 0 };
  private rotate = 0;
  // Timeline
  private readonly timelineBucketNs: number;
  private nextBucketNs: number;
  private lastBucketCat: Float64Array;
  readonly timeline: TimelineBucket[] = [];

  constructor(
    readonly spec: RunSpec,
    readonly prof: HostProfile,
    opts: { timelineBucketMs?: number } = {},
  ) {
    this.cores = prof.coreCount;
    const allCpus = [...spec.victim.cpus, ...spec.neighbour.cpus, ...spec.nicCpus, ...spec.peer.cpus];
    const bad = allCpus.find((c) => c >= this.cores);
    if (bad !== undefined) throw new Error(`cpu ${bad} does not exist on simulated host '${prof.name}' (${this.cores} cores)`);
    this.rng = createRng(spec.seed);
    const K = spec.neighbours;
    this.nContainers = K + 1;
    this.messageBytes = spec.params.messageBytes ?? defaultMessageBytes(spec.workload) ?? 131072;
    const network = isNetworkWorkload(spec.workload);
    this.stepNs = (network ? prof.simStepUs : prof.simIdleStepUs) * 1000;

    // Cgroups: victim = 0, neighbours 1..K. Each has one task pinned to one core of its cpuset. The period
    // timers start at random phases, as they do when containers start at slightly different moments.
    const slice = prof.cfsSliceUs * 1000;
    for (let i = 0; i < this.nContainers; i++) {
      const shape = i === 0 ? spec.victim : spec.neighbour;
      const period = shape.periodUs * 1000;
      this.groups.push(new CfsBandwidth(shape.quotaUs * 1000, period, slice, this.cores, Math.floor(this.rng.next() * period) + 1));
      this.homeCpu.push(shape.cpus[(i === 0 ? 0 : i - 1) % shape.cpus.length]);
    }
    this.sysbenchEvents = new Float64Array(this.nContainers);
    this.eventsPerNs = new Float64Array(this.nContainers);
    for (let i = 0; i < this.nContainers; i++) {
      this.eventsPerNs[i] = (prof.sysbenchEventsPerCpuSecond / 1e9) * (1 + prof.cpuSpeedJitterFraction * this.rng.centered());
    }

    this.policy = this.makePolicy();
    this.rings = new RxRings(this.cores, prof.rxRingPackets);
    for (let c = 0; c < this.cores; c++) this.coreTraffic.push([]);
    this.traffic.push(null);
    for (let i = 1; i < this.nContainers; i++) {
      if (!network) {
        this.traffic.push(null);
        continue;
      }
      const home = this.homeCpu[i];
      const nicCore = spec.nicCpus.includes(home) ? home : spec.nicCpus[(i - 1) % spec.nicCpus.length];
      const t = new Traffic(
        { kind: spec.workload, owner: i, appCore: home, nicCore, rateGbps: spec.params.rateGbps, flows: spec.params.flows ?? 1, messageBytes: this.messageBytes },
        prof,
        this.rings,
        this.policy,
      );
      this.traffic.push(t);
      this.allTraffic.push(t);
      this.coreTraffic[nicCore].push(t);
      if (home !== nicCore) this.coreTraffic[home].push(t);
    }

    // Run queues: each container's task on its home core, and a ksoftirqd on every core.
    // With Docker's cgroupfs layout the containers share a `docker` group entity beside ksoftirqd.
    const sliceNs = Math.max(prof.schedLatencyUs * 500, prof.schedMinGranularityUs * 1000);
    for (let c = 0; c < this.cores; c++) {
      const here: number[] = [];
      for (let i = 0; i < this.nContainers; i++) if (this.homeCpu[i] === c) here.push(i);
      this.scheds.push(new CoreScheduler(here, prof.containersUnderDockerCgroup, sliceNs, prof.schedWakeupGranularityUs * 1000, prof.schedLatencyUs * 500));
      this.runnableFn.push((e) => this.isRunnable(c, e));
    }

    this.coreCatNs = new Float64Array(this.cores * N_CATS);
    this.softirqVecNs = new Float64Array(this.cores * 2);
    this.inEpisode = new Uint8Array(this.cores);
    this.episodeCtx = new Int32Array(this.cores);
    this.episodeNs = new Float64Array(this.cores);
    this.episodePackets = new Float64Array(this.cores);
    this.napiScheduled = new Uint8Array(this.cores);
    this.ksoftirqdPending = new Uint8Array(this.cores);
    this.lastIrqNs = new Float64Array(this.cores).fill(-Infinity);
    // The scheduler tick of each core, at a random phase.
    this.tickNs = 1e9 / prof.timerTickHz;
    this.nextTickNs = new Float64Array(this.cores);
    for (let c = 0; c < this.cores; c++) this.nextTickNs[c] = this.rng.next() * this.tickNs;
    this.tickPhaseNs = Float64Array.from(this.nextTickNs);
    this.episodeEndNs = new Float64Array(this.cores);
    // MAX_SOFTIRQ_TIME = msecs_to_jiffies(2): __do_softirq restarts only while jiffies < start + that many jiffies.
    this.softirqJiffies = Math.max(1, Math.ceil((prof.softirqMaxTimeUs * 1000) / this.tickNs - 1e-9));
    this.stalled = new Uint8Array(this.nContainers);
    this.ownerNs = new Float64Array(this.nContainers);
    this.timelineBucketNs = (opts.timelineBucketMs ?? 0) * 1e6;
    this.nextBucketNs = this.timelineBucketNs;
    this.lastBucketCat = new Float64Array(this.cores * N_CATS);
  }

  private makePolicy(): AccountingPolicy {
    const p = this.prof;
    switch (this.spec.enforcement) {
      case 'none':
        return new VanillaAccounting(this.groups, this.homeCpu);
      case 'iron-kernel':
        return new IronAccounting(this.groups, this.homeCpu, p.ironAccountingNsPerPacket);
      case 'ebpf':
        return new EbpfAccounting(
          this.groups,
          this.homeCpu,
          p.ebpfAccountingNsPerPacket,
          this.groups.map((g) => g.quotaNs),
          Math.max(p.ebpfControllerIntervalUs * 1000, this.groups[0].periodNs),
          p.ebpfMinQuotaUs * 1000,
          Math.floor(this.rng.next() * p.ebpfPollDelayUs * 1000) + 1,
        );
    }
  }

  /** Advance simulated time by `ns` (rounded up to whole steps). */
  run(ns: number): void {
    const end = this.nowNs + ns - 1e-6;
    while (this.nowNs < end) this.step();
  }

  private step(): void {
    const now = this.nowNs;
    const Q = this.stepNs;
    const prof = this.prof;
    for (let i = 0; i < this.nContainers; i++) this.groups[i].tick(now);
    this.policy.onTick(now);

    if (this.allTraffic.length > 0) {
      // The link: what was queued for transmission leaves at line rate; peers send towards us.
      const linkBytes = (prof.linkGbps / 8) * Q;
      let txLeft = linkBytes;
      let rxLeft = linkBytes;
      const n = this.allTraffic.length;
      for (let k = 0; k < n; k++) {
        const t = this.allTraffic[(k + this.rotate) % n];
        txLeft -= t.drainWire(txLeft / (n - k));
        if (t.htb) t.htb.refill(Q);
        const jitter = 1 + prof.arrivalJitterFraction * this.rng.centered();
        rxLeft -= t.arrive(now, Q, rxLeft / (n - k), jitter);
      }
      this.rotate++;
    }

    for (let c = 0; c < this.cores; c++) this.runCore(c, now, Q);
    this.nowNs = now + Q;

    if (this.timelineBucketNs > 0 && this.nowNs >= this.nextBucketNs - 1e-6) this.closeBucket();
  }

  /** One step of one core: the interrupt, softirq at irq exit, then CFS. */
  private runCore(c: number, now: number, Q: number): void {
    const prof = this.prof;
    const traffics = this.coreTraffic[c];
    const sched = this.scheds[c];
    const cat = this.coreCatNs;
    const base = c * N_CATS;
    // The scheduler tick of this step (if any): its irq_exit runs pending softirqs on the interrupted task.
    let tickAt = -1;
    if (this.nextTickNs[c] < now + Q) {
      tickAt = this.nextTickNs[c] - now;
      while (this.nextTickNs[c] < now + Q) this.nextTickNs[c] += this.tickNs;
    }
    if (traffics.length === 0 && sched.empty && !this.ksoftirqdPending[c]) {
      cat[base + CAT_IDLE] += Q; // nothing can run here: an idle core
      return;
    }
    const scale = traffics.length > 0 ? 1 + prof.costJitterFraction * this.rng.centered() : 1;
    this.stalled.fill(0);
    let t = 0;
    // The NIC (or the qdisc watchdog) interrupts once per moderation interval when work is pending, unless
    // NAPI is already polling. The interrupt lands at a random instant of the step, on whatever runs then.
    let irqAt = -1;
    if (!this.napiScheduled[c] && !this.ksoftirqdPending[c] && traffics.length > 0 && now - this.lastIrqNs[c] >= prof.irqModerationUs * 1000 - 1 && this.hasSoftirqWork(c)) {
      irqAt = this.rng.next() * Q * 0.999;
    }
    if (traffics.length === 0) tickAt = -1;
    let running = IDLE; // who is on the core at time t (a container index, IDLE or KSOFTIRQD_RUNNING)

    while (t < Q - 1e-6) {
      if (irqAt >= 0 && t >= irqAt) {
        irqAt = -1;
        this.lastIrqNs[c] = now + t;
        this.napiScheduled[c] = 1;
        this.inEpisode[c] = 1;
        this.episodeCtx[c] = running === KSOFTIRQD_RUNNING ? IDLE : running;
        this.episodeNs[c] = 0;
        this.episodePackets[c] = 0;
        this.episodeEndNs[c] = this.softirqDeadline(c, now + t);
        const hard = this.softirqSlice(c, now + t, Math.min(prof.hardIrqNsPerInterrupt * scale, Q - t), 0, scale, true);
        t += hard;
        this.episodeNs[c] = hard;
        continue;
      }
      if (tickAt >= 0 && t >= tickAt) {
        tickAt = -1;
        // invoke_softirq at the tick's irq_exit: NET_RX is pending while NAPI is scheduled. Since 4.9 it is
        // left to ksoftirqd when that thread is runnable; before, it runs here on the interrupted task.
        if (!this.inEpisode[c] && running !== KSOFTIRQD_RUNNING && this.napiScheduled[c] && (!this.ksoftirqdPending[c] || !prof.softirqDeferToKsoftirqdWhilePending) && this.hasSoftirqWork(c)) {
          this.inEpisode[c] = 1;
          this.episodeCtx[c] = running;
          this.episodeNs[c] = 0;
          this.episodePackets[c] = 0;
          this.episodeEndNs[c] = this.softirqDeadline(c, now + t);
        }
        continue;
      }
      if (this.inEpisode[c]) {
        // __do_softirq at irq exit: runs until the work is done or 2 ms / 10 restarts are spent.
        const maxNs = this.episodeEndNs[c] - (now + t);
        const pkLimit = prof.netdevBudgetPackets * prof.softirqMaxRestarts;
        const used = this.softirqSlice(c, now + t, Math.min(Q - t, maxNs), pkLimit - this.episodePackets[c], scale, false);
        t += used;
        this.episodeNs[c] += used;
        if (tickAt >= 0 && tickAt <= t + 1e-6) tickAt = -1; // the tick came inside softirq: irq_exit runs nothing
        if (!this.hasSoftirqWork(c)) {
          this.inEpisode[c] = 0;
          this.napiScheduled[c] = 0;
        } else if (maxNs - used <= 1e-6 || this.episodePackets[c] >= pkLimit - 1e-9 || used <= 0) {
          this.inEpisode[c] = 0;
          this.ksoftirqdPending[c] = 1; // wakeup_softirqd: the rest waits for the thread
        }
        continue;
      }
      if (this.ksoftirqdPending[c] && !this.hasSoftirqWork(c)) {
        this.ksoftirqdPending[c] = 0;
        this.napiScheduled[c] = 0;
      }
      const e = sched.pick(this.runnableFn[c]);
      let until = Q;
      if (irqAt >= 0) until = irqAt;
      if (tickAt >= 0 && tickAt < until) until = tickAt;
      if (e === null) {
        cat[base + CAT_IDLE] += until - t;
        t = until;
        running = IDLE;
        continue;
      }
      if (e.container === KSOFTIRQD) {
        const used = this.softirqSlice(c, now + t, until - t, Infinity, scale, false, true);
        running = KSOFTIRQD_RUNNING;
        sched.account(e, used);
        t += used;
        if (!this.hasSoftirqWork(c)) {
          this.ksoftirqdPending[c] = 0;
          this.napiScheduled[c] = 0;
          running = IDLE;
        }
        if (used <= 0) this.ksoftirqdPending[c] = 0;
        continue;
      }
      const i = e.container;
      const g = this.groups[i];
      const avail = g.available(c);
      const maxNs = Math.min(until - t, avail);
      let used: number;
      const tr = this.traffic[i];
      if (tr === null) {
        used = maxNs;
        this.sysbenchEvents[i] += used * this.eventsPerNs[i];
      } else {
        used = tr.appRun(maxNs, scale, this.messageBytes);
      }
      if (used < maxNs - 1e-6 || used <= 1e-6) this.stalled[i] = 1;
      running = used >= maxNs - 1e-6 ? i : IDLE;
      if (used > 0) {
        g.charge(c, used, now + t);
        sched.account(e, used);
        cat[base + (i === 0 ? CAT_VICTIM : CAT_NEIGHBOURS)] += used;
        t += used;
      }
    }
  }

  /**
   * Run softirq on core `c` for at most `budgetNs` (a fixed `fixedNs` for the hard interrupt itself), account
   * it to its vector and category, and let the policy charge it. Returns the time used.
   */
  private softirqSlice(c: number, now: number, budgetNs: number, budgetPackets: number, scale: number, hardIrq: boolean, inKsoftirqd = false): number {
    const owners = this.ownerNs;
    owners.fill(0);
    let used = 0;
    let packets = 0;
    const list = this.coreTraffic[c];
    if (hardIrq) {
      used = budgetNs;
      owners[list[0].owner] += used;
      this.softirqVecNs[c * 2] += used;
    } else {
      const n = list.length;
      for (let k = 0; k < n && used < budgetNs - 1e-9 && packets < budgetPackets; k++) {
        const t = list[(k + this.rotate) % n];
        t.softirq(c, budgetNs - used, budgetPackets - packets, scale, this.use);
        const ns = this.use.rxNs + this.use.txNs;
        used += ns;
        packets += this.use.packets;
        owners[t.owner] += ns;
        this.softirqVecNs[c * 2] += this.use.rxNs;
        this.softirqVecNs[c * 2 + 1] += this.use.txNs;
      }
      this.episodePackets[c] += packets;
    }
    if (used <= 0) return 0;
    this.coreCatNs[c * N_CATS + (inKsoftirqd ? CAT_KSOFTIRQD : CAT_SOFTIRQ_TASK)] += used;
    const ctx = inKsoftirqd ? IDLE : this.episodeCtx[c];
    this.policy.onSoftirq(c, ctx, used, owners, now);
    // The interrupted task's clock runs on: its vruntime pays too (vanilla CFS cannot tell).
    if (ctx >= 0) this.scheds[c].accountContainer(ctx, used);
    return used;
  }

  /** When __do_softirq started at `startNs` on core `c` stops restarting: the jiffy deadline (a tick instant). */
  private softirqDeadline(c: number, startNs: number): number {
    const T = this.tickNs;
    const phase = this.tickPhaseNs[c];
    const firstTick = phase + (Math.floor((startNs - phase) / T + 1e-9) + 1) * T;
    return firstTick + (this.softirqJiffies - 1) * T;
  }

  private hasSoftirqWork(c: number): boolean {
    const list = this.coreTraffic[c];
    for (let k = 0; k < list.length; k++) if (list[k].hasSoftirqWork(c)) return true;
    return false;
  }

  private isRunnable(c: number, e: SchedEntity): boolean {
    if (e.container === KSOFTIRQD) return this.ksoftirqdPending[c] === 1;
    const i = e.container;
    if (this.stalled[i]) return false;
    if (this.groups[i].available(c) <= 1e-6) return false;
    const tr = this.traffic[i];
    return tr === null || tr.appRunnable();
  }

  private closeBucket(): void {
    const cores: number[][] = [];
    for (let c = 0; c < this.cores; c++) {
      const row: number[] = [];
      for (let k = 0; k < N_CATS; k++) {
        const idx = c * N_CATS + k;
        row.push((this.coreCatNs[idx] - this.lastBucketCat[idx]) / 1e9);
      }
      cores.push(row);
    }
    this.timeline.push({ tS: (this.nextBucketNs - this.timelineBucketNs) / 1e9, cores });
    this.lastBucketCat = Float64Array.from(this.coreCatNs);
    this.nextBucketNs += this.timelineBucketNs;
  }

  /** Counters now; the measurement window is the difference of two snapshots. */
  snapshot(): KernelSnapshot {
    const containers: ContainerSnapshot[] = [];
    for (let i = 0; i < this.nContainers; i++) {
      const g = this.groups[i];
      g.settle(this.nowNs);
      const t = this.traffic[i];
      containers.push({
        sysbenchEvents: this.sysbenchEvents[i],
        usageNs: g.usageNs,
        nrPeriods: g.nrPeriods,
        nrThrottled: g.nrThrottled,
        throttledNs: g.throttledTimeNs,
        attributedNs: this.policy.attributedNs[i],
        chargedNs: this.policy.chargedNs[i],
        creditedNs: this.policy.creditedNs[i],
        offered: t?.offered ?? 0,
        delivered: t?.delivered ?? 0,
        goodputBytes: t?.goodputBytes ?? 0,
        retransmits: t?.retransmits ?? 0,
        dropped: t ? Array.from(t.dropped) : [0, 0, 0, 0, 0],
      });
    }
    return { nowNs: this.nowNs, coreCatNs: Float64Array.from(this.coreCatNs), softirqVecNs: Float64Array.from(this.softirqVecNs), containers };
  }

  /** Packet conservation per network neighbour: offered = delivered + dropped + queued. */
  conservation(): { container: number; offered: number; delivered: number; dropped: number; queued: number }[] {
    return this.allTraffic.map((t) => ({ container: t.owner, offered: t.offered, delivered: t.delivered, dropped: t.totalDropped(), queued: t.queued() }));
  }
}
