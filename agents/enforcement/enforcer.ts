// The one entry point the docker backend drives: createEnforcer(mode, {containers, periodUs}) -> start / stop /
// beginWindow / samples, and reapEnforcement() for the agent's reaper. A mode is a composition of parts
// (modes.ts: the kernel switch, accounting, charging, dropping); start() starts the parts its mode names:
//   none        accounting only (when eBPF is available): where the network softirq time went, nothing applied
//   ebpf        accounting + the controller (controller.ts) once per CFS period: charging through cfs_quota_us,
//               drops for owners that consumed more than their quota
// Wherever accounting runs, the drop program sits on the devices where the owners' packets arrive (XDP, or tc
// ingress where XDP cannot attach) in every mode, passing everything unless the controller flags an owner, so
// that `none` and `ebpf` take the same receive path and differ only in the decision.
//   iron-kernel the kernel's IRON switch on (verified, restored at stop) + accounting when available
// Everything it creates is named ironlab*; everything it changes is recorded first in a state file.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { enforcementMode, type Enforcement, type EnforcementStrategy } from './modes.ts';
import { METRIC, sample, type Sample } from '../samples.ts';
import { Accounting, accountingSamples, cgroupInode, diffSnapshots, summarize, type AcctSnapshot, type Owner } from './accounting.ts';
import { buildBpf, DEFAULT_CACHE_DIR, type BpfObjects } from './build.ts';
import { ebpfMissing, requireMode } from './capabilities.ts';
import { ChargingController, type QuotaIo } from './charging.ts';
import type { PeriodInput } from './controller.ts';
import { DropMap } from './dropping.ts';
import { PeriodClock } from './period-clock.ts';
import { scaleRows, TickScale } from './tick-scale.ts';
import {
  IRON_STATS,
  IronKernelSwitch,
  detectIronKernel,
  parseIronStats,
  registerIronOwners,
  removeIronOwners,
  restoreIronSwitch,
} from './iron-kernel.ts';
import { pidAlive } from '../../workloads/common/pid.ts';
import { DEFAULT_STATE_DIR, readStates, removeState, writeState, type EnforcementState } from './state.ts';
import { attachDrop, detachDrop, ourFilters, TC_GLOBALS } from './tc.ts';
import { attachXdp, detachXdp, type XdpTarget } from './xdp.ts';
import { formatQuota, parseQuotaUs, readUsageNs, type CgroupPaths } from '../docker/cgroup-files.ts';

export const ENFORCEMENT_VERSION = 'ironlab-ebpf-2';
export const ALIAS = 'ironlab-enforced';

export interface EnforcedContainer {
  name: string;
  ipv4: string;
  /** Its cgroup: the hierarchy's version and the cpu and cpuacct directories (cgroup-files.ts). */
  cgroup: CgroupPaths;
}
export interface EnforcerOptions {
  containers: EnforcedContainer[];
  periodUs: number;
  /**
   * Devices where the owners' packets arrive: a traffic NIC, or the receiving end of the veth pair whose receive
   * side RPS steers (its NAPI runs on the transmitting core). The drop program goes there: XDP, else tc ingress.
   */
  dropAt?: XdpTarget[];
  stateDir?: string;
  procRoot?: string;
  cacheDir?: string;
  quotaIo?: QuotaIo;
}
export interface Enforcer {
  readonly mode: Enforcement;
  /** Whether eBPF accounting runs (always under ebpf; under none/iron-kernel only when the host allows it). */
  readonly accounting: boolean;
  start(): Promise<void>;
  /** Undo everything; idempotent. */
  stop(): Promise<void>;
  /** Mark the start of the measurement window (default: start()). */
  beginWindow(): void;
  /** Samples of the window so far: attributed/charged/credited softirq time, drops. */
  samples(windowS: number): Sample[];
  provenance(): Record<string, string | number | null>;
}

const live = new Set<EnforcerImpl>();

export function createEnforcer(mode: Enforcement, opts: EnforcerOptions): Enforcer {
  return new EnforcerImpl(mode, opts);
}

