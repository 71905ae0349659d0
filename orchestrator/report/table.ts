// The terminal table a user sees at the end of `ironlab run`: one row per scenario and enforcement mode,
// penalty with its 95% interval, the repetitions behind it, and how much of the victim's core ksoftirqd took;
// then the seeded bootstrap interval, the coefficient of variation of each arm (control / interference), and
// a note on every scenario whose repetitions disagree (an arm's CV above the threshold, or an outlier run).
import Table from 'cli-table3';
import type { ScenarioSummary } from '../analysis/penalty.ts';
import type { ConditionsSpread, Spread } from '../analysis/conditions.ts';
import type { StatisticsInfo } from './json.ts';
import { sortScenarios } from './order.ts';
import { penaltyDefinitions } from './penalty-words.ts';

export interface TableOptions {
  /** Bold headers and grey borders (for a TTY). Default false: plain text. */
  color?: boolean;
  /** How the numbers were made (design, interval, corrections): said under the table. */
  statistics?: StatisticsInfo;
}

export function reportTable(summaries: readonly ScenarioSummary[], options: TableOptions = {}): string {
  const table = new Table({
    head: ['scenario', 'enforcement', 'penalty', '95% CI', 'n', 'ksoftirqd', 'bootstrap CI', 'CV ctl/int', 'conditions (int.)'],
    colAligns: ['left', 'left', 'right', 'right', 'right', 'right', 'right', 'right', 'left'],
    style: options.color ? { head: ['bold'], border: ['grey'] } : { head: [], border: [] },
    // one line per row (the rule under the header is put back below)
    chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
  });
  const notes: string[] = [];
  const manyHosts = new Set(summaries.map((s) => s.stratum ?? '')).size > 1;
  for (const s of sortScenarios(summaries)) {
    let mark = '';
    const disagree = s.disagreement?.flagged ? `repetitions disagree: ${s.disagreement.reasons.join('; ')}` : undefined;
    const guard = guardNote(s);
    const conditions = s.conditionNotes?.length ? s.conditionNotes.join('; ') : undefined;
    if (s.penalty.note || s.notDone > 0 || disagree || guard || conditions) {
      const why = [
        s.penalty.note,
        s.notDone > 0 ? `${s.notDone} run${s.notDone === 1 ? '' : 's'} not done, left out` : undefined,
        disagree,
        guard,
        conditions,
      ]
        .filter(Boolean)
        .join('; ');
      let i = notes.indexOf(why);
      if (i < 0) i = notes.push(why) - 1;
      mark = ` (${i + 1})`;
    }
    const name = manyHosts && s.stratum ? `${s.scenarioId} @${s.stratum}` : s.scenarioId;
    const share = s.interference?.conditions?.ksoftirqdShare;
    table.push([
      name,
      s.enforcement,
      formatPenalty(s.penalty.mean) + mark,
      formatCi(s.penalty.ci95),
      String(s.penalty.n),
      share ? formatShareSpread(share) : formatShare(s.ksoftirqdShare),
      formatCi(s.bootstrap?.ci ?? null),
      `${formatCv(s.cv.control)}/${formatCv(s.cv.interference)}`,
      formatConditions(s.interference?.conditions ?? null),
    ]);
  }
  const st = options.statistics;
  const paired = st?.design === 'blocked';
  const legend =
    penaltyDefinitions(summaries).join('; ') +
    '; ' +
    (paired
      ? 'design: blocked (control and scenarios back to back per repetition, one host); penalty and 95% CI: paired, geometric mean of the within-block ratios with a t interval on their logs; '
      : `${st ? 'design: shuffled; ' : ''}95% CI: Fieller (unpaired); `) +
    'bootstrap CI: percentile, seeded (narrower than it should be with few repetitions); ' +
    'conditions: spread over the interference runs of achieved/offered load, steal and foreign CPU on the victim core, softirqs/s' +
    (st?.adaptiveCorrection ? `\n${st.adaptiveCorrection}` : '') +
    (st && (st.guarded.repeatedAttempts || st.guarded.runsKeptOutOfGuard)
      ? `\nguards: ${st.guarded.repeatedAttempts} attempt(s) repeated out of guard; ${st.guarded.runsKeptOutOfGuard} run(s) still out of guard on their last attempt, kept and marked`
      : '');
  const lines = table.toString().split('\n');
  const rule = lines[0].replace('┌', '├').replaceAll('┬', '┼').replace('┐', '┤');
  lines.splice(2, 0, rule);
  return [...lines, legend, ...notes.map((n, i) => `(${i + 1}) ${n}`)].join('\n');
}

function guardNote(s: ScenarioSummary): string | undefined {
  const g = [s.control?.guards, s.interference?.guards].filter((x) => x && (x.repeated || x.kept));
  if (!g.length) return undefined;
  const repeated = g.reduce((a, x) => a + x!.repeated, 0);
  const kept = g.reduce((a, x) => a + x!.kept, 0);
  const reasons = [...new Set(g.flatMap((x) => x!.reasons))];
  const what = [repeated ? `${repeated} attempt(s) repeated` : '', kept ? `${kept} run(s) kept out of guard` : '']
    .filter(Boolean)
    .join(', ');
  return `out of guard: ${what} (${reasons[0]}${reasons.length > 1 ? `; and ${reasons.length - 1} more` : ''})`;
}

const pct = (x: number) => `${(x * 100).toFixed(x < 0.1 ? 1 : 0)}%`;
const range = (s: Spread, f: (x: number) => string) => (f(s.min) === f(s.max) ? f(s.min) : `${f(s.min)}–${f(s.max)}`);

/** The run conditions of an arm in a few characters: load vs offered (or Gbit/s), steal, foreign CPU, softirqs/s. */
export function formatConditions(c: ConditionsSpread | null): string {
  if (!c) return '-';
  const parts: string[] = [];
  if (c.loadRatio) parts.push(`load ${range(c.loadRatio, (x) => x.toFixed(2))}x`);
  else if (c.achievedGbps) parts.push(`${range(c.achievedGbps, (x) => x.toFixed(2))} Gbit/s`);
  if (c.stealShare) parts.push(`steal ${range(c.stealShare, pct)}`);
  if (c.foreignCpuShare) parts.push(`foreign ${range(c.foreignCpuShare, pct)}`);
  if (c.softirqPerSec) parts.push(`softirq ${range(c.softirqPerSec, (x) => `${(x / 1000).toFixed(0)}k`)}/s`);
  return parts.length ? parts.join(' ') : '-';
}

/** ksoftirqd share: the mean, or min–max when the repetitions differ by a point or more. */
export function formatShareSpread(s: Spread): string {
  return s.max - s.min >= 0.01 ? `${formatShare(s.min)}–${formatShare(s.max)}` : formatShare(s.mean);
}

export function formatPenalty(value: number | null): string {
  return value === null ? '-' : value.toFixed(2);
}
export function formatCi(ci: [number, number] | null): string {
  return ci === null ? '-' : `[${ci[0].toFixed(2)}, ${ci[1].toFixed(2)}]`;
}
export function formatCv(cv: number | null): string {
  return cv === null ? '-' : `${(cv * 100).toFixed(1)}%`;
}
export function formatShare(share: number | null): string {
  if (share === null) return '-';
  const pct = share * 100;
  return `${pct < 10 ? pct.toFixed(1) : pct.toFixed(0)}%`;
}
