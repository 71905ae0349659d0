// `ironlab report --compare A B`: two campaigns side by side per scenario (simulated vs real, before vs after,
// none vs ebpf): both penalties with their 95% intervals, B's penalty over A's, and whether the intervals
// overlap. Scenarios pair by (scenario, enforcement); when the campaigns share no enforcement mode (one ran
// none, the other ebpf) they pair by scenario alone.
// Each pair also gets the baseline verdict of `ironlab run --baseline` (A the baseline, B the campaign checked):
// failed when B's penalty is worse beyond both intervals (B's mean above A's interval and A's mean below B's).
import Table from 'cli-table3';
import type { ScenarioParams, WorkloadKind } from '../../workloads/catalog.ts';
import type { Enforcement } from '../../agents/enforcement/modes.ts';
import type { ScenarioSummary } from '../analysis/penalty.ts';
import type { Verdict } from '../campaign/expectations.ts';
import type { CampaignInfo } from './json.ts';
import { sortScenarios } from './order.ts';
import { formatCi, formatPenalty } from './table.ts';

/** What a comparison reads of a scenario: a ScenarioSummary, or a scenario of a stored JSON report. */
export type ComparedScenario = Pick<ScenarioSummary, 'scenarioId' | 'workload' | 'params' | 'enforcement'> & {
  penalty: { mean: number | null; ci95: [number, number] | null; n: number };
};

export interface CompareSide {
  campaign: CampaignInfo;
  summaries: readonly ComparedScenario[];
}

export interface SidePenalty {
  enforcement: Enforcement;
  mean: number | null;
  ci95: [number, number] | null;
  n: number;
}

export interface CompareRow {
  scenarioId: string;
  workload: WorkloadKind;
  params: ScenarioParams;
  /** The enforcement of the row (A's when the campaigns are paired by scenario alone). */
  enforcement: Enforcement;
  a: SidePenalty | null;
  b: SidePenalty | null;
  /** B's penalty / A's penalty; null when either is missing. */
  ratio: number | null;
  /** Whether the two 95% intervals overlap; null when either interval is missing. */
  overlap: boolean | null;
  /** B checked against baseline A; null when either side lacks the scenario. */
  baseline: BaselineVerdict | null;
}

export interface BaselineVerdict {
  verdict: Verdict;
  /** worse / better: beyond both intervals; same: neither; null: no interval to judge by. */
  change: 'worse' | 'better' | 'same' | null;
}

export interface Comparison {
  a: CampaignInfo;
  b: CampaignInfo;
  pairedBy: 'scenario+enforcement' | 'scenario';
  rows: CompareRow[];
}

export function compareCampaigns(a: CompareSide, b: CompareSide): Comparison {
  const modesA = new Set(a.summaries.map((s) => s.enforcement));
  const shared = b.summaries.some((s) => modesA.has(s.enforcement));
  const pairedBy = shared || a.summaries.length === 0 || b.summaries.length === 0 ? 'scenario+enforcement' : 'scenario';
  const keyOf = (s: ComparedScenario) => (pairedBy === 'scenario' ? s.scenarioId : `${s.scenarioId}\0${s.enforcement}`);
  const byKey = new Map<string, { a?: ComparedScenario; b?: ComparedScenario }>();
  for (const s of a.summaries) byKey.set(keyOf(s), { ...byKey.get(keyOf(s)), a: s });
  for (const s of b.summaries) byKey.set(keyOf(s), { ...byKey.get(keyOf(s)), b: s });
  const rows: CompareRow[] = [];
  for (const { a: sa, b: sb } of byKey.values()) {
    const first = (sa ?? sb)!;
    const pa = side(sa);
    const pb = side(sb);
    rows.push({
      scenarioId: first.scenarioId,
      workload: first.workload,
      params: { ...first.params },
      enforcement: first.enforcement,
      a: pa,
      b: pb,
      ratio: pa?.mean != null && pb?.mean != null && pa.mean !== 0 ? pb.mean / pa.mean : null,
      overlap: pa?.ci95 && pb?.ci95 ? pa.ci95[0] <= pb.ci95[1] && pb.ci95[0] <= pa.ci95[1] : null,
      baseline: pa && pb ? baselineVerdict(pa, pb) : null,
    });
  }
  return { a: a.campaign, b: b.campaign, pairedBy, rows: sortScenarios(rows) };
}

