// Run guards: a run measured under conditions that would bias its penalty is marked with the reason and
// repeated (the campaign's maxAttempts bounds it). Out of guard: a flood whose achieved load misses its offered
// rate by more than the tolerance, or steal time / foreign CPU on a victim core above its share of the window.
// The load guard is for floods whose rate is set by an unconstrained generator, the receiver floods' peer (iperf3
// -b): a UDP receiver flood, and a TCP receiver flood given a rate (paced below what its receiver drains, so its
// load is the scenario's, not whatever the window lets through). A TCP receiver flood without a rate is paced by
// its receiver and a sender by its own quota: what they reach is the measurement, not a condition.
// A guard whose metric the backend did not report does not fire. Pure: the run machine asks it after collect.
import { METRIC, type Sample } from '../../agents/samples.ts';
import type { GuardSpec } from '../campaign/spec.ts';
import type { WorkloadKind } from '../../workloads/catalog.ts';
import { floodLoads, perCoreShare, windowOf } from './conditions.ts';

/** Floods whose offered rate is up to the testbed to deliver (see the note at the top; only those given a rate). */
const OPEN_LOOP: readonly WorkloadKind[] = ['udp-receiver', 'tcp-receiver'];

const pct = (x: number) => `${(x * 100).toFixed(x < 0.1 ? 1 : 0)}%`;

/** Why the run is out of guard, one phrase per violation (e.g. "steal 12% on core 0"); empty = in guard. */
export function guardViolations(
  samples: readonly Sample[],
  run: { victim: { cpus: number[] }; durationS: number; workload?: WorkloadKind },
  guards: GuardSpec,
): string[] {
  const reasons: string[] = [];
  const windowS = windowOf(samples, run.durationS);
  const cores = run.victim.cpus;
  if (guards.achievedLoadTolerance !== null && (run.workload === undefined || OPEN_LOOP.includes(run.workload)))
    for (const [container, l] of floodLoads(samples)) {
      if (l.offered === null || l.offered <= 0 || l.achieved === null) continue;
      const miss = Math.abs(l.achieved - l.offered) / l.offered;
      if (miss > guards.achievedLoadTolerance)
        reasons.push(
          `${container} achieved ${l.achieved.toFixed(2)} of ${l.offered} Gbit/s offered (${l.source ?? 'unknown source'}, ${pct(miss)} off, tolerance ${pct(guards.achievedLoadTolerance)})`,
        );
    }
  const shareCheck = (metric: string, limit: number | null, what: string) => {
    if (limit === null) return;
    for (const [core, share] of perCoreShare(samples, metric, cores, windowS))
      if (share > limit) reasons.push(`${what} ${pct(share)} on core ${core} (limit ${pct(limit)})`);
  };
  shareCheck(METRIC.stealTimeS, guards.maxStealShare, 'steal');
  shareCheck(METRIC.foreignCpuTimeS, guards.maxForeignCpuShare, 'foreign CPU');
  return reasons;
}