class EnforcerImpl implements Enforcer {
  readonly id = randomBytes(4).toString('hex');
  accounting = false;
  private acct: Accounting | null = null;
  private objs: BpfObjects | null = null;
  private charging: ChargingController | null = null;
  private drops: DropMap | null = null;
  private iron: IronKernelSwitch | null = null;
  private ironAtWindow: Record<string, number> | null = null;
  /** One clock per charged group, aligned to its CFS period timer (period-clock.ts). */
  private clocks = new Map<string, PeriodClock>();
  /** What the tracepoints miss per CPU, from the kernel's tick accounting (tick-scale.ts): charges and credits are scaled by it. */
  private scale: TickScale | null = null;
  private owners: Owner[] = [];
  /** The accounting's start (and the reference for groups that have not stepped yet). */
  private lastTick: TickPoint | null = null;
  /** Where each group's last controller step left off. */
  private lastStep = new Map<string, TickPoint>();
  private window: { at: bigint; snap: AcctSnapshot; dropped: Map<string, number> } | null = null;
  private state: EnforcementState;
  private stateDir: string;
  private why = '';
  // What the controller did, for the run's provenance and the per-period samples.
  private ticks = 0;
  private periods: PeriodRecord[] = [];
  /** Which hook each drop device got: xdp, or tc (with why XDP could not attach). */
  private dropPaths: { dev: string; path: 'xdp' | 'tc'; why?: string }[] = [];
  private lastWindowCpu: Map<number, { totalNs: number; byOwner: Map<string, number> }> | null = null;

  /** The parts this mode starts (modes.ts): the kernel switch, accounting, charging, dropping. */
  private readonly parts: EnforcementStrategy;

  constructor(
    readonly mode: Enforcement,
    private o: EnforcerOptions,
  ) {
    this.parts = enforcementMode(mode);
    this.stateDir = o.stateDir ?? DEFAULT_STATE_DIR;
    this.state = { id: this.id, pid: process.pid, mode, quotas: [], tc: [], xdp: [] };
  }

  async start(): Promise<void> {
    if (this.lastTick || this.iron) return; // already started
    live.add(this);
    try {
      // The mode's parts in order (modes.ts): the kernel switch, accounting, the drop path, charging. The enforcer
      // does not know the modes; a mode is only which implementation of each part it composes.
      for (const part of this.composition()) await part();
      this.beginWindow();
    } catch (e) {
      await this.stop();
      throw e;
    }
  }

  /** The start of each part this mode's strategy names, in the order they depend on each other. */
  private composition(): (() => void | Promise<void>)[] {
    const s = this.parts;
    const parts: (() => void | Promise<void>)[] = [];
    if (s.kernelSwitch) parts.push(() => this.startKernelSwitch());
    parts.push(s.accounting === 'required' ? () => this.requireAccounting() : () => this.accountIfAvailable());
    // Wherever accounting runs, the drop program sits on the receiving devices in every mode (passing everything
    // unless an owner is flagged), so that the modes share one receive path; only `ebpf` dropping flags owners.
    parts.push(() => {
      if (this.accounting) this.attachDropPath();
    });
    if (s.charging) parts.push(() => this.startEnforcing());
    return parts;
  }

  /** Kernel switch part: the IRON sysctl on, recorded (with the value found) before it changes. */
  private startKernelSwitch(): void {
    requireMode(this.mode, { procRoot: this.o.procRoot });
    this.iron = new IronKernelSwitch(this.o.procRoot ?? '/proc');
    // recorded (with the value found) before the switch changes: a crash in between leaves it restorable
    this.state.ironSwitch = { procRoot: this.iron.procRoot, value: detectIronKernel(this.iron.procRoot).enabled ? '1' : '0' };
    writeState(this.stateDir, this.state);
    this.iron.set(true);
    // Received packets are owned by address (the kernel cannot see a receiving socket's cgroup after a veth or a
    // macvlan): each container's address, its cgroup.
    this.state.ironOwners = this.o.containers.map((c) => c.ipv4);
    writeState(this.stateDir, this.state);
    registerIronOwners(
      this.iron.procRoot,
      this.o.containers.map((c) => ({ ipv4: c.ipv4, cgroupPath: c.cgroup.cpu })),
    );
  }

