// NDJSON (JSON Lines): the CSV's rows as one JSON object per line, same fields in the same order, LF line ends.
// Differences from the CSV, where JSON can say more: unlimited rate and unknown host are null (not empty),
// numbers are numbers, and labels are an object ({"core": "0", "category": "victim"}), not `k=v;k=v`.
import { sampleRows, type CsvRunRecord } from './rows.ts';

export function reportNdjson(campaign: { id: string }, records: readonly CsvRunRecord[]): string {
  let out = '';
  for (const row of sampleRows(campaign, records)) out += JSON.stringify(row) + '\n';
  return out;
}
