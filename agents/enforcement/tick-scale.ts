// What the tracepoints cannot see, per CPU, from the kernel's own tick accounting.
// The accounting programs bracket a network softirq from the interrupt that raised it (or its entry) to its exit.
// What comes before the guest's handler runs - delivering the interrupt, the VM exit and entry around it - is not
// traced, yet it is taken from the interrupted task all the same. The kernel's tick accounting samples it: a tick
// that lands while the CPU serves an interrupt or a softirq counts as irq/softirq time in /proc/stat (no
// IRQ_TIME_ACCOUNTING here). On the 2-core VM under local-ebpf's UDP flood (RPS to core 0, one IPI per 1-4
// packets; the lead's quiet run of 2026-11-30 22:35) the ticks saw 2.6-2.9 s of NET_RX in core 0's 3 s window where
// the tracepoints saw 0.67-0.82 s (3.4-4.2x), and the victim lost 0.93 s of its own work against 0.33 s seen on
// its time (2.8x): the ticks oversample, the tracepoints undersample. Under a TCP flood the two agree (0.9-1.0x).
// So the owner's charge is scaled, per CPU, by (irq + softirq ticks, network share) / (tracepoint network softirq
// time) over the last second: it is throttled and dropped for what its packets cost. The interrupted task's credit
// stays as traced: never more than it paid. Never below 1 (where the tracepoints see it all their bracket is the
// finer measure), and 1 where the network softirq time on the CPU is too small for ticks (10 ms each) to say anything.
import { readFileSync } from 'node:fs';
import type { AcctSnapshot } from './accounting.ts';
import { parseProcStat, parseSoftirqs } from '../docker/proc-parsers.ts';
import { USER_HZ } from '../docker/window-samples.ts';

/** The window the ratio is taken over: long enough for ticks (10 ms) to resolve a few percent. */
const WINDOW_NS = 1_000_000_000n;
/** Below this share of the window the CPU's network softirq time is left as the tracepoints measured it. */
const MIN_TRACED_SHARE = 0.05;

interface Point {
  at: bigint;
  /** Per CPU: irq + softirq time by ticks (ns), network share of the softirq counts applied. */
  tickNs: number[];
  /** Per CPU: network softirq time by the tracepoints (ns). */
  traceNs: number[];
}

/** Per CPU, since boot: irq and softirq ticks (ns) from /proc/stat, and /proc/softirqs' counts (network, all). */
export interface CpuTicks {
  irqNs: number;
  softirqNs: number;
  netCount: number;
  allCount: number;
}
export function readTicks(procRoot = '/proc'): CpuTicks[] {
  const stat = parseProcStat(readFileSync(`${procRoot}/stat`, 'utf8'));
  const counts = Object.entries(parseSoftirqs(readFileSync(`${procRoot}/softirqs`, 'utf8')));
  const out: CpuTicks[] = [];
  for (const [cpu, t] of stat) {
    const allCount = counts.reduce((s, [, v]) => s + (v[cpu] ?? 0), 0);
    const netCount = counts.filter(([vec]) => vec === 'NET_RX' || vec === 'NET_TX').reduce((s, [, v]) => s + (v[cpu] ?? 0), 0);
    out[cpu] = { irqNs: (t.irq * 1e9) / USER_HZ, softirqNs: (t.softirq * 1e9) / USER_HZ, netCount, allCount };
  }
  return out;
}

/** The network share of a CPU's softirqs between two readings (since-boot totals would weigh all of its past). */
function netShareBetween(p: CpuTicks, c: CpuTicks): number {
  const all = c.allCount - p.allCount;
  return all > 0 ? (c.netCount - p.netCount) / all : 0;
}

/** The per-CPU scale over the last second, from points taken at each controller step. */
export class TickScale {
  private points: Point[] = [];
  private last: CpuTicks[] | null = null;
  /** Sum and count of the factors handed out per CPU, for the provenance. */
  readonly used = new Map<number, { sum: number; n: number }>();

  constructor(private readonly procRoot = '/proc') {}

  /** Record the counters now (the snapshot is the accounting's at the same instant) and return each CPU's factor. */
  step(at: bigint, snap: AcctSnapshot): Map<number, number> {
    const ticks = readTicks(this.procRoot);
    const prev = this.last;
    this.last = ticks;
    const traceNs: number[] = [];
    for (const t of snap.totals) traceNs[t.cpu] = (traceNs[t.cpu] ?? 0) + t.ns;
    // Cumulative tick time, the network share taken per interval (between two steps) so that a share that moves
    // weighs only the ticks of its own interval.
    const before = this.points.at(-1);
    const tickNs = ticks.map((c, cpu) => {
      const p = prev?.[cpu];
      const d = p ? (c.irqNs + c.softirqNs - p.irqNs - p.softirqNs) * netShareBetween(p, c) : 0;
      return (before?.tickNs[cpu] ?? 0) + d;
    });
    this.points.push({ at, tickNs, traceNs });
    while (this.points.length > 2 && at - this.points[1]!.at >= WINDOW_NS) this.points.shift();
    const first = this.points[0]!;
    const spanNs = Number(at - first.at);
    const out = new Map<number, number>();
    for (let cpu = 0; cpu < tickNs.length; cpu++) {
      const traced = (traceNs[cpu] ?? 0) - (first.traceNs[cpu] ?? 0);
      const ticked = (tickNs[cpu] ?? 0) - (first.tickNs[cpu] ?? 0);
      const f = spanNs >= Number(WINDOW_NS) / 2 && traced >= MIN_TRACED_SHARE * spanNs ? Math.max(1, ticked / traced) : 1;
      out.set(cpu, f);
      const u = this.used.get(cpu) ?? { sum: 0, n: 0 };
      this.used.set(cpu, { sum: u.sum + f, n: u.n + 1 });
    }
    return out;
  }
}

/** A delta snapshot with each CPU's attributed time scaled by its factor. */
export function scaleRows(d: AcctSnapshot, factor: ReadonlyMap<number, number>): AcctSnapshot {
  return { ...d, rows: d.rows.map((r) => ({ ...r, ns: r.ns * (factor.get(r.cpu) ?? 1) })) };
}