  /** Accounting part, required: the mode acts on it, so a host without eBPF cannot run the mode. */
  private requireAccounting(): void {
    requireMode(this.mode, { procRoot: this.o.procRoot });
    this.startAccounting();
  }

  /** Accounting part, recorded only: where the host cannot run it, the run goes on and the provenance says why. */
  private accountIfAvailable(): void {
    const missing = ebpfMissing();
    if (missing.length) this.why = missing.join('; ');
    else this.startAccounting();
  }

  private startAccounting(): void {
    this.objs = buildBpf(this.o.cacheDir ?? DEFAULT_CACHE_DIR);
    this.owners = this.o.containers.map((c) => ({ name: c.name, ipv4: c.ipv4, cgroupIno: cgroupInode(c.cgroup.cpu) }));
    this.acct = Accounting.start(this.objs.acct);
    this.accounting = true;
    this.lastTick = { at: process.hrtime.bigint(), snap: this.acct.snapshot(), usedNs: this.readUsage(), dropped: new Map() };
  }

  /**
   * The drop program on every receiving device, in every mode that accounts (it passes everything until the
   * controller flags an owner). Each device is recorded (and labelled) before the attach. XDP in native mode
   * first; where the device cannot run it, a tc filter on its ingress.
   */
  private attachDropPath(): void {
    for (const t of this.o.dropAt ?? []) {
      const aliased = mayLabel(t);
      (this.state.xdp ??= []).push({ ...t, aliased });
      writeState(this.stateDir, this.state); // recorded before the label and the attach
      if (aliased) ip(t, ['link', 'set', 'dev', t.dev, 'alias', ALIAS]); // so the reaper may look
      try {
        attachXdp(t, this.objs!.drop);
        this.dropPaths.push({ dev: t.dev, path: 'xdp' });
        continue;
      } catch (e) {
        this.state.xdp.pop();
        this.state.tc.push({ ...t, createdClsact: false, aliased });
        writeState(this.stateDir, this.state);
        this.state.tc[this.state.tc.length - 1] = { ...attachDrop(t, this.objs!.drop, ['ingress']), aliased };
        writeState(this.stateDir, this.state);
        this.dropPaths.push({ dev: t.dev, path: 'tc', why: (e as Error).message.slice(0, 160) });
      }
    }
    if (this.dropPaths.length) this.drops = new DropMap();
  }

  private async startEnforcing(): Promise<void> {
    this.charging = new ChargingController(this.o.containers, { io: this.o.quotaIo });
    this.scale = new TickScale(this.o.procRoot);
    this.state.quotas = this.charging.originals();
    writeState(this.stateDir, this.state); // before the first quota write
    // Each charged group steps once per its own CFS period, just after the kernel's refill, so that a quota
    // write hands out (almost) no second refill (period-clock.ts).
    const charged = this.o.containers.filter((c) => this.charging!.state(c.name)?.constrained);
    const clocks = await Promise.all(
      charged.map((c) => PeriodClock.start(c.cgroup.cpu, () => this.tick(c.name), { periodUs: this.charging!.state(c.name)!.periodUs })),
    );
    if (!this.charging) return void clocks.forEach((c) => c.stop()); // stopped while looking for the boundaries
    charged.forEach((c, i) => this.clocks.set(c.name, clocks[i]!));
  }

  /** cpuacct usage (ns) of every container, as the kernel charged it. */
  private readUsage(): Map<string, number> {
    const m = new Map<string, number>();
    for (const c of this.o.containers) {
      try {
        m.set(c.name, readUsageNs(c.cgroup));
      } catch {
        /* container gone */
      }
    }
    return m;
  }

  private droppedNow(): Map<string, number> {
    return new Map(this.o.containers.map((c) => [c.name, this.drops?.dropped(c.ipv4) ?? 0]));
  }

