// Adaptive repetitions (campaign file: `until: { ciHalfWidth: 0.05, maxRepetitions: 10 }`): after the planned
// repetitions, a scenario gets more only while its penalty interval is wider than asked and the cap allows.
// Pure decisions over summaries: the campaign machine asks, appends ledger rows, runs them, asks again.
import { type WorkloadKind } from '../../workloads/catalog.ts';
import { type Enforcement } from '../../agents/enforcement/modes.ts';
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
  // the interval's sample size: runs (unpaired) or complete blocks (paired)
  const m = summary.penalty.n;
  const room = Math.max(0, until.maxRepetitions - n - summary.notDone);
  if (room === 0) return 0;
  // the victim made no progress or there is no control: more repetitions of this scenario do not help
  if (summary.control === null || (summary.interference !== null && summary.interference.meanEventsPerSec <= 0)) return 0;
  const w = ciHalfWidth(summary);
  if (w === null) return Math.min(room, Math.max(1, 2 - m));
  if (w <= until.ciHalfWidth) return 0;
  const target = Math.ceil(m * (w / until.ciHalfWidth) ** 2);
  return Math.min(room, Math.max(1, target - m));
}

export interface RepetitionRequest {
  scenarioId: string;
  workload: WorkloadKind;
  enforcement: Enforcement;
  /** Repetitions to add to this arm (always > 0 in a plan). */
  extra: number;
}

/**
 * The whole next round: one request per interference arm that needs more, and one per control arm (the
 * scenario each summary names as its control, per enforcement mode) that is the bottleneck. A penalty's interval
 * depends on both arms; a control arm is shared by every scenario with its settings and enforcement mode, so it
 * is grown to the largest size any of its scenarios asks for (never above the cap). In a blocked design
 * (`paired`), every extra block needs its own control run: the control gets as many as the most any of its
 * scenarios asks for. A scenario seen on several hosts asks once, for the most any host needs. Empty = done.
 */
export function repetitionPlan(
  summaries: readonly ScenarioSummary[],
  until: Until,
  options: { paired?: boolean } = {},
): RepetitionRequest[] {
  const plan = new Map<string, RepetitionRequest>();
  const controlTarget = new Map<string, { scenarioId: string; workload: WorkloadKind; enforcement: Enforcement; extra: number }>();
  const add = (r: RepetitionRequest) => {
    const key = `${r.scenarioId}\0${r.enforcement}`;
    const prior = plan.get(key);
    if (!prior || prior.extra < r.extra) plan.set(key, r);
  };
  for (const s of summaries) {
    const extra = moreRepetitionsNeeded(s, until);
    if (extra === 0) continue;
    add({ scenarioId: s.scenarioId, workload: s.workload, enforcement: s.enforcement, extra });
    if (s.control) {
      const controlId = s.controlScenarioId ?? s.controlWorkload;
      const wanted = options.paired ? extra : Math.min(until.maxRepetitions, (s.interference?.n ?? 0) + s.notDone + extra) - s.control.n;
      const key = `${controlId}\0${s.enforcement}`;
      const prior = controlTarget.get(key);
      controlTarget.set(key, {
        scenarioId: controlId,
        workload: s.controlWorkload,
        enforcement: s.enforcement,
        extra: Math.max(prior?.extra ?? 0, wanted),
      });
    }
  }
  for (const { scenarioId, workload, enforcement, extra } of controlTarget.values())
    if (extra > 0) add({ scenarioId, workload, enforcement, extra });
  return [...plan.values()];
}
