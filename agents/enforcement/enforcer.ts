// The one entry point the docker backend drives: createEnforcer(mode, {containers, periodUs}) -> start / stop /
// beginWindow / samples, and reapEnforcement() for the agent's reaper.
//   none        accounting only (when eBPF is available): where the network softirq time went, nothing applied
//   ebpf        accounting + charging through cfs_quota_us + tc drops for throttled owners
//   iron-kernel the kernel's IRON switch on (verified, restored at stop) + accounting when available
// Everything it creates is named ironlab*; everything it changes is recorded first in a state file.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Enforcement } from '../../workloads/catalog.ts';
import { METRIC, sample, type Sample } from '../samples.ts';
import { Accounting, accountingSamples, cgroupInode, diffSnapshots, summarize, type AcctSnapshot, type Owner } from './accounting.ts';
import { buildBpf, DEFAULT_CACHE_DIR, type BpfObjects } from './build.ts';
import { ebpfMissing, requireMode } from './capabilities.ts';
import { ChargingController, type QuotaIo, type TickInput } from './charging.ts';
import { DropMap, readCpuStat, shouldDrop } from './dropping.ts';
import { IronKernelSwitch, detectIronKernel, restoreIronSwitch } from './iron-kernel.ts';
import { DEFAULT_STATE_DIR, pidAlive, readStates, removeState, writeState, type EnforcementState } from './state.ts';
import { attachDrop, detachDrop, ourFilters, TC_GLOBALS } from './tc.ts';

export const ENFORCEMENT_VERSION = 'ironlab-ebpf-1';
export const ALIAS = 'ironlab-enforced';

export interface EnforcedContainer {
  name: string;
  ipv4: string;
  cgroupCpuPath: string;
  cgroupCpuacctPath: string;
  /** Host-side veth: the drop filter goes on both its directions. */
  hostVeth?: string;
  /** Netns file holding hostVeth, when it is not the agent's (tests). */
  hostVethNetns?: string;
}
export interface EnforcerOptions {
  containers: EnforcedContainer[];
  periodUs: number;
  /** Controller tick; at least one period (each quota write refills the runtime). Default max(5 periods, 500 ms). */
  tickMs?: number;
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
  private timer: NodeJS.Timeout | null = null;
  private owners: Owner[] = [];
  private lastTick: { at: bigint; snap: AcctSnapshot; throttled: Map<string, number> } | null = null;
  private window: { snap: AcctSnapshot; dropped: Map<string, number> } | null = null;
  private state: EnforcementState;
  private stateDir: string;
  private why = '';
  // What the controller did, for the run's provenance (did charging write quotas, did drops switch on).
  private ticks = 0;
  private dropOnTicks = new Map<string, number>();
  private dropTicks = new Map<string, number>();
  private minQuota = new Map<string, number>();
  private maxQuota = new Map<string, number>();
  private lastWindowCpu: Map<number, { totalNs: number; byOwner: Map<string, number> }> | null = null;

  constructor(readonly mode: Enforcement, private o: EnforcerOptions) {
    this.stateDir = o.stateDir ?? DEFAULT_STATE_DIR;
    this.state = { id: this.id, pid: process.pid, mode, quotas: [], tc: [] };
  }

  async start(): Promise<void> {
    if (this.lastTick || this.iron) return; // already started
    live.add(this);
    try {
      if (this.mode !== 'none') requireMode(this.mode, { procRoot: this.o.procRoot });
      if (this.mode === 'iron-kernel') {
        this.iron = new IronKernelSwitch(this.o.procRoot ?? '/proc');
        // recorded (with the value found) before the switch changes: a crash in between leaves it restorable
        this.state.ironSwitch = { procRoot: this.iron.procRoot, value: detectIronKernel(this.iron.procRoot).enabled ? '1' : '0' };
        writeState(this.stateDir, this.state);
        this.iron.set(true);
      }
      const missing = this.mode === 'ebpf' ? [] : ebpfMissing();
      if (missing.length) this.why = missing.join('; ');
      else this.startAccounting();
      if (this.mode === 'ebpf') this.startEnforcing();
      this.beginWindow();
    } catch (e) {
      await this.stop();
      throw e;
    }
  }

  private startAccounting(): void {
    this.objs = buildBpf(this.o.cacheDir ?? DEFAULT_CACHE_DIR);
    this.owners = this.o.containers.map((c) => ({ name: c.name, ipv4: c.ipv4, cgroupIno: cgroupInode(c.cgroupCpuPath) }));
    this.acct = Accounting.start(this.objs.acct);
    this.accounting = true;
    this.lastTick = { at: process.hrtime.bigint(), snap: this.acct.snapshot(), throttled: this.readThrottled() };
  }