  /** One controller step (one CFS period) of one group: charge/credit since its last step, quota, drop flag. */
  private tick(name: string): void {
    if (!this.acct || !this.lastTick || !this.charging) return;
    const c = this.o.containers.find((x) => x.name === name)!;
    const now = process.hrtime.bigint();
    const snap = this.acct.snapshot();
    const usedNs = this.readUsage();
    const dropped = this.droppedNow();
    const last = this.lastStep.get(name) ?? this.lastTick;
    const delta = diffSnapshots(last.snap, snap);
    const f = summarize(delta, this.owners).owners.get(name);
    // The owner is charged at the kernel's measure (tick-scale.ts), so that it is throttled and dropped for what its
    // packets cost; the interrupted is credited what the tracepoints saw it pay: never more than it paid (the ticks
    // oversample a UDP flood's softirq: 3.4-4.2x the traced time where the victim's loss says 2.8x).
    const factor = this.scale?.step(now, snap) ?? new Map<number, number>();
    const charged = summarize(scaleRows(delta, factor), this.owners).owners.get(name);
    const used = (usedNs.get(name) ?? 0) - (last.usedNs.get(name) ?? 0);
    const input: PeriodInput = {
      elapsedUs: Number(now - last.at) / 1000,
      usedUs: Math.max(0, used) / 1000,
      chargeUs: (charged?.chargeNs ?? 0) / 1000,
      creditUs: (f?.creditNs ?? 0) / 1000,
    };
    const d = this.charging.period(new Map([[name, input]])).get(name);
    this.lastStep.set(name, { at: now, snap, usedNs, dropped });
    if (!d) return; // unconstrained (a traffic peer): never charged, never dropped
    if (this.parts.dropping === 'ebpf') this.drops?.set(c.ipv4, d.drop); // the eBPF dropping part acts on the controller's rule
    const tS = this.window ? Number(now - this.window.at) / 1e9 : 0;
    const drops = (dropped.get(name) ?? 0) - (last.dropped.get(name) ?? dropped.get(name) ?? 0);
    this.periods.push({
      tS,
      container: name,
      chargedS: d.chargedUs / 1e6,
      creditedS: d.creditedUs / 1e6,
      debtS: d.debtUs / 1e6,
      quotaUs: d.quotaUs,
      drop: d.drop,
      drops,
    });
    this.ticks++;
  }

  beginWindow(): void {
    this.ironAtWindow = this.iron ? this.ironStats() : null;
    if (!this.acct) return;
    this.window = { at: process.hrtime.bigint(), snap: this.acct.snapshot(), dropped: this.droppedNow() };
    this.periods = []; // the per-period record covers the window
  }

  samples(windowS: number): Sample[] {
    const iron = this.ironSamples();
    if (!this.acct || !this.window || !(windowS > 0)) return iron;
    const delta = diffSnapshots(this.window.snap, this.acct.snapshot());
    const sum = summarize(delta, this.owners);
    this.lastWindowCpu = netRxByCpu(delta, this.owners);
    const out = [...iron, ...accountingSamples(sum, this.parts.charging)];
    if (this.drops) {
      const path = [...new Set(this.dropPaths.map((d) => d.path))].join('+');
      for (const c of this.o.containers) {
        const n = this.drops.dropped(c.ipv4) - (this.window.dropped.get(c.name) ?? 0);
        out.push(sample(METRIC.packetsDropped, n, 'packets', { container: c.name, reason: 'ebpf_throttled', path }));
      }
    }
    out.push(...controllerSamples(this.periods.filter((p) => p.tS <= windowS + 0.05)));
    return out;
  }

  /** The IRON kernel's own counters (/proc/iron_stats), read at the window's edges. */
  private ironStats(): Record<string, number> | null {
    try {
      return parseIronStats(readFileSync(join(this.iron!.procRoot, IRON_STATS), 'utf8'));
    } catch {
      return null;
    }
  }

