// The result store (SQLite through better-sqlite3). The run ledger is the source of truth for resume: a run
// is todo, running, done or failed; a done run's samples were written in the same transaction that marked it
// done, so a crash at any instant leaves either no samples and a non-done row, or both.
// A run's attempt number only ever goes up, across aborts and resumes (the run machine builds operation ids
// from it, and long-lived agents answer a seen id from memory): what a resume or an abort gives back is
// budget (`budget_base`: attempts not counted against maxAttempts), never the number. The attempt history
// is appended to, never overwritten.
import Database from 'better-sqlite3';
import type { Sample } from '../../agents/samples.ts';
import type { RunSpec } from '../../agents/run-spec.ts';
import type { EnforcementSupport, HostFacts } from '../../agents/backend.ts';
import { UserInputError } from '../errors.ts';

export type RunStatus = 'todo' | 'running' | 'done' | 'failed';
export type CampaignStatus = 'running' | 'done' | 'failed' | 'aborted';

export interface CampaignRow {
  id: string;
  name: string;
  mode: string;
  createdAt: string;
  finishedAt: string | null;
  status: CampaignStatus;
  spec: unknown;
  specHash: string;
  sourcePath: string;
  seed: number;
  provenance: Record<string, unknown>;
}

export interface LedgerRow {
  runId: string;
  seq: number;
  status: RunStatus;
  attempts: number;
  hostId: string | null;
  lastError: string | null;
  spec: RunSpec;
  /** A done run kept out of guard (its attempts used up): why. Null for a run in guard. */
  guardReason: string | null;
}

/** Who runs a campaign's orchestrator and where, and when it last said it was alive (every `everyS`). */
export interface OrchestratorBeat {
  user: string;
  host: string;
  pid: number;
  everyS: number;
  heartbeatAt: string;
}

/** A campaign's ledger in counts, and its orchestrator's last heartbeat (what the dashboard watches). */
export interface CampaignActivity {
  campaignId: string;
  status: CampaignStatus;
  total: number;
  done: number;
  failed: number;
  running: number;
  attempts: number;
  /** The latest start or end of a run (ISO 8601); null before the first. */
  lastChangeAt: string | null;
  orchestrator: OrchestratorBeat | null;
}

