// What the HTML report draws, as plain data (pure, unit-tested; the page script only maps it onto ECharts):
// the verdict per workload, the figures of IRON section 2.3 (penalty vs rate per network workload, penalty vs
// flows for the TCP sender), and where the victim core's time went per scenario.
import { CORE_CATEGORIES, type CoreCategory } from '../../agents/samples.ts';
import { type WorkloadKind } from '../../workloads/catalog.ts';
import { ENFORCEMENTS, type Enforcement } from '../../agents/enforcement/modes.ts';
import type { ScenarioSummary } from '../analysis/penalty.ts';
import { sortScenarios } from './order.ts';

/** IRON's claim: with enforcement the penalty stays below 1.05 (section 1 of the paper). */
export const ISOLATION_TARGET = 1.05;

// ---------------------------------------------------------------------------------------------------------
// Verdict: the largest penalty per workload and enforcement mode.

export interface VerdictCell {
  scenarioId: string;
  mean: number;
  ci95: [number, number] | null;
}
export interface VerdictRow {
  workload: WorkloadKind;
  /** Largest penalty per enforcement mode that this campaign ran for the workload. */
  worst: Partial<Record<Enforcement, VerdictCell>>;
}
export interface Verdict {
  modes: Enforcement[];
  rows: VerdictRow[];
  /** One sentence per enforcement mode: the worst penalty overall and whether it stays under the target. */
  sentences: string[];
}

export function verdictOf(summaries: readonly ScenarioSummary[]): Verdict {
  const modes = orderedModes(summaries.map((s) => s.enforcement));
  const rows = new Map<WorkloadKind, VerdictRow>();
  for (const s of sortScenarios(summaries)) {
    if (s.penalty.mean === null) continue;
    const row = rows.get(s.workload) ?? { workload: s.workload, worst: {} };
    rows.set(s.workload, row);
    const prior = row.worst[s.enforcement];
    if (!prior || s.penalty.mean > prior.mean)
      row.worst[s.enforcement] = { scenarioId: s.scenarioId, mean: s.penalty.mean, ci95: s.penalty.ci95 };
  }
  // Every scenario's interval counts: isolation holds only when each one is bounded and within the target; an
  // interval wholly above it says it does not hold; anything else (one reaching above, none at all) is unshown.
  const sentences = modes.flatMap((mode) => {
    const cells = summaries.filter((s) => s.enforcement === mode && s.penalty.mean !== null);
    if (cells.length === 0) return [];
    const worst = cells.reduce((a, b) => (b.penalty.mean! > a.penalty.mean! ? b : a));
    const ci = worst.penalty.ci95 ? ` (95% CI ${worst.penalty.ci95[0].toFixed(2)}–${worst.penalty.ci95[1].toFixed(2)})` : ' (no interval)';
    const label = mode === 'none' ? 'Without enforcement' : `With ${mode}`;
    // the worst scenario first: it names the verdict when it is the reason
    const byWorst = [worst, ...cells.filter((s) => s !== worst)];
    const above = byWorst.find((s) => s.penalty.ci95 && s.penalty.ci95[0] > ISOLATION_TARGET);
    const unbounded = byWorst.find((s) => !s.penalty.ci95);
    const reaching = byWorst.find((s) => s.penalty.ci95 && s.penalty.ci95[1] > ISOLATION_TARGET);
    const verdict = above
      ? `isolation does not hold${above !== worst ? ` (${above.scenarioId}: ${above.penalty.ci95![0].toFixed(2)}–${above.penalty.ci95![1].toFixed(2)})` : ''}`
      : reaching
        ? `isolation is not shown to hold: the interval of ${reaching.scenarioId} reaches above ${ISOLATION_TARGET.toFixed(2)}`
        : unbounded
          ? `isolation is not shown to hold: ${unbounded.scenarioId} has no interval`
          : `isolation holds: every penalty's interval is within ${ISOLATION_TARGET.toFixed(2)}`;
    return [`${label}, the largest penalty is ${worst.penalty.mean!.toFixed(2)}${ci} in ${worst.scenarioId}: ${verdict}.`];
  });
  return { modes, rows: [...rows.values()], sentences };
}

