// Finding a cgroup's CFS period boundary from nr_periods (period-clock.ts), on a fake counter and clock: the
// estimate is within one poll of the true boundary; a counter that never moves (an idle group) gives none.
import { describe, expect, it } from 'vitest';
import { findPeriodBoundary, PeriodClock } from '../../agents/enforcement/period-clock.ts';

describe('findPeriodBoundary', () => {
  it('finds the period timer within one poll of where it fires', async () => {
    let t = 0n; // fake monotonic clock: 0.7 ms per reading
    const now = () => (t += 700_000n);
    const phaseNs = 37_000_000; // the timer fires at 37 ms, 137 ms, ...
    const read = () => Math.floor((Number(t) - phaseNs) / 100_000_000);
    const b = await findPeriodBoundary(read, 250, now);
    expect(b).not.toBeNull();
    expect(Math.abs(Number(b!) - phaseNs)).toBeLessThanOrEqual(700_000);
  });

  it('gives none when nr_periods does not move or cannot be read', async () => {
    let t = 0n;
    const now = () => (t += 5_000_000n);
    expect(await findPeriodBoundary(() => 7, 250, now)).toBeNull();
    expect(await findPeriodBoundary(() => null, 250, now)).toBeNull();
  });

  it('a group whose workload starts after the clock: unaligned at first, then aligned once its timer runs', async () => {
    let periods = 5; // idle: the period timer does not run
    const clock = await PeriodClock.start('/nonexistent', () => {}, { periodUs: 10_000, searchMs: 20, read: () => periods });
    expect(clock.boundaryNs).toBeNull();
    const moving = setInterval(() => periods++, 10); // the workload started: one refill per period
    try {
      for (let i = 0; i < 100 && clock.boundaryNs === null; i++) await new Promise((r) => setTimeout(r, 10));
      expect(clock.boundaryNs).not.toBeNull();
    } finally {
      clearInterval(moving);
      clock.stop();
    }
  });
});
