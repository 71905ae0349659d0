// Expectations: a campaign file's CI checks (`expect:`). Each one selects scenarios the way an `exclude:` filter
// does (the same `matches`) and bounds a statistic of their penalty: the mean, or the lower or upper end of its
// 95% interval. After the analysis each bound gets a verdict:
//   passed       the statistic meets the bound;
//   failed       it does not, and the whole 95% interval lies beyond the bound;
//   inconclusive it does not, but the interval straddles the bound (or there is no interval / no data).
// So `upper: { max: 1.10 }` passes only when the penalty is confidently at most 1.10, and fails only when it is
// confidently above; `mean: { max: 1.10 }` passes on the point estimate and fails only beyond the interval.
import { DEFAULT_VICTIM } from '../../workloads/catalog.ts';
import { controlOf } from '../../workloads/registry.ts';
import { type Enforcement } from '../../agents/enforcement/modes.ts';
import { expandCells, matches, type Cell } from './matrix.ts';
import type { CampaignSpec, ExcludeFilter, ExpectationSpec, PenaltyBound } from './model.ts';

export type Verdict = 'passed' | 'failed' | 'inconclusive';
export type Statistic = 'mean' | 'lower' | 'upper';
export const STATISTICS: readonly Statistic[] = ['mean', 'lower', 'upper'];

/** The part of an analysed scenario an expectation reads (ScenarioSummary and the JSON report both have it). */
export interface MeasuredScenario {
  scenarioId: string;
  enforcement: Enforcement;
  penalty: { mean: number | null; ci95: readonly [number, number] | [number, number] | null; n: number };
}

export interface BoundCheck {
  statistic: Statistic;
  op: '<=' | '>=';
  bound: number;
  /** The statistic as measured; null when it could not be computed. */
  value: number | null;
  verdict: Verdict;
}
export interface ScenarioCheck {
  scenarioId: string;
  enforcement: Enforcement;
  mean: number | null;
  ci95: [number, number] | null;
  n: number;
  checks: BoundCheck[];
  verdict: Verdict;
  /** Why a verdict is inconclusive without figures (no completed run, no interval). */
  note?: string;
}
export interface ExpectationResult {
  name: string;
  /** The bounds as written: `upper <= 1.10`, `lower >= 3`. */
  bounds: string;
  verdict: Verdict;
  scenarios: ScenarioCheck[];
}

/** The scenarios (cell x enforcement, excluded ones left out, the victim's control has no penalty) a selector picks. */
export function selectedScenarios(
  selector: ExcludeFilter,
  cells: readonly Cell[],
  enforcements: readonly Enforcement[],
): { cell: Cell; enforcement: Enforcement }[] {
  const out: { cell: Cell; enforcement: Enforcement }[] = [];
  for (const cell of cells) {
    if (cell.workload === controlOf(cell.settings.victim.workload ?? DEFAULT_VICTIM)) continue;
    for (const enforcement of enforcements)
      if (!cell.excludedFor.includes(enforcement) && matches(selector, cell, enforcement)) out.push({ cell, enforcement });
  }
  return out;
}

/** The selector in words: `workload tcp-receiver, rateGbps 9, enforcement none` (`every scenario` when empty). */
export function selectorText(selector: ExcludeFilter): string {
  const keys = ['workload', 'label', 'rateGbps', 'flows', 'messageBytes', 'enforcement'] as const;
  const words = keys
    .filter((k) => selector[k] !== undefined)
    .map((k) => `${k} ${(selector[k] as unknown[]).map((v) => (v === null ? 'unlimited' : String(v))).join('|')}`);
  return words.length ? words.join(', ') : 'every scenario';
}

/** Each bound of an expectation as one comparison, in the order mean, lower, upper (min before max). */
export function boundsOf(e: Pick<ExpectationSpec, Statistic>): { statistic: Statistic; op: '<=' | '>='; bound: number }[] {
  return STATISTICS.flatMap((statistic) => {
    const b: PenaltyBound | undefined = e[statistic];
    if (!b) return [];
    return [
      ...(b.min !== undefined ? [{ statistic, op: '>=' as const, bound: b.min }] : []),
      ...(b.max !== undefined ? [{ statistic, op: '<=' as const, bound: b.max }] : []),
    ];
  });
}

export function boundsText(e: Pick<ExpectationSpec, Statistic>): string {
  return boundsOf(e)
    .map((b) => `${b.statistic} ${b.op} ${b.bound}`)
    .join(', ');
}

/** The name an expectation gets when the file gives none: its selector and its bounds. */
export function describeExpectation(e: ExpectationSpec, index: number): string {
  return `expect[${index}]: ${selectorText(e)}: ${boundsText(e)}`;
}

/** The verdict of one bound on one measured penalty (see the top of this file). */
export function checkBound(statistic: Statistic, op: '<=' | '>=', bound: number, penalty: MeasuredScenario['penalty']): BoundCheck {
  const ci = penalty.ci95;
  const value = statistic === 'mean' ? penalty.mean : ci ? ci[statistic === 'lower' ? 0 : 1] : null;
  const meets = value !== null && (op === '<=' ? value <= bound : value >= bound);
  let verdict: Verdict;
  if (penalty.mean === null) verdict = 'inconclusive';
  else if (meets) verdict = 'passed';
  else if (!ci) verdict = 'inconclusive';
  else verdict = (op === '<=' ? ci[0] > bound : ci[1] < bound) ? 'failed' : 'inconclusive';
  return { statistic, op, bound, value, verdict };
}

/** failed > inconclusive > passed. */
export function worstVerdict(verdicts: Iterable<Verdict>): Verdict {
  let worst: Verdict = 'passed';
  for (const v of verdicts) if (v === 'failed' || (v === 'inconclusive' && worst === 'passed')) worst = v;
  return worst;
}

/** Every expectation of the campaign against its analysed scenarios (a selected scenario without data is inconclusive). */
export function evaluateExpectations(spec: CampaignSpec, measured: readonly MeasuredScenario[]): ExpectationResult[] {
  if (!spec.expect?.length) return [];
  const cells = expandCells(spec);
  const byKey = new Map(measured.map((m) => [`${m.scenarioId}\0${m.enforcement}`, m]));
  return spec.expect.map((e) => {
    const bounds = boundsOf(e);
    const scenarios = selectedScenarios(e, cells, spec.enforcement).map(({ cell, enforcement }): ScenarioCheck => {
      const m = byKey.get(`${cell.scenarioId}\0${enforcement}`);
      const penalty = m?.penalty ?? { mean: null, ci95: null, n: 0 };
      const checks = bounds.map((b) => checkBound(b.statistic, b.op, b.bound, penalty));
      const check: ScenarioCheck = {
        scenarioId: cell.scenarioId,
        enforcement,
        mean: penalty.mean,
        ci95: penalty.ci95 ? [penalty.ci95[0], penalty.ci95[1]] : null,
        n: penalty.n,
        checks,
        verdict: worstVerdict(checks.map((c) => c.verdict)),
      };
      if (penalty.mean === null) check.note = 'no completed run';
      else if (!penalty.ci95 && check.verdict === 'inconclusive') check.note = 'no 95% interval (fewer than 2 repetitions, or unbounded)';
      return check;
    });
    return { name: e.name, bounds: boundsText(e), verdict: worstVerdict(scenarios.map((s) => s.verdict)), scenarios };
  });
}
