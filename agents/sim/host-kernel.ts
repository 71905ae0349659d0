// The simulated host kernel: cores, cgroups with CFS bandwidth control, a fair share of each core among its
// runnable entities (with Docker's cgroup hierarchy and a ksoftirqd per core), the NIC (interrupt moderation,
// NAPI budgets, the jiffy deadline of __do_softirq), the network neighbours' traffic and the accounting policy.
//
// The engine is event-driven and fluid: between two events every rate is constant (packets move as fluids,
// each core is shared among softirq, tasks and idle in fixed fractions), so nothing is done between events and
// no result depends on a step. Events: the end of a softirq episode (NAPI budget, work done, jiffy deadline),
// a scheduler tick on a core whose NAPI is in polling mode, a CFS period refill, a cgroup running out of
// runtime, a ring or socket becoming empty or full, a TCP window change (loss, window closing), an eBPF
// controller write, a redraw of the burst jitter, a timeline bucket. Nothing here is fitted per scenario: the
// victim's loss comes from softirq running on its time (and charged to its quota) and from ksoftirqd
// competing for its core.
import type { RunSpec } from '../run-spec.ts';
import { defaultMessageBytes, floodRateGbps, isNetworkWorkload } from '../../workloads/catalog.ts';
import { AccountingPolicy, EbpfAccounting, IronAccounting, VanillaAccounting } from './accounting.ts';
import { enforcementMode } from '../enforcement/modes.ts';
import { CfsBandwidth } from './cfs-bandwidth.ts';
import type { HostProfile } from './profile.ts';
import { createRng, type Rng } from './rng.ts';
import { Traffic } from './traffic.ts';

// Per-core time categories, in the order of CORE_CATEGORIES in agents/samples.ts. The engine uses the module's own
// names: V8 reads an exported binding through a cell, with a hole check, at each use; a module const is an immediate.
const VICTIM = 0,
  NEIGHBOURS = 1,
  SOFTIRQ_TASK = 2,
  KSOFTIRQD = 3,
  IDLE_TIME = 4,
  CATS = 6;
export const CAT_VICTIM = VICTIM,
  CAT_NEIGHBOURS = NEIGHBOURS,
  CAT_SOFTIRQ_TASK = SOFTIRQ_TASK,
  CAT_KSOFTIRQD = KSOFTIRQD,
  CAT_IDLE = IDLE_TIME,
  CAT_OTHER = 5;
export const N_CATS = CATS;
const IDLE = -1;
const NONE = -2;
const RING_EPS = 1e-6;

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

export interface KernelOptions {
  /** Per-core timeline buckets (ms) for `ironlab sim --timeline`. */
  timelineBucketMs?: number;
  /** Override the profile's simMaxAdvanceUs (the longest fluid interval while a TCP peer ramps). */
  maxAdvanceUs?: number;
  /** Force an extra event every this many us, like a fixed step would (convergence checks only). */
  eventGridUs?: number;
}

/**
 * One core's state as the fields of one object. In V8's optimised code a double field is two loads once the object's
 * map is checked, where an element of a per-core typed array costs ~9 instructions at every access (map, length and
 * bounds checks, base pointers), and the per-event functions read a few dozen of them per core. Each function takes a
 * core's object once (`const cs = this.core[c]`).
 */
class CoreState {
  readonly here: ContainerState[] = []; // containers homed on this core
  readonly recv: Traffic[] = []; // receivers whose NIC queue interrupts this core
  readonly traffic: Traffic[] = []; // traffic creating softirq work on this core
  /** Anything lives on this core (else it is idle for the whole run). */
  active = false;
  // NAPI / softirq state
  poll = 0; // 1: NAPI scheduled with the interrupt masked, ksoftirqd is runnable
  epCtx = NONE; // a softirq episode holds the core in this context (NONE: no episode)
  epEndNs = 0;
  epPkLeft = 0;
  // Allocation of the current interval
  sigma = 0; // softirq fraction in task/idle context (interrupt mode or episode)
  kShare = 0; // ksoftirqd
  kDefer = 0; // interrupt mode: fraction of the softirq work left to ksoftirqd
  capTask = 1;
  idleShare = 0;
  prevIdle = 0; // idleShare as the last solve left it (finishRates sets both)
  dFixed = 0; // softirq demand of senders (ns/ns)
  txFrac = 0; // NET_TX part of softirq
  coreBh = 0; // softirq run at local_bh_enable by its tasks (finishRates)
  bhSet = false; // the last allocateCore set its containers' bh (else they are all 0)
  dockerRunnable = 0; // 1: a container here has a runnable task
  // The jiffy deadline in interrupt mode as a clock: per tick, the chance that it lands inside a round that has a
  // successor is sigma x nonFinalFraction; the ticks that do are drawn as a Poisson process of that rate (one event
  // per switch, not one per tick).
  jiffyRate = 0; // per ns
  jiffyClock = 0; // hazard left until the next switch (unit exponential)
  /**
   * ksoftirqd as a normal CFS task at the top of the core's run queue, beside the docker group entity. kvLeadNs:
   * ksoftirqd's vruntime minus the docker group's (signed; an episode on a docker task advances the group's,
   * ksoftirqd's sleep lets the group's run ahead, at most sched_latency/2: place_entity). While NAPI polls (ksoftirqd
   * CPU-bound) the two take turns: kTurn = 1 while ksoftirqd holds the core; a turn ends at a tick
   * (check_preempt_tick) and a woken ksoftirqd preempts at once only when it is more than the wakeup granularity
   * behind (check_preempt_wakeup).
   */
  kvLeadNs = 0;
  kTurn = 0;
  turnStartNs = 0;
  kvLeadRate = 0; // d(kvLead)/dt in this interval
  /** Packets one net_rx_action round polls, and one __do_softirq call at most (fixed by the set-up). */
  roundPk = 0;
  callPk = 0;
  tickPhaseNs = 0;
  nextTickNs = 0;
  // Time per category (CORE_CATEGORIES; "other" is never accrued) and softirq time per vector, as fields for the same
  // reason: advance adds to them at every event (coreCatNow lays them out as the snapshot's arrays).
  victimNs = 0;
  neighboursNs = 0;
  softirqTaskNs = 0;
  ksoftirqdNs = 0;
  idleNs = 0;
  netRxNs = 0;
  netTxNs = 0;
  // Secant iteration on the interrupt-mode softirq fraction (solveSecant)
  sigIn = 0;
  secS = 0;
  secR = 0;
  secHave = 0;
}

/**
 * One container's allocation and CFS state, as fields for the same reason as CoreState. The ksoftirqd entity of a
 * flat hierarchy's waterfill is one too (demand and share only).
 */
class ContainerState {
  share = 0; // fraction of its home core its task uses
  prevShare = 0; // share as the last solve left it (finishRates sets both)
  demand = 0;
  bh = 0; // softirq run at local_bh_enable in its own syscalls
  /**
   * CFS vruntime memory: how far its vruntime is ahead of its siblings' in the docker group (it ran a softirq
   * episode on its time). A lagging entity waits until the others have caught up (it repays the episode).
   */
  lagNs = 0;
  lagRate = 0; // how fast its lag is being repaid (ns/ns)
  chargeRate = 0; // runtime drawn per ns on its home core
  sysbenchEvents = 0;
  eventsPerNs = 0;
  constructor(
    readonly id: number,
    readonly traffic: Traffic | null,
    readonly group: CfsBandwidth,
    readonly home: number, // its task's core
  ) {}
}

/** The softirq work neighbour `t` creates on core `c` (ns/ns): NET_RX on its NIC core, NET_TX on its app core. */
function ownerWeight(t: Traffic, c: number): number {
  let w = 0;
  if (t.nicCore === c) w += t.sqNic;
  if (t.appCore === c) w += t.sqApp;
  return w;
}

/** ksoftirqd is runnable on a core: NAPI polls, or it runs calls deferred in interrupt mode. */
function ksoftirqdRunnable(cs: CoreState): boolean {
  return cs.poll === 1 || cs.kShare > 0;
}

