// Run guards: which conditions put a run out of guard, in the words the report shows.
import { describe, expect, it } from 'vitest';
import { sample } from '../../agents/samples.ts';
import { guardViolations } from '../../orchestrator/analysis/guards.ts';
import { DEFAULT_GUARDS } from '../../orchestrator/campaign/spec.ts';

const run = { victim: { cpus: [0] }, durationS: 5 };
const load = (achieved: number, source = 'iperf3') => [
  sample('offered_gbps', 1, 'Gbit/s', { container: 'neighbour-0' }),
  sample('achieved_gbps', achieved, 'Gbit/s', { container: 'neighbour-0', source }),
];

describe('guardViolations', () => {
  it('passes a run with nothing to say, and a run whose backend reports none of the metrics', () => {
    expect(guardViolations([sample('window_s', 5, 's'), ...load(0.95)], run, DEFAULT_GUARDS)).toEqual([]);
    expect(guardViolations([sample('victim_events_per_sec', 500, 'events/s', { container: 'victim' })], run, DEFAULT_GUARDS)).toEqual([]);
  });

  it('names a flood that missed its offered rate, preferring iperf3 over the NIC counters', () => {
    expect(guardViolations(load(0.8), run, DEFAULT_GUARDS)).toEqual([
      'neighbour-0 achieved 0.80 of 1 Gbit/s offered (iperf3, 20% off, tolerance 10%)',
    ]);
    expect(guardViolations([...load(0.8, 'nic'), ...load(0.99).slice(1)], run, DEFAULT_GUARDS)).toEqual([]);
    // a sender reaches what its quota allows: that is the measurement
    expect(guardViolations(load(0.5), { ...run, workload: 'udp-sender' }, DEFAULT_GUARDS)).toEqual([]);
    expect(guardViolations(load(0.5), { ...run, workload: 'tcp-sender' }, DEFAULT_GUARDS)).toEqual([]);
    // a receiver flood given a rate is paced by its peer (iperf3 -b), TCP as UDP: missing it is a condition
    expect(guardViolations(load(0.5), { ...run, workload: 'tcp-receiver' }, DEFAULT_GUARDS)).toHaveLength(1);
    expect(guardViolations(load(0.5), { ...run, workload: 'udp-receiver' }, DEFAULT_GUARDS)).toHaveLength(1);
    // an unlimited flood (no offered rate) has nothing to miss
    expect(
      guardViolations([sample('achieved_gbps', 0.1, 'Gbit/s', { container: 'neighbour-0', source: 'nic' })], run, DEFAULT_GUARDS),
    ).toEqual([]);
  });

  it('names steal and foreign CPU on a victim core as a share of the window, and only on the victim cores', () => {
    const samples = [
      sample('window_s', 4, 's'),
      sample('steal_time_s', 0.48, 's', { core: '0' }),
      sample('steal_time_s', 3, 's', { core: '1' }),
      sample('foreign_cpu_time_s', 0.12, 's', { core: '0', who: 'dockerd' }),
      sample('foreign_cpu_time_s', 0.12, 's', { core: '0', who: 'agent' }),
    ];
    expect(guardViolations(samples, run, DEFAULT_GUARDS)).toEqual([
      'steal 12% on core 0 (limit 2.0%)',
      'foreign CPU 6.0% on core 0 (limit 5.0%)',
    ]);
    // a guard set to null is off
    expect(guardViolations(samples, run, { ...DEFAULT_GUARDS, maxStealShare: null, maxForeignCpuShare: 0.1 })).toEqual([]);
  });
});