  /** What the IRON kernel counted over the window (iron-kernel arm): softirqs, marks, charged/credited ns, drops. */
  private ironSamples(): Sample[] {
    const a = this.ironAtWindow;
    const b = this.iron && a ? this.ironStats() : null;
    if (!a || !b) return [];
    return Object.keys(b)
      .filter((k) => k !== 'enabled' && k in a)
      .map((k) => sample(METRIC.ironKernelCounter, b[k] - a[k], k.endsWith('_ns') ? 'ns' : 'count', { counter: k }));
  }

  provenance(): Record<string, string | number | null> {
    const p: Record<string, string | number | null> = {
      enforcement: this.mode,
      enforcementVersion: ENFORCEMENT_VERSION,
      ebpfAccounting: this.accounting ? 'on' : `off: ${this.why || 'not started'}`,
      ironKernelFound: this.iron?.found ?? null,
      // Which hook drops (XDP before the skb and RPS, or the tc fallback), per receiving device.
      dropPath: this.dropPaths.length ? this.dropPaths.map((d) => `${d.path}:${d.dev}`).join(',') : 'none',
    };
    for (const d of this.dropPaths) if (d.why) p[`dropPath.${d.dev}.noXdp`] = d.why;
    // Where each CPU's NET_RX time went in the last samples() window (tracepoint totals vs attributed by owner).
    for (const [cpu, f] of this.lastWindowCpu ?? []) {
      if (f.totalNs < 1e6) continue; // under a millisecond: noise
      p[`acct.cpu${cpu}.netRxS`] = round(f.totalNs / 1e9);
      for (const [name, ns] of f.byOwner) if (ns > 0) p[`acct.cpu${cpu}.netRxShare.${name}`] = round(ns / f.totalNs);
    }
    if (this.charging) {
      p['charging.ticks'] = this.ticks;
      // The mean factor the tick accounting put on each CPU's attributed time (1 = the tracepoints saw it all).
      for (const [cpu, u] of this.scale?.used ?? []) if (u.n) p[`acct.cpu${cpu}.tickScale`] = round(u.sum / u.n);
      for (const c of this.o.containers) {
        const st = this.charging.state(c.name);
        if (!st || !st.constrained) continue;
        p[`charging.${c.name}.quotaWrites`] = st.writes;
        // Steps just after the kernel's period refill (found from cpu.stat), or unaligned where it was not found.
        p[`charging.${c.name}.steps`] = this.clocks.get(c.name)?.boundaryNs != null ? 'aligned' : 'unaligned';
        p[`charging.${c.name}.baseQuotaUs`] = st.baseUs;
        p[`charging.${c.name}.minQuotaUs`] = st.minQuotaUs;
        p[`charging.${c.name}.maxQuotaUs`] = st.maxQuotaUs;
        p[`charging.${c.name}.chargedS`] = round(st.chargedUs / 1e6);
        p[`charging.${c.name}.creditedS`] = round(st.creditedUs / 1e6);
        p[`charging.${c.name}.debtS`] = round(st.debtUs / 1e6);
        p[`dropping.${c.name}.ticksOn`] = st.periodsDropping;
      }
    }
    return p;
  }

  async stop(): Promise<void> {
    for (const c of this.clocks.values()) c.stop();
    this.clocks.clear();
    this.lastStep.clear();
    this.drops?.close();
    this.drops = null;
    for (const t of this.state.xdp ?? []) {
      detachXdp(t);
      if (t.aliased) quietIp(t, ['link', 'set', 'dev', t.dev, 'alias', '']);
    }
    for (const t of this.state.tc) {
      detachDrop(t);
      if (t.aliased) quietIp(t, ['link', 'set', 'dev', t.dev, 'alias', '']);
    }
    this.charging?.restore();
    this.charging = null;
    this.scale = null;
    if (this.iron && this.state.ironOwners) removeIronOwners(this.iron.procRoot, this.state.ironOwners);
    this.iron?.restore();
    this.iron = null;
    this.acct?.stop();
    this.acct = null;
    this.lastTick = null;
    this.window = null;
    live.delete(this);
    removeState(this.stateDir, this.id);
    // The pinned drop maps are shared by every enforcer on the host: remove them when the last one is gone.
    if ((this.state.tc.length || this.state.xdp?.length) && !readStates(this.stateDir).some((s) => pidAlive(s.pid))) removePins();
    this.state.tc = [];
    this.state.xdp = [];
    this.dropPaths = [];
  }
}