export class HostKernel {
  readonly cores: number = 0;
  nowNs = 0;
  readonly nContainers: number = 0;
  readonly groups: CfsBandwidth[] = [];
  readonly homeCpu: number[] = [];
  readonly traffic: (Traffic | null)[] = [];
  readonly policy: AccountingPolicy;
  /** Events handled so far (for the speed benchmark and the convergence report). */
  events = 0;
  /** How often NAPI went from interrupt mode to polling (ksoftirqd woken), by the rule that did it. */
  readonly pollEntries = { overload: 0, jiffy: 0 };
  /** Per container: softirq episode time (ns) that ran in its context with the core held (ticks, overload). */
  readonly episodeNs: Float64Array;
  private readonly ct: ContainerState[] = []; // per container
  private readonly ksSlot: ContainerState; // ksoftirqd's demand and share in a flat hierarchy's waterfill
  private readonly allTraffic: Traffic[] = [];
  private readonly core: CoreState[] = [];
  private readonly rng: Rng;
  private readonly tickNs: number = 0;
  private readonly softirqJiffies: number = 0;
  /** CFS at the top of a core's run queue (two entities, ksoftirqd and the docker group): sched_slice = latency / 2. */
  private readonly topSliceNs: number = 0;
  private readonly minGranNs: number = 0;
  private readonly wakeupGranNs: number = 0;
  private readonly moderationNs: number = 0;
  private readonly maxAdvanceNs: number = 0;
  private readonly gridNs: number = 0;
  private readonly jitterIntervalNs: number = 0;
  private nextJitterNs = 0;
  private nextRefillNs = -Infinity; // the groups' earliest period refill (handleEvents keeps it)
  /** How often each core switched its top-level turn (ksoftirqd <-> docker group), and woken-ksoftirqd preemptions. */
  readonly turnSwitches = { tick: 0, wakeup: 0 };
  /** Tick episodes while NAPI polls (before 4.9): one round (need_resched set by the tick) or up to the limits. */
  readonly tickEpisodes = { oneRound: 0, full: 0 };
  private readonly maxLagNs: number = 0;
  private readonly ownerFrac: Float64Array; // cores x containers: who owns the softirq work on each core
  private anyRamp = false;
  private linkSending = -1; // receivers whose peers were sending at the last shareLink
  /** Every network neighbour is a receiver (fixed by the set-up; demandIgnoresShares asks at every pass). */
  private readonly onlyReceivers: boolean = false;
  private readonly activeCores: number[] = [];
  private readonly idleCores: number[] = []; // the others: they only idle
  private readonly aheadIds: ContainerState[] = [];
  private readonly behindIds: ContainerState[] = [];
  /**
   * Set once: the policy's IRON switch and the profile's switches read at every event. Boolean fields (here and in
   * Traffic) are tested as `=== true` on the per-event paths: one compare instead of V8's generic truth test.
   */
  private readonly ironSwitch: boolean = false;
  private readonly irqTimeAccounting: boolean = false;
  private readonly deferWhilePending: boolean = false;
  private readonly hardIrqNs: number = 0;
  private readonly payNoContext: boolean = true; // policy.chargesNoContext
  private solvedAtNs = -1;
  private pendingDt = 0;
  private stepNs = 0;
  private readonly messageBytes: number = 0;
  // Timeline
  private readonly timelineBucketNs: number = 0;
  private nextBucketNs = 0;
  private lastBucketCat: Float64Array;
  readonly timeline: TimelineBucket[] = [];

  constructor(
    readonly spec: RunSpec,
    readonly prof: HostProfile,
    opts: KernelOptions = {},
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

    // Cgroups: victim = 0, neighbours 1..K. Each has one task pinned to one core of its cpuset. The period
    // timers start at random phases, as they do when containers start at slightly different moments.
    const slice = prof.cfsSliceUs * 1000;
    for (let i = 0; i < this.nContainers; i++) {
      const shape = i === 0 ? spec.victim : spec.neighbour;
      const period = shape.periodUs * 1000;
      this.groups.push(new CfsBandwidth(shape.quotaUs * 1000, period, slice, this.cores, Math.floor(this.rng.next() * period) + 1));
      this.homeCpu.push(shape.cpus[(i === 0 ? 0 : i - 1) % shape.cpus.length]);
    }
    const eventsPerNs: number[] = [];
    for (let i = 0; i < this.nContainers; i++) {
      eventsPerNs.push((prof.sysbenchEventsPerCpuSecond / 1e9) * (1 + prof.cpuSpeedJitterFraction * this.rng.centered()));
    }

    this.policy = this.makePolicy();
    this.ironSwitch = this.policy.kernelSwitch;
    this.payNoContext = this.policy.chargesNoContext;
    this.irqTimeAccounting = prof.irqTimeAccounting;
    this.deferWhilePending = prof.softirqDeferToKsoftirqdWhilePending;
    this.hardIrqNs = prof.hardIrqNsPerInterrupt;
    for (let c = 0; c < this.cores; c++) {
      this.core.push(new CoreState());
    }
    this.traffic.push(null);
    // A scenario's rateGbps is the total offered rate: the K network neighbours share it equally.
    const perNeighbourGbps = floodRateGbps(spec.params, K);
    for (let i = 1; i < this.nContainers; i++) {
      if (!network) {
        this.traffic.push(null);
        continue;
      }
      const home = this.homeCpu[i];
      const nicCore = spec.nicCpus.includes(home) ? home : spec.nicCpus[(i - 1) % spec.nicCpus.length];
      const t = new Traffic(
        {
          kind: spec.workload,
          owner: i,
          appCore: home,
          nicCore,
          rateGbps: perNeighbourGbps,
          flows: spec.params.flows ?? 1,
          messageBytes: this.messageBytes,
        },
        prof,
        this.policy,
      );
      this.traffic.push(t);
      this.allTraffic.push(t);
      if (t.isReceiver) this.core[nicCore].recv.push(t);
      this.core[nicCore].traffic.push(t);
      if (home !== nicCore) this.core[home].traffic.push(t);
    }
    for (let i = 0; i < this.nContainers; i++) {
      const ct = new ContainerState(i, this.traffic[i], this.groups[i], this.homeCpu[i]);
      ct.eventsPerNs = eventsPerNs[i];
      this.ct.push(ct);
      this.core[this.homeCpu[i]].here.push(ct);
    }
    // ksoftirqd runs in the root cgroup, without a quota (this group is never charged).
    this.ksSlot = new ContainerState(this.nContainers, null, new CfsBandwidth(Infinity, slice, slice, this.cores, 1), -1);
    // The link: receivers share the receive direction, senders the transmit direction.
    const nRecv = this.allTraffic.filter((t) => t.isReceiver).length;
    const nSend = this.allTraffic.length - nRecv;
    this.onlyReceivers = nSend === 0;
    for (const t of this.allTraffic) t.linePpns /= t.isReceiver ? nRecv : nSend; // receivers: re-shared per interval (updateTraffic)

    for (let c = 0; c < this.cores; c++) {
      const cs = this.core[c];
      cs.roundPk = Math.min(prof.netdevBudgetPackets, prof.napiWeightPackets * Math.max(1, this.rxNapis(c)));
      cs.callPk = prof.softirqMaxRestarts * cs.roundPk;
      cs.active = cs.here.length > 0 || cs.traffic.length > 0;
      // A core with nothing on it is idle for the whole run: its rates never change, so the per-event loops skip it.
      (cs.active ? this.activeCores : this.idleCores).push(c);
    }
    for (let c = 0; c < this.cores; c++) this.core[c].jiffyClock = -Math.log(1 - this.rng.next());
    this.episodeNs = new Float64Array(this.nContainers);
    for (const cs of this.core) if (!cs.active) cs.idleShare = cs.prevIdle = 1; // finishRates skips it
    this.ownerFrac = new Float64Array(this.cores * this.nContainers);
    // The scheduler tick of each core, at a random phase.
    this.tickNs = 1e9 / prof.timerTickHz;
    for (const cs of this.core) cs.nextTickNs = cs.tickPhaseNs = this.rng.next() * this.tickNs;
    // MAX_SOFTIRQ_TIME = msecs_to_jiffies(2): __do_softirq restarts only while jiffies < start + that many jiffies.
    this.softirqJiffies = Math.max(1, Math.ceil((prof.softirqMaxTimeUs * 1000) / this.tickNs - 1e-9));
    this.moderationNs = prof.irqModerationUs * 1000;
    // sched_latency, min_granularity and wakeup_granularity are scaled by 1 + ilog2(min(cpus, 8))
    // (get_update_sysctl_factor, sysctl_sched_tunable_scaling = log, the default). With two entities at the top
    // (ksoftirqd and the docker group) sched_slice gives each latency / 2 per turn, and a turn only ends at a
    // tick (check_preempt_tick).
    const factor = 1 + Math.floor(Math.log2(Math.min(this.cores, 8)));
    const scaledLatencyNs = prof.schedLatencyUs * 1000 * factor;
    this.topSliceNs = scaledLatencyNs / 2;
    this.minGranNs = prof.schedMinGranularityUs * 1000 * factor;
    this.wakeupGranNs = prof.schedWakeupGranularityUs * 1000 * factor;
    // place_entity (GENTLE_FAIR_SLEEPERS): a waking entity is put at most sched_latency / 2 behind min_vruntime,
    // so no entity is ever owed more than that.
    this.maxLagNs = scaledLatencyNs / 2;
    this.maxAdvanceNs = (opts.maxAdvanceUs ?? prof.simMaxAdvanceUs) * 1000;
    this.gridNs = (opts.eventGridUs ?? 0) * 1000;
    this.jitterIntervalNs = prof.arrivalJitterIntervalUs * 1000;
    this.nextJitterNs = network ? 0 : Infinity;
    this.timelineBucketNs = (opts.timelineBucketMs ?? 0) * 1e6;
    this.nextBucketNs = this.timelineBucketNs > 0 ? this.timelineBucketNs : Infinity;
    this.lastBucketCat = new Float64Array(this.cores * N_CATS);
    this.handleEvents();
  }

