// Tidy CSV: one row per sample of every completed run, with the run's scenario as columns, for R / pandas.
// RFC 4180: comma separated, CRLF line ends, fields with comma, quote or line break quoted, quotes doubled.
// rateGbps is empty for unlimited; labels are `key=value` pairs joined by `;`, keys sorted.
import { CSV_COLUMNS, sampleRows, type CsvRunRecord } from './rows.ts';

export { CSV_COLUMNS, type CsvRunRecord } from './rows.ts';

export function reportCsv(campaign: { id: string }, records: readonly CsvRunRecord[]): string {
  const lines: string[] = [CSV_COLUMNS.join(',')];
  for (const r of sampleRows(campaign, records)) {
    const labels = Object.keys(r.labels)
      .sort()
      .map((k) => `${k}=${r.labels[k]}`)
      .join(';');
    lines.push(CSV_COLUMNS.map((c) => csvField(c === 'labels' ? labels : r[c])).join(','));
  }
  return lines.join('\r\n') + '\r\n';
}

export function csvField(value: string | number | null | undefined): string {
  if (value === null || value === undefined) return '';
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}