  private startEnforcing(): void {
    this.charging = new ChargingController(
      this.o.containers.map((c) => ({ name: c.name, cgroupCpuPath: c.cgroupCpuPath })),
      { io: this.o.quotaIo },
    );
    this.state.quotas = this.charging.originals();
    writeState(this.stateDir, this.state); // before the first quota write or filter
    for (const c of this.o.containers) {
      if (!c.hostVeth) continue;
      const t = { dev: c.hostVeth, netns: c.hostVethNetns };
      const aliased = !c.hostVeth.startsWith('ironlab');
      // recorded with its original alias before the label goes on (the reaper may then look, and put it back)
      this.state.tc.push({ ...t, createdClsact: false, aliased, ...(aliased ? { originalAlias: linkAlias(t) } : {}) });
      writeState(this.stateDir, this.state);
      if (aliased) ip(t, ['link', 'set', 'dev', c.hostVeth, 'alias', ALIAS]); // label it, so the reaper may look
      this.state.tc[this.state.tc.length - 1] = { ...this.state.tc[this.state.tc.length - 1], ...attachDrop(t, this.objs!.drop) };
      writeState(this.stateDir, this.state);
    }
    if (this.state.tc.length) this.drops = new DropMap();
    const tickMs = Math.max(this.o.periodUs / 1000, this.o.tickMs ?? Math.max((5 * this.o.periodUs) / 1000, 500));
    this.timer = setInterval(() => this.tick(), tickMs);
    this.timer.unref();
  }

  private readThrottled(): Map<string, number> {
    const m = new Map<string, number>();
    for (const c of this.o.containers) {
      try {
        m.set(c.name, readCpuStat(c.cgroupCpuPath).nrThrottled);
      } catch {
        /* container gone */
      }
    }
    return m;
  }

  /** One controller step: charge/credit since the last tick, then drop flags. */
  private tick(): void {
    if (!this.acct || !this.lastTick || !this.charging) return;
    const now = process.hrtime.bigint();
    const snap = this.acct.snapshot();
    const throttled = this.readThrottled();
    const sum = summarize(diffSnapshots(this.lastTick.snap, snap), this.owners);
    const inputs = new Map<string, TickInput>();
    for (const [name, f] of sum.owners) {
      inputs.set(name, { chargeNs: f.chargeNs, creditNs: f.creditNs, throttledDelta: (throttled.get(name) ?? 0) - (this.lastTick.throttled.get(name) ?? 0) });
    }
    this.charging.tick(Number(now - this.lastTick.at) / 1000, inputs);
    for (const c of this.o.containers) {
      const st = this.charging.state(c.name);
      // An unconstrained group (a traffic peer, quota -1) is never charged, so it is never throttled for it.
      if (!st || !this.drops || st.baseUs <= 0) continue;
      const on = shouldDrop(inputs.get(c.name)?.throttledDelta ?? 0, st.debtUs, st.baseUs);
      if (this.drops.set(c.ipv4, on) && on) this.dropOnTicks.set(c.name, (this.dropOnTicks.get(c.name) ?? 0) + 1);
      if (on) this.dropTicks.set(c.name, (this.dropTicks.get(c.name) ?? 0) + 1);
      this.minQuota.set(c.name, Math.min(this.minQuota.get(c.name) ?? Infinity, st.currentUs));
      this.maxQuota.set(c.name, Math.max(this.maxQuota.get(c.name) ?? -Infinity, st.currentUs));
    }
    this.ticks++;
    this.lastTick = { at: now, snap, throttled };
  }

  beginWindow(): void {
    if (!this.acct) return;
    const dropped = new Map(this.o.containers.map((c) => [c.name, this.drops?.dropped(c.ipv4) ?? 0]));
    this.window = { snap: this.acct.snapshot(), dropped };
  }

  samples(windowS: number): Sample[] {
    if (!this.acct || !this.window || !(windowS > 0)) return [];
    const delta = diffSnapshots(this.window.snap, this.acct.snapshot());
    const sum = summarize(delta, this.owners);
    this.lastWindowCpu = netRxByCpu(delta, this.owners);
    const out = accountingSamples(sum, this.mode === 'ebpf');
    if (this.drops) {
      for (const c of this.o.containers) {
        const n = this.drops.dropped(c.ipv4) - (this.window.dropped.get(c.name) ?? 0);
        out.push(sample(METRIC.packetsDropped, n, 'packets', { container: c.name, reason: 'ebpf_throttled' }));
      }
    }
    return out;
  }