  /** The policy the mode's strategy composes (enforcement/modes.ts): the kernel switch, or the charging controller, or neither. */
  private makePolicy(): AccountingPolicy {
    const p = this.prof;
    const s = enforcementMode(this.spec.enforcement);
    if (s.kernelSwitch) return new IronAccounting(this.groups, this.homeCpu, p.ironAccountingNsPerPacket);
    if (s.charging)
      return new EbpfAccounting(
        this.groups,
        this.homeCpu,
        p.ebpfAccountingNsPerPacket,
        this.groups.map((g) => g.quotaNs),
        Math.max(p.ebpfControllerIntervalUs * 1000, this.groups[0].periodNs),
        p.ebpfMinQuotaUs * 1000,
        Math.floor(this.rng.next() * p.ebpfPollDelayUs * 1000) + 1,
        s.dropping === 'ebpf',
      );
    return new VanillaAccounting(this.groups, this.homeCpu);
  }

  /** Advance simulated time by exactly `ns`, event by event (the end is an event: a snapshot is taken there). */
  run(ns: number): void {
    const end = this.nowNs + ns;
    this.runTo(end, end);
  }

  /**
   * Advance event by event until simulated time reaches `targetNs`, stopping at the first event at or after it
   * but never beyond `hardEndNs` (where it stops exactly). Only real events (and hard ends) cut intervals, so
   * where a caller pauses (the backend's wall-clock chunks) does not change any result.
   */
  runTo(targetNs: number, hardEndNs: number): void {
    while (this.nowNs < targetNs - 1e-6 && this.nowNs < hardEndNs - 1e-6) {
      if (this.solvedAtNs !== this.nowNs) {
        this.solve();
        this.nextEventDt();
        this.solvedAtNs = this.nowNs;
      }
      let dt = this.pendingDt;
      if (!(dt > 0.5)) dt = 0.5; // floating-point guard: never stall
      if (this.nowNs + dt > hardEndNs) dt = hardEndNs - this.nowNs;
      this.stepNs = dt;
      this.advance();
      this.nowNs += dt;
      this.handleEvents();
      this.events++;
    }
  }

  // ---- Rates between events -------------------------------------------------------------------------

  /** Compute every rate for the next interval, switching NAPI modes where the load says so. */
  private solve(): void {
    // prevShare / prevIdle hold the last interval's shares (finishRates set them with share / idleShare): an overload
    // episode lands on what ran then.
    for (let pass = 0; pass < 4; pass++) {
      if (this.demandIgnoresShares()) this.solveDirect();
      else this.solveSecant();
      if (!this.transitions()) break;
    }
    this.finishRates();
  }

  /**
   * The rates when the softirq demand does not depend on the shares (demandIgnoresShares): the receive sides,
   * then each core's softirq fraction, the allocation at that fraction, and what the readers take.
   */
  private solveDirect(): void {
    const all = this.allTraffic;
    this.shareLink();
    for (let k = 0; k < all.length; k++) {
      all[k].inRingSvcNs = Infinity;
      all[k].updateReceiveSide();
    }
    const active = this.activeCores;
    for (let a = 0; a < active.length; a++) {
      const c = active[a];
      this.core[c].sigIn = Math.min(1, this.sigmaDemand(c));
      this.allocateCore(c);
    }
    const cts = this.ct;
    for (let k = 0; k < all.length; k++) {
      const t = all[k];
      const ct = cts[t.owner];
      t.inAppShare = ct.share - ct.bh;
      t.updateReaderSide();
    }
  }

  /**
   * Fixed point on each core's interrupt-mode softirq fraction: it sets the tasks' shares, which set what the
   * senders send and the rings' service while NAPI polls, and so the softirq fraction. Secant iteration.
   */
  private solveSecant(): void {
    for (let a = 0; a < this.activeCores.length; a++) {
      const c = this.activeCores[a];
      const cs = this.core[c];
      cs.sigIn = Math.min(1, this.sigmaDemand(c));
      cs.secHave = 0;
    }
    for (let it = 0; it < 16; it++) {
      for (let a = 0; a < this.activeCores.length; a++) this.allocateCore(this.activeCores[a]);
      this.updateTraffic();
      let done = true;
      for (let a = 0; a < this.activeCores.length; a++) {
        const c = this.activeCores[a];
        const cs = this.core[c];
        if (cs.poll !== 0 || cs.epCtx !== NONE) continue;
        const out = Math.min(1, this.sigmaDemand(c));
        const sIn = cs.sigIn;
        const r = out - sIn;
        if (Math.abs(r) <= 1e-10) continue;
        done = false;
        let next = out;
        if (cs.secHave !== 0 && Math.abs(r - cs.secR) > 1e-15) next = sIn - (r * (sIn - cs.secS)) / (r - cs.secR);
        cs.secS = sIn;
        cs.secR = r;
        cs.secHave = 1;
        cs.sigIn = next < 0 ? 0 : next > 1 ? 1 : next;
      }
      if (done) break;
    }
  }

  /**
   * Whether no softirq demand depends on the tasks' shares: every neighbour is a receiver and every core is in
   * interrupt mode (rings served as packets come). Then a receiver's ring, GRO and stack rates, hence sigmaDemand,
   * do not depend on the allocation; only what its reader takes from the socket does.
   */
  private demandIgnoresShares(): boolean {
    if (this.onlyReceivers !== true) return false;
    for (let a = 0; a < this.activeCores.length; a++) {
      const cs = this.core[this.activeCores[a]];
      if (cs.poll !== 0 || cs.epCtx !== NONE) return false;
    }
    return true;
  }

  /** Softirq work the traffic now asks of core `c` (ns/ns) in interrupt mode, hard interrupts included. */
  private sigmaDemand(c: number): number {
    const cs = this.core[c];
    const list = cs.traffic;
    let d = 0;
    let r = 0;
    let pk = 0;
    for (let k = 0; k < list.length; k++) {
      const t = list[k];
      if (t.nicCore === c) {
        if (t.isReceiver === true) r += t.sqNic;
        else d += t.sqNic;
        pk += t.sqPackets;
      }
      if (t.appCore === c) d += t.sqApp;
    }
    cs.dFixed = d;
    // One interrupt per moderation interval (or per packet at low rates).
    const hard = pk > 0 ? this.hardIrqNs * Math.min(1 / this.moderationNs, pk) : 0;
    return d + r + hard;
  }

