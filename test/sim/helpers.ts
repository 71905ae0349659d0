// Shared helpers for the simulated-host tests: paper-default run specs and quick summaries of samples.
import { METRIC, sumOf, type Sample } from '../../agents/samples.ts';
import { paperRunSpec, type PaperRunOptions } from '../../agents/sim/paper-defaults.ts';
import { simulateRun } from '../../agents/sim/simulate.ts';

export function run(o: PaperRunOptions) {
  return simulateRun(paperRunSpec({ warmupS: 0.5, durationS: 2, ...o }));
}

export function victimRate(samples: Sample[]): number {
  return sumOf(samples, METRIC.victimEventsPerSec);
}

export function softirqTotal(samples: Sample[], core = '0'): number {
  return sumOf(samples, METRIC.softirqTimeS, { core });
}

/** Penalty factor of one scenario against the sysbench control, same enforcement and seed. */
export function penalty(o: PaperRunOptions): number {
  const control = run({ ...o, workload: 'sysbench', params: {} });
  return victimRate(control.samples) / victimRate(run(o).samples);
}
