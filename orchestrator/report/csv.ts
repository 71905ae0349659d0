// Tidy CSV: one row per sample of every completed run, with the run's scenario as columns, for R / pandas.
// RFC 4180: comma separated, CRLF line ends, fields with comma, quote or line break quoted, quotes doubled.
// rateGbps is empty for unlimited; labels are `key=value` pairs joined by `;`, keys sorted.
import type { RunRecord } from '../analysis/penalty.ts';

export interface CsvRunRecord extends RunRecord {
  /** The server host the run ran on; null if unknown. */
  hostId: string | null;
}

export const CSV_COLUMNS = [
  'campaign', 'run', 'scenario', 'workload', 'rateGbps', 'flows', 'messageBytes', 'enforcement', 'repetition', 'host', 'metric', 'value', 'unit', 'labels',
] as const;

export function reportCsv(campaign: { id: string }, records: readonly CsvRunRecord[]): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const r of records) {
    if (r.status !== 'done') continue;
    for (const s of r.samples) {
      const labels = Object.keys(s.labels).sort().map((k) => `${k}=${s.labels[k]}`).join(';');
      const row = [campaign.id, r.runId, r.scenarioId, r.workload, r.params.rateGbps, r.params.flows, r.params.messageBytes, r.enforcement, r.repetition, r.hostId, s.metric, s.value, s.unit, labels];
      lines.push(row.map(csvField).join(','));
    }
  }
  return lines.join('\r\n') + '\r\n';
}

export function csvField(value: string | number | null | undefined): string {
  if (value === null || value === undefined) return '';
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}