  /** Split core `c` among softirq (interrupt mode or an episode), ksoftirqd, the tasks and idle, at interrupt-mode softirq sigIn[c]. */
  private allocateCore(c: number): void {
    const prof = this.prof;
    const cs = this.core[c];
    const sigmaIn = cs.sigIn;
    let cap: number;
    let ksoftirqdRunnable = false;
    let kDemand = 0; // ksoftirqd's demand when it is not CPU-bound (deferred calls in interrupt mode)
    cs.kDefer = 0;
    if (cs.epCtx !== NONE) {
      cap = 0;
      cs.sigma = 1;
    } else if (cs.poll !== 0) {
      cap = 1;
      cs.sigma = 0;
      ksoftirqdRunnable = true;
    } else {
      // Interrupt mode: each interrupt is followed by __do_softirq at irq exit on whatever runs; as a fluid
      // that is a fixed fraction of the core, ahead of every task. A call that wakes a blocked reader on this
      // core stops after its first round (need_resched) and leaves the rest to ksoftirqd.
      const f = this.deferFraction(c, sigmaIn);
      cs.kDefer = f;
      const sigma = sigmaIn * (1 - f);
      cs.sigma = sigma;
      kDemand = sigmaIn * f;
      cap = 1 - sigma;
    }
    cs.capTask = cap;
    // Before 4.9 every local_bh_enable() with NET_RX pending runs do_softirq in the caller's context: a network
    // application on the NIC core (socket locks in each send/recv call) runs the pending softirq too.
    const bhSoftirq = ksoftirqdRunnable && this.deferWhilePending !== true;
    // Fair share: ksoftirqd (root cgroup) and the docker group entity at the top, containers inside the group
    // (or everybody at the top with a flat hierarchy). Equal weights (nice 0 = cpu.shares 1024) everywhere.
    const here = cs.here;
    let dockerDemand = 0;
    for (let k = 0; k < here.length; k++) {
      const ct = here[k];
      let dem: number;
      const t = ct.traffic;
      if (ct.group.available(c) <= 0)
        dem = 0; // throttled, or its runtime spent
      else if (t === null) dem = Infinity;
      else if (bhSoftirq && t.nicCore === c)
        dem = Infinity; // woken by deliveries, busy in do_softirq
      else dem = t.appDemand();
      ct.demand = dem;
      dockerDemand += dem;
    }
    cs.dockerRunnable = dockerDemand > 0 ? 1 : 0;
    let k = 0;
    if (ksoftirqdRunnable) kDemand = Infinity;
    if (prof.containersUnderDockerCgroup === true) {
      // Two CFS entities at the top: ksoftirqd and the docker group.
      let dockerShare: number;
      if (ksoftirqdRunnable) {
        // NAPI polls, ksoftirqd is CPU-bound: turns. The docker group, when it holds the turn, leaves the core to
        // ksoftirqd only while none of its tasks is runnable.
        dockerShare = cs.kTurn !== 0 ? 0 : Math.min(dockerDemand, cap);
        k = cap - dockerShare;
      } else if (kDemand > 0 && cs.kvLeadNs < 0) {
        // Calls deferred in interrupt mode: a ksoftirqd behind the group in vruntime (it slept: placed up to
        // sched_latency/2 behind) runs its short work at once.
        k = Math.min(kDemand, cap);
        dockerShare = Math.min(dockerDemand, cap - k);
      } else {
        k = Math.min(kDemand, Math.max(cap / 2, cap - dockerDemand));
        dockerShare = Math.min(dockerDemand, cap - k);
      }
      this.waterfillRepaying(here, dockerShare);
    } else if (kDemand > 0) {
      // ksoftirqd is one more equal entity beside the containers (never lagging: its runtime is not charged), and
      // a container that ran an episode on its time still repays it (its lagRate set here, not left from a pass
      // that took another branch).
      const ks = this.ksSlot;
      ks.demand = kDemand;
      here.push(ks);
      this.waterfillRepaying(here, cap);
      here.pop();
      k = ks.share;
    } else this.waterfillRepaying(here, cap);
    cs.kShare = k;
    // Zeroed only after a pass that set them (bhSet): they are 0 in most passes.
    if (!bhSoftirq) {
      if (cs.bhSet === true) for (let j = 0; j < here.length; j++) here[j].bh = 0;
      cs.bhSet = false;
    } else {
      cs.bhSet = true;
      for (let j = 0; j < here.length; j++) {
        const ct = here[j];
        const t = ct.traffic;
        ct.bh = t !== null && t.nicCore === c ? ct.share * this.bhFraction(c, t) : 0;
      }
    }
  }

  /**
   * Fraction of a network application's time spent in do_softirq at local_bh_enable while NAPI polls with a
   * backlog: each call runs __do_softirq until its limits (restarts x budget, or the jiffy deadline, on
   * average half a tick away) against the application's own work per system call.
   */
  private bhFraction(c: number, t: Traffic): number {
    const recv = this.core[c].recv;
    let cost = 0;
    for (let k = 0; k < recv.length; k++) cost = Math.max(cost, recv[k].ringCostNs);
    const episode = Math.min(this.callPacketLimit(c) * cost, this.tickNs / 2);
    const own = t.syscallNs(this.messageBytes);
    return episode / (episode + own);
  }

  /**
   * CFS with vruntime memory: containers whose vruntime is ahead (lagNs > 0, they ran a softirq episode on
   * their time) get only what the others leave until the others have caught up; lagRate says how fast.
   */
  private waterfillRepaying(list: ContainerState[], cap: number): void {
    let lagging = 0;
    for (let j = 0; j < list.length; j++) {
      const ct = list[j];
      ct.lagRate = 0;
      if (ct.lagNs > 0) lagging++;
    }
    if (lagging === 0 || lagging === list.length) this.waterfill(list, cap);
    else this.waterfillLagging(list, cap);
  }

  /**
   * waterfillRepaying when some containers lag and others do not (rare): the others first, then the laggers. A
   * function of its own so that the common path stays small enough for V8 to inline into allocateCore.
   */
  private waterfillLagging(list: ContainerState[], cap: number): void {
    // Scratch lists (no allocation per call: this runs in every secant iteration).
    const ahead = this.aheadIds;
    const behind = this.behindIds;
    ahead.length = 0;
    behind.length = 0;
    for (let j = 0; j < list.length; j++) (list[j].lagNs > 0 ? ahead : behind).push(list[j]);
    this.waterfill(behind, cap);
    let used = 0;
    let catchUp = 0;
    let running = 0;
    for (let j = 0; j < behind.length; j++) {
      used += behind[j].share;
      if (behind[j].demand > 0) {
        catchUp += behind[j].share;
        running++;
      }
    }
    this.waterfill(ahead, Math.max(0, cap - used));
    // The gap closes as fast as the others' vruntime advances beyond this one's; with nobody else runnable it
    // stays (a sleeper is re-placed at most maxLagNs behind when it wakes).
    const others = running > 0 ? catchUp / running : 0;
    for (let j = 0; j < ahead.length; j++) ahead[j].lagRate = Math.max(0, others - ahead[j].share);
  }

  /** NAPI instances polled on core `c`: one RX queue per NIC core (all receivers' packets share it). */
  private rxNapis(c: number): number {
    return this.core[c].recv.length > 0 ? 1 : 0;
  }

  /**
   * Packets one net_rx_action round polls on core `c`: each NAPI is polled once per round (at most
   * napi_weight = 64), and netdev_budget bounds the round only with 5+ active NAPIs.
   */
  roundPackets(c: number): number {
    return this.core[c].roundPk;
  }

  /** The most packets one __do_softirq call polls: MAX_SOFTIRQ_RESTART rounds. */
  callPacketLimit(c: number): number {
    return this.core[c].callPk;
  }

  /** Packets one interrupt finds on core `c` in interrupt mode (one per moderation interval, or per packet). */
  packetsPerInterrupt(c: number): number {
    const recv = this.core[c].recv;
    let inflow = 0;
    for (let k = 0; k < recv.length; k++) inflow += recv[k].burstPpns();
    return Math.max(inflow > 0 ? 1 : 0, inflow * this.moderationNs);
  }

  /**
   * Fraction of an interrupt-mode call's receive work done in rounds that are followed by another one (the
   * first poll was full, NAPI stays on the poll list): the part a stop after that round leaves to ksoftirqd.
   */
  nonFinalFraction(c: number): number {
    const ppp = Math.min(this.packetsPerInterrupt(c), this.callPacketLimit(c));
    const R = this.roundPackets(c);
    if (ppp <= R) return 0;
    return (R * Math.ceil(ppp / R - 1)) / ppp;
  }