/** Counters at a controller step. */
interface TickPoint {
  at: bigint;
  snap: AcctSnapshot;
  usedNs: Map<string, number>;
  dropped: Map<string, number>;
}

/** What the controller did in one period, for one constrained container. */
interface PeriodRecord {
  tS: number; // seconds since the window began
  container: string;
  chargedS: number;
  creditedS: number;
  debtS: number;
  quotaUs: number;
  drop: boolean;
  drops: number; // packets dropped for it in this period
}

/** The per-period samples (label `t`: seconds since the window began, 1 ms resolution: two steps of one group never share a label, so the report keeps every period). */
function controllerSamples(rs: readonly PeriodRecord[]): Sample[] {
  const out: Sample[] = [];
  for (const r of rs) {
    const l = { container: r.container, t: r.tS.toFixed(3) };
    out.push(
      sample(METRIC.controllerChargedS, round(r.chargedS), 's', l),
      sample(METRIC.controllerCreditedS, round(r.creditedS), 's', l),
      sample(METRIC.controllerDebtS, round(r.debtS), 's', l),
      sample(METRIC.controllerQuotaUs, r.quotaUs, 'us', l),
      sample(METRIC.controllerDrops, r.drops, 'packets', { ...l, on: r.drop ? '1' : '0' }),
    );
  }
  return out;
}

/** Whether to label a device so the reaper may look at it: not when it is ours by name or has another alias. */
function mayLabel(t: XdpTarget): boolean {
  if (t.dev.startsWith('ironlab')) return false;
  try {
    const argv = t.netns
      ? ['nsenter', `--net=${t.netns}`, '--', 'ip', '-j', 'link', 'show', 'dev', t.dev]
      : ['ip', '-j', 'link', 'show', 'dev', t.dev];
    const [l] = JSON.parse(execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8' })) as { ifalias?: string }[];
    if (l?.ifalias && l.ifalias !== ALIAS) return false; // someone else's label: keep it, the state file still knows
  } catch {
    return false;
  }
  return true;
}

function round(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}

/** NET_RX time per CPU as the tracepoints measured it, and the part of it attributed to each known owner. */
export function netRxByCpu(d: AcctSnapshot, owners: readonly Owner[]): Map<number, { totalNs: number; byOwner: Map<string, number> }> {
  const byIp = new Map(owners.map((o) => [o.ipv4, o.name]));
  const out = new Map<number, { totalNs: number; byOwner: Map<string, number> }>();
  for (const t of d.totals) if (t.vec === 'NET_RX') out.set(t.cpu, { totalNs: t.ns, byOwner: new Map() });
  for (const r of d.rows) {
    if (r.vec !== 'NET_RX') continue;
    const f = out.get(r.cpu);
    const name = byIp.get(r.owner) ?? 'unattributed';
    if (f) f.byOwner.set(name, (f.byOwner.get(name) ?? 0) + r.ns);
  }
  return out;
}

function ip(t: { netns?: string }, args: string[]): void {
  const argv = t.netns ? ['nsenter', `--net=${t.netns}`, '--', 'ip', ...args] : ['ip', ...args];
  execFileSync(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
}
function quietIp(t: { netns?: string }, args: string[]): void {
  try {
    ip(t, args);
  } catch {
    /* device gone */
  }
}

/** Remove ironlab's bpffs pins (tc's by-name maps and anything under /sys/fs/bpf/ironlab*). */
function removePins(): string[] {
  const removed: string[] = [];
  for (const dir of [TC_GLOBALS, '/sys/fs/bpf']) {
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir)) {
      if (!f.startsWith('ironlab')) continue;
      rmSync(join(dir, f), { recursive: true, force: true });
      removed.push(join(dir, f));
    }
  }
  // tc made /sys/fs/bpf/tc/globals and the ip/xdp links to it: remove them too, but only when nothing is left.
  try {
    if (readdirSync(TC_GLOBALS).length === 0 && readdirSync('/sys/fs/bpf/tc').length === 1) {
      for (const l of ['ip', 'xdp']) rmSync(join('/sys/fs/bpf', l), { force: true });
      rmSync('/sys/fs/bpf/tc', { recursive: true, force: true });
    }
  } catch {
    /* never created */
  }
  return removed;
}

