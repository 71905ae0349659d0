// Finding a cgroup's CFS period boundary from nr_periods (period-clock.ts), on a fake counter and clock: the
// estimate is within one poll of the true boundary; a counter that never moves (an idle group) gives none.
import { describe, expect, it } from 'vitest';
import { findPeriodBoundary } from '../../agents/enforcement/period-clock.ts';

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
});