  /** A blocked reader on core `c` is woken by this core's receive softirq (so it sets need_resched). */
  private wakesBlockedReader(c: number): boolean {
    // Before 4.9 a reader on a polling NIC core is kept busy in do_softirq at local_bh_enable, not asleep.
    const cs = this.core[c];
    if (cs.poll !== 0 && this.deferWhilePending !== true) return false;
    const recv = cs.recv;
    for (let k = 0; k < recv.length; k++) {
      const t = recv[k];
      if (t.appCore === c && t.rIn > 0 && t.readerBlocked()) return true;
    }
    return false;
  }

  /**
   * need_resched: a call whose first round wakes a blocked reader that preempts (it slept, so it is placed
   * behind the running task) does not restart; its remaining rounds go to ksoftirqd. Returns the fraction of
   * the core's interrupt-mode softirq `sigmaIn` that ksoftirqd runs.
   */
  private deferFraction(c: number, sigmaIn: number): number {
    if (sigmaIn <= 0 || !this.wakesBlockedReader(c)) return 0;
    const ppp = this.packetsPerInterrupt(c);
    const R = this.roundPackets(c);
    if (ppp <= R) return 0;
    const recv = this.core[c].recv;
    let rx = 0;
    for (let k = 0; k < recv.length; k++) rx += recv[k].rIn * recv[k].ringCostNs;
    return Math.min(1, (((ppp - R) / ppp) * rx) / sigmaIn);
  }

  /** Max-min fair split of `cap` among the entities of `list` by their demands (equal weights). */
  private waterfill(list: ContainerState[], cap: number): void {
    const n = list.length;
    let open = 0;
    let bounded = false;
    for (let j = 0; j < n; j++) {
      const d = list[j].demand;
      if (d > 0) {
        open++;
        if (d !== Infinity) bounded = true;
      }
    }
    // Every runnable task CPU-bound (nearly every pass of the paper's receivers): equal parts, which is what the
    // first round of waterfillBounded's loop gives (0 + left / open each), without its checks.
    if (!bounded) {
      const each = open > 0 && cap > 1e-15 ? cap / open : 0;
      for (let j = 0; j < n; j++) list[j].share = list[j].demand > 0 ? each : 0;
    } else this.waterfillBounded(list, cap, open);
  }

  /** waterfill's max-min loop, for when some runnable task wants less than an equal part (`open`: the runnable ones). */
  private waterfillBounded(list: ContainerState[], cap: number, open: number): void {
    const n = list.length;
    for (let j = 0; j < n; j++) list[j].share = 0;
    let left = cap;
    while (open > 0 && left > 1e-15) {
      const each = left / open;
      let satisfied = false;
      for (let j = 0; j < n; j++) {
        const e = list[j];
        const want = e.demand - e.share;
        if (want <= 0) continue;
        if (want <= each) {
          e.share += want;
          left -= want;
          open--;
          satisfied = true;
        }
      }
      if (!satisfied) {
        for (let j = 0; j < n; j++) {
          const e = list[j];
          if (e.demand - e.share > 0) e.share += each;
        }
        left = 0;
      }
    }
  }

  /**
   * The switch port serialises the peers' frames: the receivers whose peers are sending (window not closed)
   * share the link equally; a peer alone on it (the other windows closed) bursts at the full line rate.
   */
  private shareLink(): void {
    const all = this.allTraffic;
    let sending = 0;
    for (let k = 0; k < all.length; k++) {
      const t = all[k];
      if (t.isReceiver !== true) continue;
      t.windowState();
      if (t.windowClosed !== true) sending++;
    }
    // The split changes only when the number of sending peers does (a window closing or reopening).
    if (sending === this.linkSending) return;
    this.linkSending = sending;
    for (let k = 0; k < all.length; k++) if (all[k].isReceiver === true) all[k].linePpns = all[k].linkPpns / Math.max(1, sending);
  }

  private updateTraffic(): void {
    const all = this.allTraffic;
    this.shareLink();
    for (let k = 0; k < all.length; k++) {
      const t = all[k];
      const n = t.nicCore;
      let svc = Infinity;
      if (t.isReceiver === true) {
        const ns = this.core[n];
        const nr = ns.recv.length;
        if (ns.epCtx !== NONE) svc = Math.max(0, 1 - ns.dFixed) / nr;
        else if (ns.poll !== 0) {
          let bh = 0;
          const here = ns.here;
          for (let j = 0; j < here.length; j++) bh += here[j].bh;
          svc = Math.max(0, ns.kShare + bh - ns.dFixed) / nr;
        }
      }
      const owner = this.ct[t.owner];
      t.inAppShare = owner.share - owner.bh;
      t.inRingSvcNs = svc;
      t.updateRates();
    }
  }

  /** NAPI mode changes, TCP loss reactions and finished episodes; returns true if anything changed. */
  private transitions(): boolean {
    let changed = false;
    // The engine's lists in locals: V8 reloads a field read through `this` at each iteration of a loop that calls out.
    const active = this.activeCores;
    const all = this.allTraffic;
    for (let a = 0; a < active.length; a++) {
      const c = active[a];
      const cs = this.core[c];
      const recv = cs.recv;
      if (recv.length === 0) continue;
      if (cs.epCtx === NONE && cs.poll === 0) {
        // Interrupt mode: only an overload changes the mode (the rings' state matters to the other two).
        if (cs.sigma < 1 - 1e-9) continue;
        let inflow = 0;
        for (let k = 0; k < recv.length; k++) inflow += recv[k].rIn;
        if (inflow > 0) {
          // More softirq work than the core can run at irq exit: the episode on the interrupted task runs into
          // its limits (10 restarts x netdev_budget, or the jiffy deadline), then ksoftirqd takes over and NAPI
          // stays scheduled with the interrupt masked.
          cs.poll = 1;
          this.pollEntries.overload++;
          this.ksoftirqdWakes(c);
          cs.nextTickNs = this.tickAfter(c, this.nowNs);
          this.startEpisode(c, this.episodeRounds(c, this.prof.softirqMaxRestarts) * this.roundPackets(c), this.softirqDeadline(c), true);
          changed = true;
        }
        continue;
      }
      let ringsEmpty = true;
      let inflow = 0;
      let served = 0;
      let irqDemand = cs.dFixed;
      for (let k = 0; k < recv.length; k++) {
        const t = recv[k];
        if (t.ring > RING_EPS) ringsEmpty = false;
        inflow += t.rIn;
        served += t.rServe;
        irqDemand += t.rIn * t.ringCostNs;
      }
      if (cs.epCtx !== NONE) {
        // The episode's polls emptied the ring: napi_complete, the interrupt is unmasked again.
        if (ringsEmpty && served >= inflow - 1e-12 && irqDemand < 1 - 1e-6) {
          cs.epCtx = NONE;
          cs.poll = 0;
          this.ksoftirqdSleeps(c);
          changed = true;
        }
      } else if (ringsEmpty && served >= inflow - 1e-12 && irqDemand < 1 - 1e-6) {
        cs.poll = 0; // ksoftirqd caught up: napi_complete
        this.ksoftirqdSleeps(c);
        changed = true;
      }
    }
    for (let k = 0; k < all.length; k++) {
      const t = all[k];
      if (t.isTcpReceiver !== true) continue;
      if ((t.rRingDrop > 0 || t.dropping === true) && t.onLoss(this.nowNs)) changed = true;
    }
    return changed;
  }

  /** Rounds an episode on core `c` may run: one if it wakes a blocked reader that preempts (need_resched). */
  private episodeRounds(c: number, rounds: number): number {
    return this.wakesBlockedReader(c) ? 1 : rounds;
  }

