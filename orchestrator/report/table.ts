// The terminal table a user sees at the end of `ironlab run`: one row per scenario and enforcement mode,
// penalty with its 95% interval, the repetitions behind it, and how much of the victim's core ksoftirqd took;
// then the seeded bootstrap interval, the coefficient of variation of each arm (control / interference), and
// a note on every scenario whose repetitions disagree (an arm's CV above the threshold, or an outlier run).
import Table from 'cli-table3';
import type { ScenarioSummary } from '../analysis/penalty.ts';
import { sortScenarios } from './order.ts';

export interface TableOptions {
  /** Bold headers and grey borders (for a TTY). Default false: plain text. */
  color?: boolean;
}

export function reportTable(summaries: readonly ScenarioSummary[], options: TableOptions = {}): string {
  const table = new Table({
    head: ['scenario', 'enforcement', 'penalty', '95% CI', 'n', 'ksoftirqd', 'bootstrap CI', 'CV ctl/int'],
    colAligns: ['left', 'left', 'right', 'right', 'right', 'right', 'right', 'right'],
    style: options.color ? { head: ['bold'], border: ['grey'] } : { head: [], border: [] },
    // one line per row (the rule under the header is put back below)
    chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
  });
  const notes: string[] = [];
  for (const s of sortScenarios(summaries)) {
    let mark = '';
    const disagree = s.disagreement?.flagged ? `repetitions disagree: ${s.disagreement.reasons.join('; ')}` : undefined;
    if (s.penalty.note || s.notDone > 0 || disagree) {
      const why = [s.penalty.note, s.notDone > 0 ? `${s.notDone} run${s.notDone === 1 ? '' : 's'} not done, left out` : undefined, disagree].filter(Boolean).join('; ');
      let i = notes.indexOf(why);
      if (i < 0) i = notes.push(why) - 1;
      mark = ` (${i + 1})`;
    }
    table.push([s.scenarioId, s.enforcement, formatPenalty(s.penalty.mean) + mark, formatCi(s.penalty.ci95), String(s.penalty.n), formatShare(s.ksoftirqdShare), formatCi(s.bootstrap?.ci ?? null), `${formatCv(s.cv.control)}/${formatCv(s.cv.interference)}`]);
  }
  const legend =
    'penalty = victim events/s with sysbench neighbours / with these neighbours (1.00 = perfect isolation); ' +
    '95% CI: Fieller; bootstrap CI: percentile, seeded (narrower than it should be with few repetitions)';
  const lines = table.toString().split('\n');
  const rule = lines[0].replace('┌', '├').replaceAll('┬', '┼').replace('┐', '┤');
  lines.splice(2, 0, rule);
  return [...lines, legend, ...notes.map((n, i) => `(${i + 1}) ${n}`)].join('\n');
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
