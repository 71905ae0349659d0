// The repro bench's account of a scenario that misses its targets: which target, and why from its counters.
import { describe, expect, it } from 'vitest';
import { countersInWords, missedTargets, type ScenarioJson } from '../bench/repro-bench.ts';

const spread = (min: number, max: number) => ({ min, max, mean: (min + max) / 2, cv: null, n: 2 });
const conditions = {
  achievedGbps: spread(0.35, 0.44),
  offeredGbps: spread(1, 1),
  loadRatio: spread(0.35, 0.44),
  stealShare: spread(0, 0.004),
  foreignCpuShare: spread(0.01, 0.03),
  foreignCpuByWho: { dockerd: spread(0.005, 0.02), agent: spread(0.001, 0.002) },
  softirqPerSec: spread(9000, 12000),
  ksoftirqdShare: spread(0.02, 0.51),
};
const scenario = (mean: number, ci95: [number, number] | null): ScenarioJson => ({
  id: 'udp-receiver rateGbps=1',
  enforcement: 'none',
  penalty: { mean, ci95, n: 2 },
  cv: { control: 0.01, interference: 0.12 },
  conditions: { control: null, interference: conditions },
  guards: { control: { repeated: 0, kept: 0 }, interference: { repeated: 2, kept: 2 } },
});

describe('repro: why a scenario misses its targets', () => {
  it('names each missed target', () => {
    expect(missedTargets(scenario(1.5, [1.45, 1.55]), scenario(1.52, [1.49, 1.56]))).toEqual([]);
    expect(missedTargets(scenario(1.5, [1.2, 1.8]), scenario(2.0, null))).toEqual([
      'campaign 1 half-width 20% > 5.0%',
      'campaign 2 half-width unbounded > 5.0%',
      'campaigns 29% apart > 10%',
    ]);
  });

  it('says what the counters say: load against its offered rate, steal, foreign CPU by whom, regime, CV, guards', () => {
    expect(countersInWords(scenario(1.5, [1.2, 1.8]))).toBe(
      'load 0.35-0.44 Gbit/s = 0.35x-0.44x of 1.00 offered; steal <= 0.4%; foreign CPU <= 3.0% (most dockerd 2.0%); ' +
        'ksoftirqd 2.0%-51% of the victim core (both regimes); CV ctl 1.0% / int 12%; guards: 2 repeated, 2 kept out of guard',
    );
    expect(countersInWords({ id: 'x', enforcement: 'none', penalty: { mean: 1, ci95: null, n: 1 } })).toBe('no counters recorded');
  });
});