  provenance(): Record<string, string | number | null> {
    const p: Record<string, string | number | null> = {
      enforcement: this.mode,
      enforcementVersion: ENFORCEMENT_VERSION,
      ebpfAccounting: this.accounting ? 'on' : `off: ${this.why || 'not started'}`,
      ironKernelFound: this.iron?.found ?? null,
    };
    // Where each CPU's NET_RX time went in the last samples() window (tracepoint totals vs attributed by owner).
    for (const [cpu, f] of this.lastWindowCpu ?? []) {
      if (f.totalNs < 1e6) continue; // under a millisecond: noise
      p[`acct.cpu${cpu}.netRxS`] = round(f.totalNs / 1e9);
      for (const [name, ns] of f.byOwner) if (ns > 0) p[`acct.cpu${cpu}.netRxShare.${name}`] = round(ns / f.totalNs);
    }
    if (this.charging) {
      p['charging.ticks'] = this.ticks;
      for (const c of this.o.containers) {
        const st = this.charging.state(c.name);
        if (!st || st.baseUs <= 0) continue;
        p[`charging.${c.name}.quotaWrites`] = st.writes;
        p[`charging.${c.name}.baseQuotaUs`] = st.baseUs;
        p[`charging.${c.name}.minQuotaUs`] = this.minQuota.get(c.name) ?? st.baseUs;
        p[`charging.${c.name}.maxQuotaUs`] = this.maxQuota.get(c.name) ?? st.baseUs;
        p[`charging.${c.name}.chargedS`] = round(st.chargedUs / 1e6);
        p[`charging.${c.name}.creditedS`] = round(st.creditedUs / 1e6);
        p[`charging.${c.name}.debtS`] = round(st.debtUs / 1e6);
        p[`dropping.${c.name}.ticksOn`] = this.dropTicks.get(c.name) ?? 0;
      }
    }
    return p;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.drops?.close();
    this.drops = null;
    for (const t of this.state.tc) {
      detachDrop(t);
      if (t.aliased) quietIp(t, ['link', 'set', 'dev', t.dev, 'alias', t.originalAlias ?? '']);
    }
    this.charging?.restore();
    this.charging = null;
    this.iron?.restore();
    this.iron = null;
    this.acct?.stop();
    this.acct = null;
    this.lastTick = null;
    this.window = null;
    live.delete(this);
    removeState(this.stateDir, this.id);
    // The pinned drop maps are shared by every enforcer on the host: remove them when the last one is gone.
    if (this.state.tc.length && !readStates(this.stateDir).some((s) => pidAlive(s.pid))) removePins();
    this.state.tc = [];
  }
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
/** The interface's alias now ('' when none), to put back at teardown. */
function linkAlias(t: { dev: string; netns?: string }): string {
  const argv = t.netns ? ['nsenter', `--net=${t.netns}`, '--', 'ip', '-j', 'link', 'show', 'dev', t.dev] : ['ip', '-j', 'link', 'show', 'dev', t.dev];
  return (JSON.parse(execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8' })) as { ifalias?: string }[])[0]?.ifalias ?? '';
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
  /** Interfaces another live agent (or a spared run of ours) recorded: their filters are not ours to strip. */
  const owned = new Set<string>();
  for (const s of readStates(dir)) {
    if ((s.pid !== process.pid && pidAlive(s.pid)) || liveIds.has(s.id)) for (const t of s.tc) owned.add(t.dev);
    if (s.pid !== process.pid && pidAlive(s.pid)) continue; // another live agent's: not ours to undo
    if (liveIds.has(s.id)) continue; // spared: a run of this process still in progress
    for (const q of s.quotas) {
      try {
        const cur = Number(readFileSync(q.file, 'utf8').trim());
        if (cur !== q.quotaUs) {
          writeFileSync(q.file, String(q.quotaUs));
          done.push(`quota ${q.file} = ${q.quotaUs}`);
        }
      } catch {
        /* cgroup gone */
      }
    }
    for (const t of s.tc) {
      done.push(...detachDrop(t));
      if (t.aliased) quietIp(t, ['link', 'set', 'dev', t.dev, 'alias', t.originalAlias ?? '']);
    }
    if (s.ironSwitch) {
      restoreIronSwitch(s.ironSwitch.procRoot, s.ironSwitch.value);
      done.push(`iron switch = ${s.ironSwitch.value}`);
    }
    removeState(dir, s.id);
  }
  if (!(opts.spareLive && live.size)) done.push(...reapLabelledInterfaces(owned)); // live filters are labelled too
  if (!readStates(dir).some((s) => pidAlive(s.pid))) done.push(...removePins().map((p) => `pin ${p}`));
  return done;
}

/** Our filters on host interfaces named ironlab* or labelled with our alias (never anything else's). */
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
    if (!ourFilters({ dev: l.ifname }).length) continue;
    out.push(...detachDrop({ dev: l.ifname, createdClsact: false }));
    if (l.ifalias === ALIAS) quietIp({}, ['link', 'set', 'dev', l.ifname, 'alias', '']);
  }
  return out;
}
