// A campaign's CI checks, as every output shows them: the expectations of its file and the comparison with a
// baseline campaign, flattened into check cases (one per expectation, one per compared scenario). The printed
// lines after `ironlab run`'s table, the JUnit file and the JSON report's `checks` fields all read these cases,
// so they always agree. A case is ok when passed, or inconclusive with --allow-inconclusive.
import { evaluateExpectations, type ExpectationResult, type ScenarioCheck, type Verdict } from '../campaign/expectations.ts';
import type { CampaignSpec } from '../campaign/spec.ts';
import { compareCampaigns, type CompareRow, type CompareSide, type Comparison } from './compare.ts';
import { formatCi, formatPenalty } from './table.ts';

/** `ironlab run` exits with this when an expectation or a baseline comparison fails (0/1/2/130 are taken). */
export const EXIT_CHECKS_FAILED = 3;

export interface BaselineChecks {
  /** Where the baseline came from, as the user gave it (`base.json`, `old.db:c2026...`). */
  source: string;
  /** A = the baseline, B = this campaign. */
  comparison: Comparison;
}

export interface Checks {
  expectations: ExpectationResult[];
  baseline: BaselineChecks | null;
  allowInconclusive: boolean;
}

/** The checks of a campaign (`current`) whose file is `spec`, against an optional baseline campaign. */
export function buildChecks(
  spec: CampaignSpec,
  current: CompareSide,
  baseline: { source: string; side: CompareSide } | null,
  allowInconclusive: boolean,
): Checks {
  return {
    expectations: evaluateExpectations(spec, current.summaries),
    baseline: baseline ? { source: baseline.source, comparison: compareCampaigns(baseline.side, current) } : null,
    allowInconclusive,
  };
}

export interface CheckCase {
  kind: 'expectation' | 'baseline';
  name: string;
  verdict: Verdict;
  ok: boolean;
  /** The figures in one line (the JUnit failure message). */
  message: string;
  /** One line per scenario with its figures. */
  details: string[];
}

export function checkCases(c: Checks): CheckCase[] {
  const ok = (v: Verdict) => v === 'passed' || (v === 'inconclusive' && c.allowInconclusive);
  const cases: CheckCase[] = c.expectations.map((e) => {
    const shown = e.scenarios.filter((s) => s.verdict === e.verdict);
    const message =
      e.verdict === 'passed'
        ? `${e.bounds}: ${e.scenarios.length} scenario(s) passed`
        : `${e.bounds}: ${shown.length} of ${e.scenarios.length} scenario(s) ${e.verdict}: ${shown.map(scenarioFigures).join('; ')}`;
    return {
      kind: 'expectation',
      name: e.name,
      verdict: e.verdict,
      ok: ok(e.verdict),
      message,
      details: e.scenarios.map((s) => `${s.verdict.padEnd(12)} ${scenarioFigures(s)}`),
    };
  });
  for (const r of c.baseline?.comparison.rows ?? []) {
    if (!r.baseline) continue;
    const message = baselineFigures(r);
    cases.push({
      kind: 'baseline',
      name: baselineCaseName(r),
      verdict: r.baseline.verdict,
      ok: ok(r.baseline.verdict),
      message,
      details: [message],
    });
  }
  return cases;
}

/** `tcp-receiver rateGbps=9 iron-kernel: upper 1.32 > 1.1 (mean 1.30, 95% CI [1.28, 1.32], n 3)` */
function scenarioFigures(s: ScenarioCheck): string {
  const bounds = s.checks.map(
    (b) =>
      `${b.statistic} ${b.value === null ? '-' : b.value.toFixed(2)} ${b.verdict === 'passed' ? b.op : b.op === '<=' ? '>' : '<'} ${b.bound}`,
  );
  const figures = `mean ${formatPenalty(s.mean)}, 95% CI ${formatCi(s.ci95)}, n ${s.n}${s.note ? `; ${s.note}` : ''}`;
  return `${s.scenarioId} ${s.enforcement}: ${bounds.join(', ')} (${figures})`;
}

