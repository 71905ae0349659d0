// Both backends keep the same tables and columns (snake_case, JSON as text): one mapping from a row to what
// the store's API returns.
import type { AttemptRow, CampaignProgress, CampaignRow, LedgerRow } from './store.ts';

type Row = Record<string, any>;

export function toCampaign(r: Row): CampaignRow {
  return {
    id: r.id,
    name: r.name,
    mode: r.mode,
    createdAt: r.created_at,
    finishedAt: r.finished_at,
    status: r.status,
    spec: JSON.parse(r.spec_json),
    specHash: r.spec_hash,
    sourcePath: r.source_path,
    seed: Number(r.seed),
    provenance: JSON.parse(r.provenance_json),
  };
}

export function toLedger(r: Row): LedgerRow {
  return {
    runId: r.run_id,
    seq: r.seq,
    status: r.status,
    attempts: r.attempts,
    hostId: r.host_id,
    lastError: r.last_error,
    spec: JSON.parse(r.spec_json),
    guardReason: r.guard_reason ?? null,
    startedAt: r.started_at ?? null,
    finishedAt: r.finished_at ?? null,
  };
}

export function toAttempt(r: Row): AttemptRow {
  return { runId: r.run_id, attempt: r.attempt, hostId: r.host_id, outcome: r.outcome, error: r.error, at: r.at };
}

export function toProgress(r: Row): CampaignProgress {
  const n = (k: string) => Number(r[k] ?? 0);
  return { campaignId: r.campaign_id, total: n('total'), todo: n('todo'), running: n('running'), done: n('done'), failed: n('failed'), lastFinishedAt: r.last_finished_at ?? null };
}

/** Counts per status for every campaign (the same SQL in both dialects). */
export const PROGRESS_SQL = `
SELECT c.id AS campaign_id, COUNT(r.run_id) AS total,
  SUM(CASE WHEN r.status = 'todo' THEN 1 ELSE 0 END) AS todo, SUM(CASE WHEN r.status = 'running' THEN 1 ELSE 0 END) AS running,
  SUM(CASE WHEN r.status = 'done' THEN 1 ELSE 0 END) AS done, SUM(CASE WHEN r.status = 'failed' THEN 1 ELSE 0 END) AS failed,
  MAX(CASE WHEN r.status IN ('done', 'failed') THEN r.finished_at END) AS last_finished_at
FROM campaigns c LEFT JOIN runs r ON r.campaign_id = c.id GROUP BY c.id, c.created_at ORDER BY c.created_at, c.id`;
