// Adaptive repetitions (campaign file: `until: { ciHalfWidth: 0.05, maxRepetitions: 10 }`): after the planned
// repetitions, a scenario gets more only while its penalty interval is wider than asked and the cap allows.
// Pure decisions over summaries: the campaign machine asks, appends ledger rows, runs them, asks again.
import { CONTROL_WORKLOAD, type Enforcement, type WorkloadKind } from '../../workloads/catalog.ts';
import type { ScenarioSummary } from './penalty.ts';

export interface Until {
  /** Target half-width of the 95% penalty interval, in penalty units (0.05 = ±0.05 around e.g. 1.03). */
  ciHalfWidth: number;
  /** Cap on the repetitions of one scenario arm, counting the planned ones. */
  maxRepetitions: number;
}

/**
 * Half-width of the headline interval (Fieller, `penalty.ci95`): the larger distance from the point estimate
 * to an end, since the interval is asymmetric and the user reads "penalty ± half-width". Null without an interval.
 */
export function ciHalfWidth(summary: Pick<ScenarioSummary, 'penalty'>): number | null {
  const { mean, ci95 } = summary.penalty;
  if (mean === null || ci95 === null) return null;
  return Math.max(mean - ci95[0], ci95[1] - mean);
}

/**
 * Extra repetitions for this scenario's interference arm (0 = stop). With no interval yet (an arm with < 2
 * done repetitions, or an unbounded interval) the arm is brought to at least 2, else grown by one. With an
 * interval wider than the target, the interval is projected to shrink as 1/√n (both standard errors do) and
 * the arm gets enough to reach the target in one step: ceil(n·(w/target)²) − n. Always capped so the arm
 * never exceeds `maxRepetitions` counting every repetition it already has (done, failed or pending: `n`
 * counts done ones, `notDone` the others).
 */
export function moreRepetitionsNeeded(summary: ScenarioSummary, until: Until): number {
  const n = summary.interference?.n ?? 0;
  const room = Math.max(0, until.maxRepetitions - n - summary.notDone);
  if (room === 0) return 0;
  // the victim made no progress or there is no control: more repetitions of this scenario do not help
  if (summary.control === null || (summary.interference !== null && summary.interference.meanEventsPerSec <= 0)) return 0;
  const w = ciHalfWidth(summary);
  if (w === null) return Math.min(room, Math.max(1, 2 - n));
  if (w <= until.ciHalfWidth) return 0;
  const target = Math.ceil(n * (w / until.ciHalfWidth) ** 2);
  return Math.min(room, Math.max(1, target - n));
}

export interface RepetitionRequest {
  scenarioId: string;
  workload: WorkloadKind;
  enforcement: Enforcement;
  /** Repetitions to add to this arm (always > 0 in a plan). */
  extra: number;
}

/**
 * The whole next round: one request per interference arm that needs more, and one per sysbench control arm
 * (scenarioId of the control, per enforcement mode) that is the bottleneck. A penalty's interval depends on both
 * arms; the control arm is shared by every scenario of its enforcement mode, so it is grown to the largest size
 * any of its scenarios asks for (never above the cap). Empty plan = the campaign is done.
 */
export function repetitionPlan(summaries: readonly ScenarioSummary[], until: Until, controlScenarioId = CONTROL_WORKLOAD as string): RepetitionRequest[] {
  const plan: RepetitionRequest[] = [];
  const controlTarget = new Map<Enforcement, { n: number; target: number }>();
  for (const s of summaries) {
    const extra = moreRepetitionsNeeded(s, until);
    if (extra === 0) continue;
    plan.push({ scenarioId: s.scenarioId, workload: s.workload, enforcement: s.enforcement, extra });
    if (s.control) {
      const wanted = Math.min(until.maxRepetitions, (s.interference?.n ?? 0) + s.notDone + extra);
      const prior = controlTarget.get(s.enforcement);
      controlTarget.set(s.enforcement, { n: s.control.n, target: Math.max(prior?.target ?? 0, wanted) });
    }
  }
  for (const [enforcement, { n, target }] of controlTarget)
    if (target > n) plan.push({ scenarioId: controlScenarioId, workload: CONTROL_WORKLOAD, enforcement, extra: target - n });
  return plan;
}