/**
 * The reaper: stop this process's enforcers, then undo what dead ones recorded (quotas, filters, the IRON
 * switch), remove our filters from any interface named or labelled ironlab, and remove ironlab pins.
 * Returns what it removed or restored.
 */
export async function reapEnforcement(opts: { stateDir?: string; spareLive?: boolean } = {}): Promise<string[]> {
  const done: string[] = [];
  if (!opts.spareLive) {
    for (const e of [...live]) {
      await e.stop();
      done.push(`enforcer ${e.id} stopped`);
    }
  }
  const liveIds = new Set([...live].map((e) => e.id));
  const dir = opts.stateDir ?? DEFAULT_STATE_DIR;
  /** Interfaces another live agent (or a spared run of ours) recorded: their programs are not ours to strip. */
  const owned = new Set<string>();
  for (const s of readStates(dir)) {
    if ((s.pid !== process.pid && pidAlive(s.pid)) || liveIds.has(s.id)) for (const t of [...s.tc, ...(s.xdp ?? [])]) owned.add(t.dev);
    if (s.pid !== process.pid && pidAlive(s.pid)) continue; // another live agent's: not ours to undo
    if (liveIds.has(s.id)) continue; // spared: a run of this process still in progress
    for (const q of s.quotas) {
      try {
        const cur = parseQuotaUs(readFileSync(q.file, 'utf8'));
        if (cur !== q.quotaUs) {
          writeFileSync(q.file, formatQuota(q.file, q.quotaUs));
          done.push(`quota ${q.file} = ${q.quotaUs}`);
        }
      } catch {
        /* cgroup gone */
      }
    }
    for (const t of s.xdp ?? []) {
      done.push(...detachXdp(t));
      if (t.aliased) quietIp(t, ['link', 'set', 'dev', t.dev, 'alias', '']);
    }
    for (const t of s.tc) {
      done.push(...detachDrop(t));
      if (t.aliased) quietIp(t, ['link', 'set', 'dev', t.dev, 'alias', '']);
    }
    if (s.ironSwitch) {
      if (s.ironOwners?.length) {
        removeIronOwners(s.ironSwitch.procRoot, s.ironOwners);
        done.push(`iron owners -${s.ironOwners.join(', -')}`);
      }
      restoreIronSwitch(s.ironSwitch.procRoot, s.ironSwitch.value);
      done.push(`iron switch = ${s.ironSwitch.value}`);
    }
    removeState(dir, s.id);
  }
  if (!(opts.spareLive && live.size)) done.push(...reapLabelledInterfaces(owned)); // live filters are labelled too
  if (!readStates(dir).some((s) => pidAlive(s.pid))) done.push(...removePins().map((p) => `pin ${p}`));
  return done;
}

/** Our filters and XDP programs on host interfaces named ironlab* or labelled with our alias (never anything else's). */
function reapLabelledInterfaces(owned: ReadonlySet<string>): string[] {
  let links: { ifname: string; ifalias?: string }[] = [];
  try {
    links = JSON.parse(execFileSync('ip', ['-j', 'link', 'show'], { encoding: 'utf8' }));
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const l of links) {
    if (!l.ifname.startsWith('ironlab') && l.ifalias !== ALIAS) continue;
    if (owned.has(l.ifname)) continue; // a live agent's run: it removes its own
    const xdp = detachXdp({ dev: l.ifname });
    out.push(...xdp);
    if (!ourFilters({ dev: l.ifname }).length && !xdp.length) continue;
    out.push(...detachDrop({ dev: l.ifname, createdClsact: false }));
    if (l.ifalias === ALIAS) quietIp({}, ['link', 'set', 'dev', l.ifname, 'alias', '']);
  }
  return out;
}
