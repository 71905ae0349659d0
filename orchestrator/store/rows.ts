// Both backends keep the same tables and columns (snake_case, JSON as text): one mapping from a row to what
// the store's API returns.
import type { AttemptRow, CampaignActivity, CampaignProgress, CampaignRow, LedgerRow, NewCampaign, RunTimes } from './store.ts';

type Row = Record<string, any>;

/** The column types that differ between the backends' SQL dialects. */
export interface SchemaTypes {
  /** A 64-bit integer (the seed). */
  bigint: string;
  /** A double (a sample's value). */
  real: string;
  /** The history's own key: an auto-incremented primary key. */
  serialKey: string;
}

/** The tables, one text for both backends. Columns added later (guard_reason, orchestrator_json) are here for new stores; old SQLite files get them by migration. */
export function schemaSql(t: SchemaTypes): string {
  return `
CREATE TABLE IF NOT EXISTS campaigns (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, mode TEXT NOT NULL, created_at TEXT NOT NULL, finished_at TEXT,
  status TEXT NOT NULL, spec_json TEXT NOT NULL, spec_hash TEXT NOT NULL, source_path TEXT NOT NULL,
  source_text TEXT NOT NULL, seed ${t.bigint} NOT NULL, provenance_json TEXT NOT NULL, orchestrator_json TEXT);
CREATE TABLE IF NOT EXISTS runs (
  campaign_id TEXT NOT NULL REFERENCES campaigns(id), run_id TEXT NOT NULL, seq INTEGER NOT NULL,
  scenario_id TEXT NOT NULL, workload TEXT NOT NULL, enforcement TEXT NOT NULL, repetition INTEGER NOT NULL,
  spec_json TEXT NOT NULL, status TEXT NOT NULL CHECK (status IN ('todo','running','done','failed')),
  attempts INTEGER NOT NULL DEFAULT 0, host_id TEXT, last_error TEXT, started_at TEXT, finished_at TEXT,
  provenance_json TEXT NOT NULL DEFAULT '{}', budget_base INTEGER NOT NULL DEFAULT 0, guard_reason TEXT,
  PRIMARY KEY (campaign_id, run_id));
CREATE TABLE IF NOT EXISTS run_attempts (
  id ${t.serialKey}, campaign_id TEXT NOT NULL, run_id TEXT NOT NULL, attempt INTEGER NOT NULL,
  host_id TEXT, outcome TEXT NOT NULL, error TEXT, at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS run_attempts_by_run ON run_attempts (campaign_id, run_id, attempt);
CREATE TABLE IF NOT EXISTS samples (
  campaign_id TEXT NOT NULL, run_id TEXT NOT NULL, metric TEXT NOT NULL, value ${t.real} NOT NULL, unit TEXT NOT NULL,
  labels_json TEXT NOT NULL, FOREIGN KEY (campaign_id, run_id) REFERENCES runs(campaign_id, run_id));
CREATE INDEX IF NOT EXISTS samples_by_run ON samples (campaign_id, run_id);
CREATE TABLE IF NOT EXISTS host_facts (
  campaign_id TEXT NOT NULL, host_id TEXT NOT NULL, facts_json TEXT NOT NULL, capabilities_json TEXT NOT NULL,
  recorded_at TEXT NOT NULL, PRIMARY KEY (campaign_id, host_id));
`;
}

/** A new campaign's row (status running): the INSERT with the backend's placeholders ($1 or ?) and its values. */
export function campaignInsert(c: NewCampaign, placeholder: (n: number) => string): { text: string; values: unknown[] } {
  const values = [
    c.id,
    c.name,
    c.mode,
    c.createdAt,
    JSON.stringify(c.spec),
    c.specHash,
    c.sourcePath,
    c.sourceText,
    c.seed,
    JSON.stringify(c.provenance),
  ];
  const columns = 'id, name, mode, created_at, spec_json, spec_hash, source_path, source_text, seed, provenance_json';
  return {
    text: `INSERT INTO campaigns (${columns}, status) VALUES (${values.map((_, i) => placeholder(i + 1)).join(', ')}, 'running')`,
    values,
  };
}

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
  return {
    campaignId: r.campaign_id,
    total: n('total'),
    todo: n('todo'),
    running: n('running'),
    done: n('done'),
    failed: n('failed'),
    lastFinishedAt: r.last_finished_at ?? null,
  };
}

export function toActivity(r: Row): CampaignActivity {
  return {
    campaignId: r.id,
    status: r.status,
    total: Number(r.total),
    done: Number(r.done),
    failed: Number(r.failed),
    running: Number(r.running),
    attempts: Number(r.attempts),
    lastChangeAt: r.last_change || null,
    orchestrator: r.orchestrator_json ? JSON.parse(r.orchestrator_json) : null,
  };
}

export function toRunTimes(r: Row): RunTimes {
  return {
    runId: r.run_id,
    scenarioId: r.scenario_id,
    enforcement: r.enforcement,
    status: r.status,
    attempts: r.attempts,
    hostId: r.host_id,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
  };
}

/** Every campaign's ledger in counts and its orchestrator's beat (the same SQL in both dialects). */
export const ACTIVITY_SQL = `
SELECT c.id, c.status, c.orchestrator_json, COUNT(r.run_id) AS total,
  COALESCE(SUM(CASE WHEN r.status = 'done' THEN 1 ELSE 0 END), 0) AS done, COALESCE(SUM(CASE WHEN r.status = 'failed' THEN 1 ELSE 0 END), 0) AS failed,
  COALESCE(SUM(CASE WHEN r.status = 'running' THEN 1 ELSE 0 END), 0) AS running, COALESCE(SUM(r.attempts), 0) AS attempts,
  MAX(CASE WHEN COALESCE(r.finished_at, '') > COALESCE(r.started_at, '') THEN r.finished_at ELSE r.started_at END) AS last_change
FROM campaigns c LEFT JOIN runs r ON r.campaign_id = c.id GROUP BY c.id, c.status, c.orchestrator_json, c.created_at ORDER BY c.created_at, c.id`;

export const RUN_TIMES_SQL = `SELECT run_id, scenario_id, enforcement, status, attempts, host_id, started_at, finished_at FROM runs WHERE campaign_id = $campaign ORDER BY seq`;

/** Counts per status for every campaign (the same SQL in both dialects). */
export const PROGRESS_SQL = `
SELECT c.id AS campaign_id, COUNT(r.run_id) AS total,
  SUM(CASE WHEN r.status = 'todo' THEN 1 ELSE 0 END) AS todo, SUM(CASE WHEN r.status = 'running' THEN 1 ELSE 0 END) AS running,
  SUM(CASE WHEN r.status = 'done' THEN 1 ELSE 0 END) AS done, SUM(CASE WHEN r.status = 'failed' THEN 1 ELSE 0 END) AS failed,
  MAX(CASE WHEN r.status IN ('done', 'failed') THEN r.finished_at END) AS last_finished_at
FROM campaigns c LEFT JOIN runs r ON r.campaign_id = c.id GROUP BY c.id, c.created_at ORDER BY c.created_at, c.id`;