/** B against baseline A: a penalty worse beyond both 95% intervals fails; without intervals nothing can be said. */
export function baselineVerdict(a: Pick<SidePenalty, 'mean' | 'ci95'>, b: Pick<SidePenalty, 'mean' | 'ci95'>): BaselineVerdict {
  if (a.mean === null || b.mean === null || !a.ci95 || !b.ci95) return { verdict: 'inconclusive', change: null };
  if (b.mean > a.ci95[1] && a.mean < b.ci95[0]) return { verdict: 'failed', change: 'worse' };
  if (b.mean < a.ci95[0] && a.mean > b.ci95[1]) return { verdict: 'passed', change: 'better' };
  return { verdict: 'passed', change: 'same' };
}

/** How a baseline verdict reads in a table: `passed`, `passed (better)`, `FAILED (worse)`, `inconclusive`. */
export function formatBaselineVerdict(v: BaselineVerdict | null): string {
  if (!v) return '-';
  const word = v.verdict === 'failed' ? 'FAILED' : v.verdict;
  return v.change === 'worse' || v.change === 'better' ? `${word} (${v.change})` : word;
}

function side(s: ComparedScenario | undefined): SidePenalty | null {
  if (!s) return null;
  return {
    enforcement: s.enforcement,
    mean: s.penalty.mean,
    ci95: s.penalty.ci95 ? [s.penalty.ci95[0], s.penalty.ci95[1]] : null,
    n: s.penalty.n,
  };
}

export function compareTable(c: Comparison, options: { color?: boolean } = {}): string {
  const byScenario = c.pairedBy === 'scenario';
  const table = new Table({
    head: [
      'scenario',
      ...(byScenario ? ['A mode', 'B mode'] : ['enforcement']),
      'A penalty',
      'A 95% CI',
      'B penalty',
      'B 95% CI',
      'B/A',
      'overlap',
      'verdict',
    ],
    colAligns: ['left', ...(byScenario ? ['left', 'left'] : ['left']), 'right', 'right', 'right', 'right', 'right', 'left', 'left'] as (
      'left' | 'right'
    )[],
    style: options.color ? { head: ['bold'], border: ['grey'] } : { head: [], border: [] },
    chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
  });
  for (const r of c.rows) {
    const modes = byScenario ? [r.a?.enforcement ?? '-', r.b?.enforcement ?? '-'] : [r.enforcement];
    table.push([
      r.scenarioId,
      ...modes,
      r.a ? formatPenalty(r.a.mean) : '-',
      r.a ? formatCi(r.a.ci95) : '-',
      r.b ? formatPenalty(r.b.mean) : '-',
      r.b ? formatCi(r.b.ci95) : '-',
      r.ratio === null ? '-' : r.ratio.toFixed(2),
      r.overlap === null ? '-' : r.overlap ? 'yes' : 'NO',
      formatBaselineVerdict(r.baseline),
    ]);
  }
  const lines = table.toString().split('\n');
  lines.splice(2, 0, lines[0].replace('┌', '├').replaceAll('┬', '┼').replace('┐', '┤'));
  const head = [`A = ${c.a.id} (${c.a.name}, ${c.a.mode})`, `B = ${c.b.id} (${c.b.name}, ${c.b.mode})`];
  const legend = `B/A = B's penalty / A's; overlap = the two 95% intervals overlap (NO: the campaigns disagree on this scenario); verdict = B checked against baseline A (FAILED: B's penalty is worse beyond both intervals, as \`ironlab run --baseline\` fails it)${byScenario ? '; paired by scenario: the campaigns share no enforcement mode' : ''}`;
  return [...head, ...lines, legend].join('\n');
}

/** The comparison as a plain object (JSON.stringify it). */
export function compareJson(c: Comparison) {
  return {
    a: { ...c.a },
    b: { ...c.b },
    pairedBy: c.pairedBy,
    scenarios: c.rows.map((r) => ({
      id: r.scenarioId,
      workload: r.workload,
      params: r.params,
      enforcement: r.enforcement,
      a: r.a,
      b: r.b,
      ratio: r.ratio,
      overlap: r.overlap,
      // beyond the first version: B checked against baseline A
      verdict: r.baseline?.verdict ?? null,
      change: r.baseline?.change ?? null,
    })),
  };
}