// ---------------------------------------------------------------------------------------------------------
// The figures of section 2.3.

export interface FigurePoint {
  /** The x category ("1", "2.5", "unlimited" for rates; flow counts). */
  x: string;
  mean: number | null;
  ci95: [number, number] | null;
  n: number;
  scenarioId: string;
}
export interface FigureSeries {
  /** Legend text: the enforcement mode, plus any other parameter that varies (e.g. "none · flows=4"). */
  name: string;
  enforcement: Enforcement;
  /** One entry per category of the figure (null where this series has no scenario there). */
  points: (FigurePoint | null)[];
}
export interface Figure {
  id: string;
  title: string;
  workload: WorkloadKind;
  xParam: 'rateGbps' | 'flows';
  xLabel: string;
  /** Drawn only when the campaign ran the workload at two or more values of the x parameter. */
  drawn: boolean;
  /** Why not drawn. */
  why?: string;
  categories: string[];
  series: FigureSeries[];
}

const FIGURE_SPECS: { id: string; title: string; workload: WorkloadKind; xParam: 'rateGbps' | 'flows' }[] = [
  { id: 'udp-sender-rate', title: 'UDP sender: penalty vs rate', workload: 'udp-sender', xParam: 'rateGbps' },
  { id: 'tcp-sender-rate', title: 'TCP sender: penalty vs rate', workload: 'tcp-sender', xParam: 'rateGbps' },
  { id: 'tcp-sender-flows', title: 'TCP sender: penalty vs flows', workload: 'tcp-sender', xParam: 'flows' },
  { id: 'udp-receiver-rate', title: 'UDP receiver: penalty vs rate', workload: 'udp-receiver', xParam: 'rateGbps' },
  { id: 'tcp-receiver-rate', title: 'TCP receiver: penalty vs rate', workload: 'tcp-receiver', xParam: 'rateGbps' },
];

const xValue = (s: ScenarioSummary, param: 'rateGbps' | 'flows'): number =>
  param === 'rateGbps' ? (s.params.rateGbps ?? Infinity) : (s.params.flows ?? 1);
const xText = (v: number) => (v === Infinity ? 'unlimited' : String(v));

/** The five figures of section 2.3 in the paper's order; each says whether it is drawn and why not. */
export function paperFigures(summaries: readonly ScenarioSummary[]): Figure[] {
  return FIGURE_SPECS.map((spec) => {
    const xLabel = spec.xParam === 'rateGbps' ? 'rate (Gbit/s)' : 'flows';
    const mine = summaries.filter((s) => s.workload === spec.workload);
    const xs = [...new Set(mine.map((s) => xValue(s, spec.xParam)))].sort((a, b) => a - b);
    const base = { ...spec, xLabel, categories: xs.map(xText), series: [] as FigureSeries[] };
    if (mine.length === 0) return { ...base, drawn: false, why: `the campaign ran no ${spec.workload} scenario` };
    if (xs.length < 2)
      return {
        ...base,
        drawn: false,
        why: `the campaign ran ${spec.workload} at one ${xLabel.replace(/ \(.*/, '')} only (${xText(xs[0])})`,
      };

    // a series per enforcement mode and per combination of the parameters that are not on the x axis
    const others = (s: ScenarioSummary) => otherParams(s, spec.xParam);
    const varying = (['rateGbps', 'flows', 'messageBytes', 'label'] as const).filter(
      (k) => k !== spec.xParam && new Set(mine.map((s) => others(s)[k] ?? '')).size > 1,
    );
    const seriesKey = (s: ScenarioSummary) => [s.enforcement, ...varying.map((k) => `${k}=${others(s)[k] ?? ''}`)].join(' · ');
    const bySeries = new Map<string, FigureSeries>();
    for (const s of sortScenarios(mine)) {
      const name = seriesKey(s)
        .replace('rateGbps=unlimited', 'unlimited')
        .replace(/rateGbps=(\S+)/, '$1 Gbit/s')
        .replace(/label=(\S+)/, '[$1]');
      let series = bySeries.get(name);
      if (!series) bySeries.set(name, (series = { name, enforcement: s.enforcement, points: base.categories.map(() => null) }));
      series.points[xs.indexOf(xValue(s, spec.xParam))] = {
        x: xText(xValue(s, spec.xParam)),
        mean: s.penalty.mean,
        ci95: s.penalty.ci95,
        n: s.penalty.n,
        scenarioId: s.scenarioId,
      };
    }
    const rank = (e: Enforcement) => ENFORCEMENTS.indexOf(e);
    const series = [...bySeries.values()].sort((a, b) => rank(a.enforcement) - rank(b.enforcement));
    return { ...base, drawn: true, series };
  });
}