  /** Start a softirq episode on core `c` in the context of whatever runs there now (drawn by shares). */
  private startEpisode(c: number, packets: number, deadlineNs: number, usePrev: boolean): void {
    const cs = this.core[c];
    const here = cs.here;
    let total = usePrev ? cs.prevIdle : cs.idleShare;
    // Time already in softirq (ksoftirqd, an application inside do_softirq) takes no tick episode: softirqs
    // are being served there and irq_exit finds them disabled.
    let busy = usePrev ? 0 : cs.kShare;
    if (!usePrev) for (let j = 0; j < here.length; j++) busy += here[j].bh;
    for (let j = 0; j < here.length; j++) total += usePrev ? here[j].prevShare : here[j].share;
    total += busy;
    let ctx = IDLE;
    if (total > 0) {
      let x = this.rng.next() * total;
      if (x < busy) return;
      x -= busy;
      for (let j = 0; j < here.length; j++) {
        const s = usePrev ? here[j].prevShare : here[j].share;
        if (x < s) {
          ctx = here[j].id;
          break;
        }
        x -= s;
      }
    }
    cs.epCtx = ctx;
    cs.epEndNs = deadlineNs;
    cs.epPkLeft = packets;
  }

  /**
   * Idle shares, charge rates and owner fractions for the interval (after the rates are final). The owner fractions'
   * array is read once into a local: every typed-array read is a map check, a bounds check and three loads in V8's
   * code, and a store to one Float64Array makes it reload the others.
   */
  private finishRates(): void {
    const nC = this.nContainers;
    const own = this.ownerFrac;
    const cts = this.ct;
    const active = this.activeCores;
    const iron = this.ironSwitch === true;
    const irqAcct = this.irqTimeAccounting === true;
    const bhCharged = !iron && !irqAcct;
    for (let a = 0; a < active.length; a++) {
      const c = active[a];
      const cs = this.core[c];
      // Who owns the softirq work on the core. A neighbour is in a core's list once, so its fraction is its weight / the
      // total, written once (the typed-array element accesses are what costs); only the list's owners are ever written
      // (the others' fractions, an idle core's included, stay 0).
      const list = cs.traffic;
      const base = c * nC;
      let tot = 0;
      let tx = 0;
      for (let k = 0; k < list.length; k++) {
        const t = list[k];
        if (t.appCore === c) tx += t.sqApp;
        tot += ownerWeight(t, c);
      }
      let txFrac = 0;
      if (tot > 0) {
        for (let k = 0; k < list.length; k++) own[base + list[k].owner] = ownerWeight(list[k], c) / tot;
        txFrac = tx / tot;
      } else if (list.length > 0) {
        for (let k = 1; k < list.length; k++) own[base + list[k].owner] = 0;
        own[base + list[0].owner] = 1;
      }
      cs.txFrac = txFrac;
      // Tasks' real use (a demand-limited application may use a little less than its share), idle; each container's
      // runtime drawn per ns from its share (every container is on one active core).
      const here = cs.here;
      let used = 0;
      let bhSum = 0;
      let tasks = 0;
      let d = 0;
      for (let j = 0; j < here.length; j++) {
        const ct = here[j];
        const t = ct.traffic;
        const b = ct.bh;
        const u = t === null ? ct.share : t.appUse(ct.share - b);
        ct.share = ct.prevShare = u;
        ct.chargeRate = u + (bhCharged ? b : 0);
        used += u + b;
        bhSum += b;
        tasks += u;
        d += u + b;
      }
      const cap = cs.capTask;
      const kShare = cs.kShare;
      const sigma = cs.sigma;
      const ep = cs.epCtx;
      cs.idleShare = cs.prevIdle = Math.max(0, cap - kShare - used);
      cs.coreBh = bhSum;
      // The multi-round fraction only matters in interrupt mode with a one-jiffy deadline (else the rate is 0).
      const interruptMode = cs.poll === 0 && ep === NONE;
      cs.jiffyRate = this.softirqJiffies === 1 && interruptMode ? (sigma * this.nonFinalFraction(c)) / this.tickNs : 0;
      // ksoftirqd's vruntime against the docker group's: each advances by the time it runs (softirq at irq exit
      // on a docker task is that task's runtime unless IRQ time is accounted apart; episodes: accrueLag).
      if (!irqAcct && ep === NONE && cap > 0) d += (sigma * tasks) / cap;
      cs.kvLeadRate = kShare - d;
      // Without IRON the core's softirq is charged to the contexts it ran on, all on this core. irq time is not
      // task time under IRQ time accounting: the interrupted task's runtime is not charged.
      if (iron || irqAcct || (sigma <= 0 && kShare <= 0 && bhSum <= 0)) continue;
      if (ep !== NONE) {
        if (ep >= 0) cts[ep].chargeRate += 1;
      } else if (cap > 0) for (let j = 0; j < here.length; j++) here[j].chargeRate += (sigma * here[j].share) / cap;
    }
    // IRON charges the owners wherever they run: after every container's own rate is set.
    if (iron)
      for (let a = 0; a < active.length; a++) {
        const c = active[a];
        const cs = this.core[c];
        const total = cs.sigma + cs.kShare + cs.coreBh;
        if (cs.sigma <= 0 && cs.kShare <= 0 && cs.coreBh <= 0) continue;
        for (let i = 0; i < nC; i++) cts[i].chargeRate += total * own[c * nC + i];
      }
    let ramp = false;
    const all = this.allTraffic;
    for (let k = 0; k < all.length; k++) {
      const t = all[k];
      t.rampingNow = t.ramping();
      if (t.rampingNow === true) ramp = true;
    }
    this.anyRamp = ramp;
  }

  // ---- Events ---------------------------------------------------------------------------------------

  /** Time to the next event, into pendingDt (a field: a double returned from a call is boxed on the heap). */
  private nextEventDt(): void {
    const now = this.nowNs;
    const cts = this.ct;
    const nC = this.nContainers;
    // The earliest refill (min(a - now, b - now) is min(a, b) - now exactly: the rounding is monotonic). Math.min is
    // exact, so the candidates may come in any order: one pass over the containers for their runtime running out and
    // their lag repaid.
    let dt = this.nextRefillNs - now;
    for (let i = 0; i < nC; i++) {
      const ct = cts[i];
      const rate = ct.chargeRate;
      if (rate > 1e-12) {
        const avail = ct.group.available(ct.home);
        if (avail > 0) dt = Math.min(dt, avail / rate);
      }
      if (ct.lagRate > 0) dt = Math.min(dt, ct.lagNs / ct.lagRate);
    }
    dt = Math.min(dt, this.policy.nextEventNs() - now, this.nextJitterNs - now, this.nextBucketNs - now);
    const active = this.activeCores;
    for (let a = 0; a < active.length; a++) {
      const cs = this.core[active[a]];
      const polling = cs.poll !== 0;
      if (cs.epCtx !== NONE) {
        dt = Math.min(dt, cs.epEndNs - now);
        let pk = 0;
        const recv = cs.recv;
        for (let k = 0; k < recv.length; k++) pk += recv[k].rServe;
        if (pk > 0) dt = Math.min(dt, cs.epPkLeft / pk);
      } else if (polling) dt = Math.min(dt, cs.nextTickNs - now); // tick episodes (before 4.9), turns
      const jr = cs.jiffyRate;
      if (jr > 0) dt = Math.min(dt, cs.jiffyClock / jr);
      // A ksoftirqd behind the docker group runs deferred work at once until it has caught up.
      if (!polling && cs.kShare > 0) {
        const lead = cs.kvLeadNs;
        const rate = cs.kvLeadRate;
        if (lead < 0 && rate > 0) dt = Math.min(dt, -lead / rate);
      }
    }
    const all = this.allTraffic;
    for (let k = 0; k < all.length; k++) {
      const t = all[k];
      t.updateThreshold();
      dt = Math.min(dt, t.thresholdNs);
      if (t.rRingDrop > 0 && t.isTcpReceiver === true) dt = Math.min(dt, t.lastCutNs + t.rttNs() - now);
    }
    if (this.anyRamp === true) dt = Math.min(dt, this.maxAdvanceNs);
    if (this.gridNs > 0) dt = Math.min(dt, (Math.floor(now / this.gridNs + 1e-9) + 1) * this.gridNs - now);
    this.pendingDt = dt;
  }