/** `tcp-receiver rateGbps=9 ebpf`, and the baseline's mode when the campaigns were paired by scenario alone. */
function baselineCaseName(r: CompareRow): string {
  const current = r.b?.enforcement ?? r.enforcement;
  return `${r.scenarioId} ${current}${r.a && r.a.enforcement !== current ? ` (baseline: ${r.a.enforcement})` : ''}`;
}

function baselineFigures(r: CompareRow): string {
  const side = (p: CompareRow['a']) => (p ? `${formatPenalty(p.mean)} ${formatCi(p.ci95)} (n ${p.n})` : '-');
  const change =
    r.baseline?.change === 'worse' || r.baseline?.change === 'better'
      ? `${r.baseline.change} beyond both 95% intervals`
      : r.baseline?.change === 'same'
        ? 'within the intervals'
        : 'no interval to compare';
  return `penalty ${side(r.b)} vs baseline ${side(r.a)}: ${change}`;
}

export function checkCounts(cases: readonly CheckCase[]): { passed: number; failed: number; inconclusive: number; notOk: number } {
  const count = (v: Verdict) => cases.filter((c) => c.verdict === v).length;
  return {
    passed: count('passed'),
    failed: count('failed'),
    inconclusive: count('inconclusive'),
    notOk: cases.filter((c) => !c.ok).length,
  };
}

/** The lines `ironlab run` (`forRun`: with its flag and exit code) and `ironlab report` print after the table; empty without checks. */
export function renderChecks(c: Checks, forRun = false): string {
  const cases = checkCases(c);
  if (cases.length === 0) return '';
  const lines: string[] = [];
  const label = (v: Verdict) => (v === 'failed' ? 'FAILED' : v === 'inconclusive' ? 'INCONCLUSIVE' : 'passed').padEnd(12);
  const expectations = cases.filter((k) => k.kind === 'expectation');
  if (expectations.length) {
    lines.push('expectations:');
    for (const k of expectations) lines.push(`  ${label(k.verdict)} ${k.name}`, ...k.details.map((d) => `      ${d}`));
  }
  if (c.baseline) {
    const b = c.baseline.comparison.a;
    lines.push(`baseline: ${b.id} (${b.name}, ${b.mode}) from ${c.baseline.source}:`);
    for (const k of cases.filter((x) => x.kind === 'baseline')) lines.push(`  ${label(k.verdict)} ${k.name}: ${k.message}`);
  }
  const n = checkCounts(cases);
  const policy = c.allowInconclusive
    ? 'inconclusive allowed'
    : `inconclusive counts as failed${forRun ? '; --allow-inconclusive to allow' : ''}`;
  lines.push(
    `checks: ${n.passed} passed, ${n.failed} failed, ${n.inconclusive} inconclusive (${policy})${n.notOk && forRun ? ` -> exit ${EXIT_CHECKS_FAILED}` : ''}`,
  );
  return lines.join('\n');
}

/** The fields the checks add to the JSON report (beside its existing ones). */
export function checksJson(c: Checks) {
  const cases = checkCases(c);
  const n = checkCounts(cases);
  return {
    checks: {
      verdict: n.notOk ? ('failed' as const) : ('passed' as const),
      allowInconclusive: c.allowInconclusive,
      passed: n.passed,
      failed: n.failed,
      inconclusive: n.inconclusive,
    },
    expectations: c.expectations.map((e) => ({
      ...e,
      scenarios: e.scenarios.map((s) => ({ ...s, checks: s.checks.map((b) => ({ ...b })) })),
    })),
    baseline: c.baseline
      ? {
          source: c.baseline.source,
          campaign: { ...c.baseline.comparison.a },
          scenarios: c.baseline.comparison.rows
            .filter((r) => r.baseline)
            .map((r) => ({
              id: r.scenarioId,
              enforcement: r.b?.enforcement ?? r.enforcement,
              baseline: r.a,
              current: r.b,
              verdict: r.baseline!.verdict,
              change: r.baseline!.change,
            })),
        }
      : null,
  };
}