function otherParams(s: ScenarioSummary, xParam: 'rateGbps' | 'flows'): Record<string, string> {
  const out: Record<string, string> = {};
  if (xParam !== 'rateGbps') out.rateGbps = s.params.rateGbps === undefined ? 'unlimited' : String(s.params.rateGbps);
  if (xParam !== 'flows') out.flows = String(s.params.flows ?? 1);
  if (s.params.messageBytes !== undefined) out.messageBytes = String(s.params.messageBytes);
  const label = /\[([^\]]+)\]$/.exec(s.scenarioId)?.[1];
  if (label) out.label = label;
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Where the victim core's time went.

export interface TimeRow {
  /** "udp-receiver rateGbps=8 · none", or "sysbench (control) · none". */
  label: string;
  scenarioId: string;
  enforcement: Enforcement;
  /** Share of the summed core time per category (0..1); categories as in CORE_CATEGORIES. */
  shares: Record<CoreCategory, number>;
  /** Mean seconds per category (what the shares are of). */
  seconds: Record<CoreCategory, number>;
}

/** The categories the chart shows: the five the issue names, plus `other` when any scenario has some. */
export function timeCategories(rows: readonly TimeRow[]): CoreCategory[] {
  return CORE_CATEGORIES.filter((c) => c !== 'other' || rows.some((r) => r.seconds.other > 0));
}

/** One row per summary with a time breakdown (interference arm), preceded by each mode's control arm. */
export function timeBreakdownRows(summaries: readonly ScenarioSummary[]): TimeRow[] {
  const rows: TimeRow[] = [];
  const push = (label: string, scenarioId: string, enforcement: Enforcement, seconds: Record<CoreCategory, number>) => {
    const total = CORE_CATEGORIES.reduce((acc, c) => acc + seconds[c], 0);
    if (total <= 0) return;
    const shares = Object.fromEntries(CORE_CATEGORIES.map((c) => [c, seconds[c] / total])) as Record<CoreCategory, number>;
    rows.push({ label, scenarioId, enforcement, shares, seconds: { ...seconds } });
  };
  const sorted = sortScenarios(summaries);
  for (const mode of orderedModes(sorted.map((s) => s.enforcement))) {
    const withControl = sorted.find((s) => s.enforcement === mode && s.control?.timeBreakdown);
    const control = withControl?.control;
    if (withControl && control?.timeBreakdown)
      push(
        `${withControl.controlWorkload} (control) · ${mode}`,
        withControl.controlScenarioId ?? withControl.controlWorkload,
        mode,
        control.timeBreakdown,
      );
  }
  for (const s of sorted) if (s.timeBreakdown) push(`${s.scenarioId} · ${s.enforcement}`, s.scenarioId, s.enforcement, s.timeBreakdown);
  return rows;
}

export function orderedModes(modes: readonly Enforcement[]): Enforcement[] {
  const set = new Set(modes);
  return [...ENFORCEMENTS.filter((m) => set.has(m)), ...[...set].filter((m) => !ENFORCEMENTS.includes(m))];
}
