// The tidy sample row behind the CSV and NDJSON exports: one row per sample of every done run, with the run's
// campaign, scenario, parameters, enforcement and host beside the metric. Both formats carry exactly these fields.
import type { RunRecord } from '../analysis/penalty.ts';

export interface CsvRunRecord extends RunRecord {
  /** The server host the run ran on; null if unknown. */
  hostId: string | null;
}

export const CSV_COLUMNS = [
  'campaign',
  'run',
  'scenario',
  'workload',
  'rateGbps',
  'flows',
  'messageBytes',
  'enforcement',
  'repetition',
  'host',
  'metric',
  'value',
  'unit',
  'labels',
] as const;

export interface SampleRow {
  campaign: string;
  run: string;
  scenario: string;
  workload: string;
  /** null = unlimited. */
  rateGbps: number | null;
  flows: number | null;
  messageBytes: number | null;
  enforcement: string;
  repetition: number;
  host: string | null;
  metric: string;
  value: number;
  unit: string;
  labels: Record<string, string>;
}

export function* sampleRows(campaign: { id: string }, records: readonly CsvRunRecord[]): Generator<SampleRow> {
  for (const r of records) {
    if (r.status !== 'done') continue;
    for (const s of r.samples)
      yield {
        campaign: campaign.id,
        run: r.runId,
        scenario: r.scenarioId,
        workload: r.workload,
        rateGbps: r.params.rateGbps ?? null,
        flows: r.params.flows ?? null,
        messageBytes: r.params.messageBytes ?? null,
        enforcement: r.enforcement,
        repetition: r.repetition,
        host: r.hostId,
        metric: s.metric,
        value: s.value,
        unit: s.unit,
        labels: { ...s.labels },
      };
  }
}
