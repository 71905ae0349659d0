// What a penalty divides, in words, for the table's footer and the HTML report: the victim's primary metric with
// its unit and the control it is compared with, taken from the summaries (workloads/registry.ts says both), so a
// latency victim's table does not speak of events/s.
import type { ScenarioSummary } from '../analysis/penalty.ts';
import type { PrimaryMetric } from '../../workloads/workload.ts';

/** `victim events/s` for a rate; `victim p99 latency (ms)` for anything else. */
export function victimValueWords(m: PrimaryMetric): string {
  if (m.unit.includes('/')) return `victim ${m.unit}`;
  const words = m.metric
    .replace(/^victim_/, '')
    .replace(new RegExp(`_${m.unit}$`), '')
    .replaceAll('_', ' ');
  return `victim ${words} (${m.unit})`;
}

const SYSBENCH_METRIC: PrimaryMetric = { metric: 'victim_events_per_sec', unit: 'events/s', higherIsBetter: true };

/** One definition per victim metric and control in the summaries (the paper's sysbench one when there are none). */
export function penaltyDefinitions(summaries: readonly ScenarioSummary[]): string[] {
  const seen = new Map<string, string>();
  for (const s of summaries.length ? summaries : [undefined]) {
    const m = s?.victimMetric ?? SYSBENCH_METRIC;
    const control = s?.controlWorkload ?? 'sysbench';
    const value = victimValueWords(m);
    seen.set(
      `${m.metric}\0${control}`,
      m.higherIsBetter
        ? `penalty = ${value} with ${control} neighbours / with these neighbours (1.00 = perfect isolation)`
        : `penalty = ${value} with these neighbours / with ${control} neighbours (lower is better, so > 1 = slower; 1.00 = perfect isolation)`,
    );
  }
  return [...seen.values()];
}

/** The column header for the arms' mean primary metric: the victim's words when all rows share one metric. */
export function victimValueHeader(summaries: readonly ScenarioSummary[]): string {
  const metrics = new Map(summaries.map((s) => [s.victimMetric?.metric ?? SYSBENCH_METRIC.metric, s.victimMetric ?? SYSBENCH_METRIC]));
  return metrics.size === 1 ? victimValueWords([...metrics.values()][0]) : 'victim primary metric';
}