  /**
   * Integrate every rate over stepNs (a field, like the inputs of Traffic.updateRates: no boxed argument). The
   * engine's arrays are read into locals once: a field read through `this` is a map check and a load, and V8 redoes
   * both after every call in a loop (charge, pay, advanceStep).
   */
  private advance(): void {
    const dt = this.stepNs;
    const now = this.nowNs + dt;
    const policy = this.policy;
    const payNoContext = this.payNoContext === true;
    // A core with nothing on it only idles (idleShare 1).
    const idleCores = this.idleCores;
    for (let a = 0; a < idleCores.length; a++) {
      const cs = this.core[idleCores[a]];
      cs.idleNs += cs.idleShare * dt;
    }
    const active = this.activeCores;
    for (let a = 0; a < active.length; a++) {
      const c = active[a];
      const cs = this.core[c];
      const here = cs.here;
      for (let j = 0; j < here.length; j++) {
        const ct = here[j];
        const i = ct.id;
        const ns = ct.share * dt;
        if (ns <= 0) continue;
        if (i === 0) cs.victimNs += ns;
        else cs.neighboursNs += ns;
        ct.group.charge(c, ns, now);
        if (ct.traffic === null) ct.sysbenchEvents += ns * ct.eventsPerNs;
      }
      const idle = cs.idleShare;
      const kShare = cs.kShare;
      cs.idleNs += idle * dt;
      const sig = cs.sigma * dt;
      const ks = kShare * dt;
      let bh = 0;
      // coreBh is their sum (finishRates): 0 only when every part is 0.
      if (cs.coreBh > 0) for (let j = 0; j < here.length; j++) bh += here[j].bh * dt;
      if (ks > 0) cs.ksoftirqdNs += ks;
      if (sig + bh > 0) cs.softirqTaskNs += sig + bh;
      const soft = sig + ks + bh;
      if (soft <= 0) continue;
      const tx = cs.txFrac;
      cs.netRxNs += soft * (1 - tx);
      cs.netTxNs += soft * tx;
      // Whose work it was (one attribution per core: the same owner fractions for every context), then who pays:
      // the policy sees each context's softirq time with its owners.
      policy.attribute(soft, this.ownerFrac, c * this.nContainers);
      // Time outside any container only when the policy charges it (not vanilla's: skip the sums for it).
      if (ks > 0 && payNoContext) this.pay(c, IDLE, ks, now);
      if (bh > 0) for (let j = 0; j < here.length; j++) this.pay(c, here[j].id, here[j].bh * dt, now);
      if (sig > 0) {
        const ctx = cs.epCtx;
        if (ctx >= 0) {
          this.episodeNs[ctx] += sig;
          if (this.irqTimeAccounting !== true) this.accrueLag(c, ctx, sig);
        }
        const cap = cs.capTask;
        if (ctx !== NONE) this.pay(c, ctx, sig, now);
        else if (cap > 0) {
          for (let j = 0; j < here.length; j++) this.pay(c, here[j].id, (sig * here[j].share) / cap, now);
          if (payNoContext) this.pay(c, IDLE, (sig * (idle + kShare)) / cap, now);
        } else this.pay(c, IDLE, sig, now);
      }
    }
    this.repayLag(dt);
    // Vruntime lead, jiffy clock and episode budget, in one pass (each core's own; an idle core has none of them).
    const maxLag = this.maxLagNs;
    for (let a = 0; a < active.length; a++) {
      const cs = this.core[active[a]];
      const kvRate = cs.kvLeadRate;
      if (kvRate !== 0) {
        let v = cs.kvLeadNs + kvRate * dt;
        // place_entity: a sleeping entity is re-placed at most sched_latency/2 behind the one that ran meanwhile.
        if (!ksoftirqdRunnable(cs)) v = Math.max(-maxLag, v);
        if (cs.dockerRunnable === 0) v = Math.min(maxLag, v);
        cs.kvLeadNs = Math.abs(v) < 1e-3 ? 0 : v;
      }
      const jr = cs.jiffyRate;
      if (jr > 0) cs.jiffyClock = Math.max(0, cs.jiffyClock - jr * dt);
      if (cs.epCtx === NONE) continue;
      const recv = cs.recv;
      for (let k = 0; k < recv.length; k++) cs.epPkLeft -= recv[k].rServe * dt;
    }
    const all = this.allTraffic;
    for (let k = 0; k < all.length; k++) {
      const t = all[k];
      t.stepNs = dt;
      t.advanceStep();
      if (t.rampingNow === true) t.growStep(); // as the rates were (finishRates), before the step
    }
  }

  /**
   * An episode of `ns` ran on container `i` (core `c`): its vruntime advanced while its siblings' did not, and the
   * docker group's advanced while ksoftirqd's did not. Relative vruntimes only: the smallest lag on a core is 0.
   */
  private accrueLag(c: number, i: number, ns: number): void {
    this.ct[i].lagNs += ns;
    const cs = this.core[c];
    const here = cs.here;
    // No cap between runnable entities; a sleeping one is placed at most sched_latency/2 behind min_vruntime when
    // it wakes (place_entity), so it never holds a larger claim on the runnable ones.
    let minRun = Infinity;
    for (let j = 0; j < here.length; j++) if (here[j].id === i || here[j].demand > 0) minRun = Math.min(minRun, here[j].lagNs);
    for (let j = 0; j < here.length; j++)
      if (here[j].id !== i && !(here[j].demand > 0)) here[j].lagNs = Math.max(here[j].lagNs, minRun - this.maxLagNs);
    let min = Infinity;
    for (let j = 0; j < here.length; j++) min = Math.min(min, here[j].lagNs);
    for (let j = 0; j < here.length; j++) here[j].lagNs -= min;
    cs.kvLeadNs -= ns;
    if (!ksoftirqdRunnable(cs)) cs.kvLeadNs = Math.max(-this.maxLagNs, cs.kvLeadNs);
  }

  private repayLag(dt: number): void {
    const cts = this.ct;
    for (let i = 0; i < cts.length; i++) {
      const ct = cts[i];
      if (ct.lagRate > 0) {
        const left = ct.lagNs - ct.lagRate * dt;
        ct.lagNs = left > 1e-3 ? left : 0;
      }
    }
  }

  private pay(c: number, ctx: number, ns: number, now: number): void {
    if (ns <= 0) return;
    // CONFIG_IRQ_TIME_ACCOUNTING: softirq time at irq exit is irq time, not the interrupted task's runtime.
    if (this.irqTimeAccounting === true && ctx >= 0) ctx = IDLE;
    if (ctx < 0 && this.payNoContext !== true) return;
    this.policy.onSoftirq(c, ctx, ns, this.ownerFrac, c * this.nContainers, now);
  }

