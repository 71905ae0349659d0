// One callback per CFS period of a cgroup, just after the kernel's period timer has refilled its runtime.
// Why: every write of cpu.cfs_quota_us refills the group's runtime at once (MACHINE.md). A write at a random
// point of the period hands a group that has already spent its quota a second one in the same period; a write
// right after the kernel's own refill hands out almost nothing (only what the group ran since the refill).
// The phase comes from the group's cpu.stat: nr_periods grows by one at each period timer (kernel/sched/fair.c
// do_sched_cfs_period_timer), and the timer keeps its phase while the quota is rewritten (start_cfs_bandwidth
// only forwards it). Where nr_periods does not move (an idle group stops its timer), the clock runs unaligned.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** nr_periods of a cgroup's CFS bandwidth (cpu.stat), or null when it cannot be read. */
export function nrPeriods(cgroupCpuPath: string): number | null {
  try {
    const m = /^nr_periods (\d+)$/m.exec(readFileSync(join(cgroupCpuPath, 'cpu.stat'), 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

export interface PeriodClockOptions {
  periodUs: number;
  /** How long after the boundary to act (the refill has happened, the group has run little since). */
  delayUs?: number;
  /** Give up looking for the boundary after this long (then run unaligned). */
  searchMs?: number;
  /** For tests: the nr_periods reader and the clock (ns). */
  read?: () => number | null;
  now?: () => bigint;
}

const nowNs = () => process.hrtime.bigint();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * When the group's period timer fires, as a time on the monotonic clock (ns), found by polling nr_periods
 * about every millisecond: the midpoint of the last poll before the change and the first after it. Null when
 * it did not change within `searchMs`.
 */
export async function findPeriodBoundary(read: () => number | null, searchMs: number, now: () => bigint = nowNs): Promise<bigint | null> {
  const first = read();
  if (first === null) return null;
  let before = now();
  const end = before + BigInt(searchMs) * 1_000_000n;
  while (now() < end) {
    await sleep(1);
    const at = now();
    const n = read();
    if (n === null) return null;
    if (n !== first) return (before + at) / 2n;
    before = at;
  }
  return null;
}

/** Calls `fn` once per period, `delayUs` after each of the group's period boundaries (or unaligned). */
export class PeriodClock {
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** The boundary found, or null (unaligned). */
  boundaryNs: bigint | null = null;

  private constructor(private readonly o: Required<Omit<PeriodClockOptions, 'read'>>) {}

  /** Look for the boundary of `cgroupCpuPath`'s period timer, then start calling `fn`. */
  static async start(cgroupCpuPath: string, fn: () => void, opts: PeriodClockOptions): Promise<PeriodClock> {
    const o = { delayUs: 2000, searchMs: 2.5 * (opts.periodUs / 1000), now: nowNs, ...opts };
    const c = new PeriodClock(o);
    const read = o.read ?? (() => nrPeriods(cgroupCpuPath));
    c.boundaryNs = await findPeriodBoundary(read, o.searchMs, o.now);
    if (c.stopped) return c;
    c.schedule(fn);
    // A group whose workload has not started yet (it starts beside the enforcer) has no running period timer:
    // run unaligned meanwhile and keep looking, then switch to the boundary once the timer runs.
    if (c.boundaryNs === null) void c.keepLooking(read, fn);
    return c;
  }

  private async keepLooking(read: () => number | null, fn: () => void): Promise<void> {
    // Bounded, with pauses: the search polls every millisecond, and an idle group must not cost a core that.
    for (let tries = 0; tries < 8 && !this.stopped && this.boundaryNs === null; tries++) {
      if (read() === null) return; // the group is gone: nothing to align to
      const found = await findPeriodBoundary(read, this.o.searchMs, this.o.now);
      if (found === null || this.stopped) {
        await sleep(this.o.searchMs);
        continue;
      }
      this.boundaryNs = found;
      if (this.timer) clearTimeout(this.timer);
      this.schedule(fn);
    }
  }

  private schedule(fn: () => void): void {
    const period = BigInt(Math.round(this.o.periodUs * 1000));
    const now = this.o.now();
    let waitNs: bigint;
    if (this.boundaryNs === null) waitNs = period;
    else {
      // The next boundary + delay after now (computed from the phase each time: late timers do not drift).
      const since = (now - this.boundaryNs - BigInt(this.o.delayUs * 1000)) % period;
      waitNs = period - (since < 0n ? since + period : since);
      if (waitNs < period / 4n) waitNs += period; // just fired: not twice in one period
    }
    this.timer = setTimeout(
      () => {
        if (this.stopped) return;
        fn();
        this.schedule(fn);
      },
      Math.ceil(Number(waitNs) / 1e6),
    ); // never before the target (setTimeout counts whole ms)
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