/** One run's place and times in the ledger, without its spec or samples. */
export interface RunTimes {
  runId: string;
  scenarioId: string;
  enforcement: string;
  status: RunStatus;
  attempts: number;
  hostId: string | null;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface StoredRun extends LedgerRow {
  samples: Sample[];
  provenance: Record<string, unknown>;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS campaigns (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, mode TEXT NOT NULL, created_at TEXT NOT NULL, finished_at TEXT,
  status TEXT NOT NULL, spec_json TEXT NOT NULL, spec_hash TEXT NOT NULL, source_path TEXT NOT NULL,
  source_text TEXT NOT NULL, seed INTEGER NOT NULL, provenance_json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
  campaign_id TEXT NOT NULL REFERENCES campaigns(id), run_id TEXT NOT NULL, seq INTEGER NOT NULL,
  scenario_id TEXT NOT NULL, workload TEXT NOT NULL, enforcement TEXT NOT NULL, repetition INTEGER NOT NULL,
  spec_json TEXT NOT NULL, status TEXT NOT NULL CHECK (status IN ('todo','running','done','failed')),
  attempts INTEGER NOT NULL DEFAULT 0, host_id TEXT, last_error TEXT, started_at TEXT, finished_at TEXT,
  provenance_json TEXT NOT NULL DEFAULT '{}', budget_base INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (campaign_id, run_id));
CREATE TABLE IF NOT EXISTS run_attempts (
  id INTEGER PRIMARY KEY AUTOINCREMENT, campaign_id TEXT NOT NULL, run_id TEXT NOT NULL, attempt INTEGER NOT NULL,
  host_id TEXT, outcome TEXT NOT NULL, error TEXT, at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS run_attempts_by_run ON run_attempts (campaign_id, run_id, attempt);
CREATE TABLE IF NOT EXISTS samples (
  campaign_id TEXT NOT NULL, run_id TEXT NOT NULL, metric TEXT NOT NULL, value REAL NOT NULL, unit TEXT NOT NULL,
  labels_json TEXT NOT NULL, FOREIGN KEY (campaign_id, run_id) REFERENCES runs(campaign_id, run_id));
CREATE INDEX IF NOT EXISTS samples_by_run ON samples (campaign_id, run_id);
CREATE TABLE IF NOT EXISTS host_facts (
  campaign_id TEXT NOT NULL, host_id TEXT NOT NULL, facts_json TEXT NOT NULL, capabilities_json TEXT NOT NULL,
  recorded_at TEXT NOT NULL, PRIMARY KEY (campaign_id, host_id));
`;

const now = () => new Date().toISOString();

export class Store {
  private constructor(private readonly db: Database.Database) {}

  static open(path: string): Store {
    let db: Database.Database;
    try {
      db = new Database(path);
    } catch (err) {
      throw new UserInputError(`cannot open the result store: ${(err as Error).message}`, path);
    }
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    migrate(db);
    db.exec(SCHEMA);
    // stores made before run guards: add the column (null = in guard)
    if (!(db.prepare(`PRAGMA table_info(runs)`).all() as { name: string }[]).some((c) => c.name === 'guard_reason')) db.exec(`ALTER TABLE runs ADD COLUMN guard_reason TEXT`);
    // stores made before the dashboard: the orchestrator's heartbeat (null = none recorded)
    if (!(db.prepare(`PRAGMA table_info(campaigns)`).all() as { name: string }[]).some((c) => c.name === 'orchestrator_json')) db.exec(`ALTER TABLE campaigns ADD COLUMN orchestrator_json TEXT`);
    return new Store(db);
  }

  close(): void {
    this.db.close();
  }

  /** Create the campaign and its whole ledger (all todo) in one transaction. */
  createCampaign(c: Omit<CampaignRow, 'finishedAt' | 'status'> & { sourceText: string }, runs: RunSpec[]): void {
    const insertCampaign = this.db.prepare(
      `INSERT INTO campaigns (id, name, mode, created_at, status, spec_json, spec_hash, source_path, source_text, seed, provenance_json)
       VALUES (?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?)`,
    );
    const insertRun = this.db.prepare(
      `INSERT INTO runs (campaign_id, run_id, seq, scenario_id, workload, enforcement, repetition, spec_json, status)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'todo')`,
    );
    this.db.transaction(() => {
      insertCampaign.run(c.id, c.name, c.mode, c.createdAt, JSON.stringify(c.spec), c.specHash, c.sourcePath, c.sourceText, c.seed, JSON.stringify(c.provenance));
      runs.forEach((r, seq) => insertRun.run(c.id, r.runId, seq, r.scenarioId, r.workload, r.enforcement, r.repetition, JSON.stringify(r)));
    })();
  }

  /** Add todo runs to a campaign's ledger (adaptive repetitions), numbered after its last run. */
  appendRuns(campaignId: string, runs: RunSpec[]): void {
    const insertRun = this.db.prepare(
      `INSERT INTO runs (campaign_id, run_id, seq, scenario_id, workload, enforcement, repetition, spec_json, status)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'todo')`,
    );
    this.db.transaction(() => {
      let seq = (this.db.prepare(`SELECT COALESCE(MAX(seq), -1) AS s FROM runs WHERE campaign_id = ?`).get(campaignId) as { s: number }).s;
      for (const r of runs) insertRun.run(campaignId, r.runId, ++seq, r.scenarioId, r.workload, r.enforcement, r.repetition, JSON.stringify(r));
    })();
  }

  campaign(id: string): CampaignRow | undefined {
    const row = this.db.prepare(`SELECT * FROM campaigns WHERE id = ?`).get(id) as Record<string, any> | undefined;
    return row && toCampaign(row);
  }

  latestCampaign(): CampaignRow | undefined {
    const row = this.db.prepare(`SELECT * FROM campaigns ORDER BY created_at DESC, rowid DESC LIMIT 1`).get() as Record<string, any> | undefined;
    return row && toCampaign(row);
  }

  campaigns(): CampaignRow[] {
    return (this.db.prepare(`SELECT * FROM campaigns ORDER BY created_at`).all() as Record<string, any>[]).map(toCampaign);
  }

  setCampaignStatus(id: string, status: CampaignStatus): void {
    this.db.prepare(`UPDATE campaigns SET status = ?, finished_at = ? WHERE id = ?`).run(status, status === 'running' ? null : now(), id);
  }

  recordHost(campaignId: string, facts: HostFacts, capabilities: EnforcementSupport[]): void {
    this.db
      .prepare(`INSERT OR REPLACE INTO host_facts (campaign_id, host_id, facts_json, capabilities_json, recorded_at) VALUES (?, ?, ?, ?, ?)`)
      .run(campaignId, facts.hostId, JSON.stringify(facts), JSON.stringify(capabilities), now());
  }

  hosts(campaignId: string): { facts: HostFacts; capabilities: EnforcementSupport[] }[] {
    return (this.db.prepare(`SELECT * FROM host_facts WHERE campaign_id = ? ORDER BY host_id`).all(campaignId) as Record<string, string>[]).map((r) => ({
      facts: JSON.parse(r.facts_json),
      capabilities: JSON.parse(r.capabilities_json),
    }));
  }

  ledger(campaignId: string): LedgerRow[] {
    return (this.db.prepare(`SELECT * FROM runs WHERE campaign_id = ? ORDER BY seq`).all(campaignId) as Record<string, any>[]).map(toLedger);
  }

  /**
   * Resume: runs left 'running' by a crashed orchestrator go back to todo; with `alsoFailed`, so do runs that
   * failed for good last time (with fresh attempts). Done runs are never touched.
   */
  resetInProgress(campaignId: string, alsoFailed = false): number {
    return this.db.transaction(() => {
      let n = this.db.prepare(`UPDATE runs SET status = 'todo', host_id = NULL WHERE campaign_id = ? AND status = 'running'`).run(campaignId).changes;
      if (alsoFailed) n += this.db.prepare(`UPDATE runs SET status = 'todo', host_id = NULL, budget_base = attempts WHERE campaign_id = ? AND status = 'failed'`).run(campaignId).changes;
      return n;
    })();
  }

  /** Mark a todo run running on a host and count the attempt. Returns the attempt number. */
  startRun(campaignId: string, runId: string, hostId: string): number {
    return this.db.transaction(() => {
      const r = this.db.prepare(`UPDATE runs SET status = 'running', attempts = attempts + 1, host_id = ?, started_at = ? WHERE campaign_id = ? AND run_id = ? AND status = 'todo'`).run(hostId, now(), campaignId, runId);
      if (r.changes !== 1) throw new Error(`run ${runId} is not todo`);
      return (this.db.prepare(`SELECT attempts FROM runs WHERE campaign_id = ? AND run_id = ?`).get(campaignId, runId) as { attempts: number }).attempts;
    })();
  }

  /**
   * Write a run's samples and mark it done, atomically. A run already done is left as it is (no duplicates).
   * `kept`: done although out of guard (the reason goes in guard_reason and in the attempt's history row).
   */
  completeRun(campaignId: string, runId: string, samples: Sample[], provenance: Record<string, unknown>, kept?: { guardReason: string }): boolean {
    const insert = this.db.prepare(`INSERT INTO samples (campaign_id, run_id, metric, value, unit, labels_json) VALUES (?, ?, ?, ?, ?, ?)`);
    return this.db.transaction(() => {
      const row = this.db.prepare(`SELECT status, attempts, host_id FROM runs WHERE campaign_id = ? AND run_id = ?`).get(campaignId, runId) as
        | { status: RunStatus; attempts: number; host_id: string | null }
        | undefined;
      if (!row) throw new Error(`no run ${runId} in campaign ${campaignId}`);
      if (row.status === 'done') return false;
      this.db.prepare(`DELETE FROM samples WHERE campaign_id = ? AND run_id = ?`).run(campaignId, runId);
      for (const s of samples) insert.run(campaignId, runId, s.metric, s.value, s.unit, JSON.stringify(s.labels));
      this.db
        .prepare(`UPDATE runs SET status = 'done', finished_at = ?, last_error = NULL, provenance_json = ? WHERE campaign_id = ? AND run_id = ?`)
        .run(now(), JSON.stringify(provenance), campaignId, runId);
      if (kept) this.db.prepare(`UPDATE runs SET guard_reason = ? WHERE campaign_id = ? AND run_id = ?`).run(kept.guardReason, campaignId, runId);
      this.attempt(campaignId, runId, row.attempts, row.host_id, kept ? 'guard-kept' : 'done', kept?.guardReason ?? null);
      return true;
    })();
  }

  /** Record a failed attempt: back to todo while attempts remain and the failure is retryable, else failed. */
  failRun(campaignId: string, runId: string, error: string, retryable: boolean, maxAttempts: number): RunStatus {
    return this.db.transaction(() => {
      const row = this.db.prepare(`SELECT attempts, budget_base, host_id, status FROM runs WHERE campaign_id = ? AND run_id = ?`).get(campaignId, runId) as
        | { attempts: number; budget_base: number; host_id: string | null; status: RunStatus }
        | undefined;
      if (!row || row.status === 'done') return row?.status ?? 'failed';
      const status: RunStatus = retryable && row.attempts - row.budget_base < maxAttempts ? 'todo' : 'failed';
      this.db.prepare(`UPDATE runs SET status = ?, last_error = ?, finished_at = ? WHERE campaign_id = ? AND run_id = ?`).run(status, error, now(), campaignId, runId);
      this.attempt(campaignId, runId, row.attempts, row.host_id, retryable ? 'retryable-failure' : 'fatal-failure', error);
      return status;
    })();
  }

  /**
   * A run whose conditions were out of guard: while attempts remain it goes back to todo, the attempt recorded
   * with outcome 'guard' and the reason; on its last attempt it is kept (done, with its samples) and the reason
   * goes in its guard_reason, so the report counts and marks it. Never silently dropped.
   */
  guardRun(campaignId: string, runId: string, reason: string, maxAttempts: number, samples: Sample[], provenance: Record<string, unknown>): 'todo' | 'done' {
    return this.db.transaction(() => {
      const row = this.db.prepare(`SELECT attempts, budget_base, host_id, status FROM runs WHERE campaign_id = ? AND run_id = ?`).get(campaignId, runId) as
        | { attempts: number; budget_base: number; host_id: string | null; status: RunStatus }
        | undefined;
      if (!row) throw new Error(`no run ${runId} in campaign ${campaignId}`);
      if (row.status === 'done') return 'done';
      if (row.attempts - row.budget_base < maxAttempts) {
        this.db.prepare(`UPDATE runs SET status = 'todo', last_error = ?, finished_at = ? WHERE campaign_id = ? AND run_id = ?`).run(`guard: ${reason}`, now(), campaignId, runId);
        this.attempt(campaignId, runId, row.attempts, row.host_id, 'guard', reason);
        return 'todo';
      }
      this.completeRun(campaignId, runId, samples, provenance, { guardReason: reason });
      return 'done';
    })();
  }

  /** An aborted run (Ctrl-C) goes back to todo without using up its budget (its attempt number stays). */
  releaseRun(campaignId: string, runId: string): void {
    this.db.transaction(() => {
      const row = this.db.prepare(`SELECT attempts, host_id FROM runs WHERE campaign_id = ? AND run_id = ? AND status = 'running'`).get(campaignId, runId) as
        | { attempts: number; host_id: string | null }
        | undefined;
      if (!row) return;
      this.db.prepare(`UPDATE runs SET status = 'todo', budget_base = budget_base + 1, host_id = NULL WHERE campaign_id = ? AND run_id = ?`).run(campaignId, runId);
      this.attempt(campaignId, runId, row.attempts, row.host_id, 'aborted', null);
    })();
  }

  /** Every run with its samples (for analysis and reports). */
  runs(campaignId: string): StoredRun[] {
    const samples = this.db.prepare(`SELECT run_id, metric, value, unit, labels_json FROM samples WHERE campaign_id = ?`).all(campaignId) as Record<string, any>[];
    const byRun = new Map<string, Sample[]>();
    for (const s of samples) {
      let list = byRun.get(s.run_id);
      if (!list) byRun.set(s.run_id, (list = []));
      list.push({ metric: s.metric, value: s.value, unit: s.unit, labels: JSON.parse(s.labels_json) });
    }
    return (this.db.prepare(`SELECT * FROM runs WHERE campaign_id = ? ORDER BY seq`).all(campaignId) as Record<string, any>[]).map((r) => ({
      ...toLedger(r),
      samples: byRun.get(r.run_id) ?? [],
      provenance: JSON.parse(r.provenance_json),
    }));
  }

  attempts(campaignId: string): { runId: string; attempt: number; hostId: string | null; outcome: string; error: string | null }[] {
    return (this.db.prepare(`SELECT * FROM run_attempts WHERE campaign_id = ? ORDER BY run_id, attempt, id`).all(campaignId) as Record<string, any>[]).map((r) => ({
      runId: r.run_id,
      attempt: r.attempt,
      hostId: r.host_id,
      outcome: r.outcome,
      error: r.error,
    }));
  }

  /** The orchestrator running this campaign says it is alive (see orchestrator/heartbeat.ts). */
  heartbeat(campaignId: string, beat: Omit<OrchestratorBeat, 'heartbeatAt'>): void {
    this.db.prepare(`UPDATE campaigns SET orchestrator_json = ? WHERE id = ?`).run(JSON.stringify({ ...beat, heartbeatAt: now() }), campaignId);
  }

  /** Every campaign's ledger in counts, with its orchestrator's last heartbeat: one query. */
  activity(): CampaignActivity[] {
    const rows = this.db
      .prepare(
        `SELECT c.id, c.status, c.orchestrator_json, COUNT(r.run_id) AS total, COALESCE(SUM(r.status = 'done'), 0) AS done,
           COALESCE(SUM(r.status = 'failed'), 0) AS failed, COALESCE(SUM(r.status = 'running'), 0) AS running,
           COALESCE(SUM(r.attempts), 0) AS attempts, MAX(MAX(COALESCE(r.started_at, '')), MAX(COALESCE(r.finished_at, ''))) AS last_change
         FROM campaigns c LEFT JOIN runs r ON r.campaign_id = c.id GROUP BY c.id ORDER BY c.created_at, c.rowid`,
      )
      .all() as Record<string, any>[];
    return rows.map((r) => ({
      campaignId: r.id,
      status: r.status,
      total: r.total,
      done: r.done,
      failed: r.failed,
      running: r.running,
      attempts: r.attempts,
      lastChangeAt: r.last_change || null,
      orchestrator: r.orchestrator_json ? JSON.parse(r.orchestrator_json) : null,
    }));
  }

  /** A campaign's runs with their status, host and times, in ledger order (no specs or samples parsed). */
  runTimes(campaignId: string): RunTimes[] {
    return (
      this.db.prepare(`SELECT run_id, scenario_id, enforcement, status, attempts, host_id, started_at, finished_at FROM runs WHERE campaign_id = ? ORDER BY seq`).all(campaignId) as Record<string, any>[]
    ).map((r) => ({ runId: r.run_id, scenarioId: r.scenario_id, enforcement: r.enforcement, status: r.status, attempts: r.attempts, hostId: r.host_id, startedAt: r.started_at, finishedAt: r.finished_at }));
  }

  private attempt(campaignId: string, runId: string, attempt: number, hostId: string | null, outcome: string, error: string | null): void {
    this.db
      .prepare(`INSERT INTO run_attempts (campaign_id, run_id, attempt, host_id, outcome, error, at) VALUES (?, ?, ?, ?, ?, ?, ?)`)
      .run(campaignId, runId, attempt, hostId, outcome, error, now());
  }
}

/** Stores written before attempts were kept monotonic: add the budget column; re-key the history by row. */
function migrate(db: Database.Database): void {
  const columns = (table: string) => (db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).map((c) => c.name);
  const runs = columns('runs');
  if (runs.length && !runs.includes('budget_base')) db.exec(`ALTER TABLE runs ADD COLUMN budget_base INTEGER NOT NULL DEFAULT 0`);
  const history = columns('run_attempts');
  if (history.length && !history.includes('id'))
    db.transaction(() => {
      db.exec(`ALTER TABLE run_attempts RENAME TO run_attempts_v1`);
      db.exec(SCHEMA);
      db.exec(`INSERT INTO run_attempts (campaign_id, run_id, attempt, host_id, outcome, error, at) SELECT campaign_id, run_id, attempt, host_id, outcome, error, at FROM run_attempts_v1 ORDER BY at`);
      db.exec(`DROP TABLE run_attempts_v1`);
    })();
}

function toCampaign(r: Record<string, any>): CampaignRow {
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
    seed: r.seed,
    provenance: JSON.parse(r.provenance_json),
  };
}

function toLedger(r: Record<string, any>): LedgerRow {
  return { runId: r.run_id, seq: r.seq, status: r.status, attempts: r.attempts, hostId: r.host_id, lastError: r.last_error, spec: JSON.parse(r.spec_json), guardReason: r.guard_reason ?? null };
}