  /** Timed events due at the current instant. */
  private handleEvents(): void {
    const now = this.nowNs;
    const tiny = 1e-3;
    // Each call only when due: a double passed to a call that is not inlined is boxed on the heap at every event.
    // The time passed is read at the call (this.nowNs), not a local: a local double that several calls in
    // different branches take is boxed once where they meet, i.e. at every event.
    const due = now + tiny;
    const cts = this.ct;
    if (due >= this.nextRefillNs) {
      for (let i = 0; i < cts.length; i++) if (due >= cts[i].group.nextRefillNs) cts[i].group.tick(this.nowNs + tiny);
      this.nextRefillNs = Infinity;
      for (let i = 0; i < cts.length; i++) this.nextRefillNs = Math.min(this.nextRefillNs, cts[i].group.nextRefillNs);
    }
    if (due >= this.policy.nextEventNs()) this.policy.onTick(this.nowNs + tiny);
    for (let i = 0; i < cts.length; i++) {
      const ct = cts[i];
      if (ct.group.spent(ct.home)) ct.group.throttleIfSpent(ct.home, this.nowNs);
    }
    const active = this.activeCores;
    for (let a = 0; a < active.length; a++) {
      const c = active[a];
      const cs = this.core[c];
      let swallowed = false;
      if (cs.epCtx !== NONE) {
        const deadline = now >= cs.epEndNs - tiny;
        if (deadline || cs.epPkLeft <= 1e-6) {
          // Budget or jiffy deadline spent with work left: wakeup_softirqd; NAPI stays scheduled.
          swallowed = deadline; // the deadline tick came inside softirq
          cs.epCtx = NONE;
        }
      }
      if (now >= cs.nextTickNs - tiny) {
        // A scheduler tick. scheduler_tick runs check_preempt_tick at each level of the running task (it may set
        // need_resched), then its irq_exit runs pending NET_RX on the interrupted task while NAPI is polling
        // (before 4.9; since 4.9 it is left to ksoftirqd), until the work is done, 10 restarts or the jiffy
        // deadline, or after one round when need_resched is set.
        if (cs.poll !== 0) {
          const resched = this.topTick(c) || this.groupTick(c);
          if (cs.epCtx === NONE && !swallowed && this.deferWhilePending !== true) {
            const rounds = this.episodeRounds(c, resched ? 1 : this.prof.softirqMaxRestarts);
            if (rounds === 1) this.tickEpisodes.oneRound++;
            else this.tickEpisodes.full++;
            this.startEpisode(c, rounds * this.roundPackets(c), this.softirqDeadline(c), false);
          }
        }
        cs.nextTickNs = this.tickAfter(c, this.nowNs + tiny);
      }
      if (cs.jiffyRate > 0 && cs.jiffyClock <= 1e-9) {
        // The jiffy deadline in interrupt mode: a tick landed inside a call's round that has another round after
        // it (the first poll was full): the call ends there, NAPI stays scheduled and ksoftirqd takes over.
        cs.jiffyClock = -Math.log(1 - this.rng.next());
        if (cs.poll === 0 && cs.epCtx === NONE) {
          cs.poll = 1;
          this.pollEntries.jiffy++;
          this.ksoftirqdWakes(c);
          cs.nextTickNs = this.tickAfter(c, this.nowNs);
        }
      }
    }
    if (now >= this.nextJitterNs - tiny) {
      // Bursts on the wire and cache effects: each neighbour's arrival rate and costs vary per interval.
      for (let k = 0; k < this.allTraffic.length; k++) {
        const t = this.allTraffic[k];
        t.arrivalJitter = 1 + this.prof.arrivalJitterFraction * this.rng.centered();
        t.costJitter = 1 + this.prof.costJitterFraction * this.rng.centered();
        t.appJitter = 1 + this.prof.costJitterFraction * this.rng.centered();
      }
      this.nextJitterNs += this.jitterIntervalNs;
    }
    if (now >= this.nextBucketNs - tiny) this.closeBucket();
  }

  /**
   * wakeup_softirqd: ksoftirqd becomes runnable (NAPI stays scheduled). check_preempt_wakeup: it preempts the
   * docker group at once only if it is more than wakeup_granularity behind it in vruntime (after a sleep it was
   * placed up to sched_latency/2 behind); otherwise it waits for a tick to end the group's turn.
   */
  private ksoftirqdWakes(c: number): void {
    const cs = this.core[c];
    if (cs.kTurn !== 0) return;
    if (-cs.kvLeadNs > this.wakeupGranNs) {
      cs.kTurn = 1;
      cs.turnStartNs = this.nowNs;
      this.turnSwitches.wakeup++;
    }
  }

  /** napi_complete: ksoftirqd has nothing left and sleeps; the docker group is picked. */
  private ksoftirqdSleeps(c: number): void {
    const cs = this.core[c];
    if (cs.kTurn === 0) return;
    cs.kTurn = 0;
    cs.turnStartNs = this.nowNs;
  }

  /**
   * check_preempt_tick at the top of core `c` (ksoftirqd runnable): the entity that holds the core is rescheduled
   * when it has run longer than its sched_slice (latency / 2 with two entities), or, after min_granularity, when
   * its vruntime is more than a slice ahead of the other's; pick_next_entity then takes the one with the smaller
   * vruntime. Returns whether need_resched was set.
   */
  private topTick(c: number): boolean {
    if (this.prof.containersUnderDockerCgroup !== true) return false;
    const now = this.nowNs;
    const cs = this.core[c];
    const exec = now - cs.turnStartNs;
    const ahead = cs.kTurn !== 0 ? cs.kvLeadNs : -cs.kvLeadNs;
    if (!(exec > this.topSliceNs || (exec >= this.minGranNs && ahead > this.topSliceNs))) return false;
    const next = cs.kvLeadNs < 0 ? 1 : cs.kvLeadNs > 0 ? 0 : 1 - cs.kTurn;
    if (next !== cs.kTurn) this.turnSwitches.tick++;
    cs.kTurn = next;
    cs.turnStartNs = now;
    return true;
  }

  /**
   * check_preempt_tick inside the docker group, while it holds core `c`: with n runnable containers a container's
   * sched_slice is sched_latency / n, times the group's share at the top (1/2 while ksoftirqd is runnable). A
   * slice shorter than a tick is over at every tick; a longer one at one tick in ceil(slice / tick).
   */
  private groupTick(c: number): boolean {
    const cs = this.core[c];
    if (cs.kTurn !== 0) return false;
    const here = cs.here;
    let n = 0;
    for (let j = 0; j < here.length; j++) if (here[j].demand > 0) n++;
    if (n < 2) return false;
    const slice = this.prof.containersUnderDockerCgroup === true ? (this.topSliceNs * 2) / n / 2 : (this.topSliceNs * 2) / (n + 1);
    const ticks = Math.ceil(slice / this.tickNs - 1e-9);
    return ticks <= 1 || this.rng.next() * ticks < 1;
  }

  /** The first tick of core `c` strictly after `t`. */
  private tickAfter(c: number, t: number): number {
    const T = this.tickNs;
    const phase = this.core[c].tickPhaseNs;
    return phase + (Math.floor((t - phase) / T) + 1) * T;
  }

  /** When __do_softirq started now on core `c` stops restarting: the jiffy deadline (a tick instant). */
  private softirqDeadline(c: number): number {
    return this.tickAfter(c, this.nowNs) + (this.softirqJiffies - 1) * this.tickNs;
  }

  private closeBucket(): void {
    const cat = this.coreCatNow();
    const cores: number[][] = [];
    for (let c = 0; c < this.cores; c++) {
      const row: number[] = [];
      for (let k = 0; k < N_CATS; k++) {
        const idx = c * N_CATS + k;
        row.push((cat[idx] - this.lastBucketCat[idx]) / 1e9);
      }
      cores.push(row);
    }
    this.timeline.push({ tS: (this.nextBucketNs - this.timelineBucketNs) / 1e9, cores });
    this.lastBucketCat = cat;
    this.nextBucketNs += this.timelineBucketNs;
  }

  /** Each core's time per category (cores x N_CATS, CORE_CATEGORIES order). */
  coreCatNow(): Float64Array {
    const cat = new Float64Array(this.cores * CATS);
    for (let c = 0; c < this.cores; c++) {
      const cs = this.core[c];
      const base = c * CATS;
      cat[base + VICTIM] = cs.victimNs;
      cat[base + NEIGHBOURS] = cs.neighboursNs;
      cat[base + SOFTIRQ_TASK] = cs.softirqTaskNs;
      cat[base + KSOFTIRQD] = cs.ksoftirqdNs;
      cat[base + IDLE_TIME] = cs.idleNs;
    }
    return cat;
  }

  /** Each core's softirq time per vector (cores x 2: NET_RX, NET_TX). */
  softirqVecNow(): Float64Array {
    const vec = new Float64Array(this.cores * 2);
    for (let c = 0; c < this.cores; c++) {
      vec[c * 2] = this.core[c].netRxNs;
      vec[c * 2 + 1] = this.core[c].netTxNs;
    }
    return vec;
  }

  /** Counters now; the measurement window is the difference of two snapshots. */
  snapshot(): KernelSnapshot {
    const containers: ContainerSnapshot[] = [];
    for (let i = 0; i < this.nContainers; i++) {
      const g = this.groups[i];
      g.settle(this.nowNs);
      const t = this.traffic[i];
      containers.push({
        sysbenchEvents: this.ct[i].sysbenchEvents,
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
    return {
      nowNs: this.nowNs,
      coreCatNs: this.coreCatNow(),
      softirqVecNs: this.softirqVecNow(),
      containers,
    };
  }

  /** Packet conservation per network neighbour: offered = delivered + dropped + queued. */
  conservation(): { container: number; offered: number; delivered: number; dropped: number; queued: number }[] {
    return this.allTraffic.map((t) => ({
      container: t.owner,
      offered: t.offered,
      delivered: t.delivered,
      dropped: t.totalDropped(),
      queued: t.queued(),
    }));
  }
}
