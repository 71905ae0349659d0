// The result store in a SQLite file (better-sqlite3), the default: `--db FILE` or `--store FILE`. Its
// transactions are synchronous, so each method is one transaction from its first read to its last write;
// other processes writing the same file wait on its lock (WAL, busy timeout). The rules are in store.ts.
// Ledger writes (start, complete, fail, guard, release) that arrive within a few milliseconds of each other
// share one commit (group commit): each is its own savepoint inside it, so each still succeeds or fails alone,
// and its caller hears back only once the commit is made. A commit writes whole pages to the WAL, so one commit
// per run was most of a large campaign's store cost.
import Database from 'better-sqlite3';
import type { Sample } from '../../agents/samples.ts';
import type { RunSpec } from '../../agents/run-spec.ts';
import type { EnforcementSupport, HostFacts } from '../../agents/backend.ts';
import { UserInputError } from '../../workloads/common/errors.ts';
import {
  ledgerRules,
  nowIso as now,
  type CampaignActivity,
  type OrchestratorBeat,
  type RunTimes,
  type AttemptRow,
  type CampaignProgress,
  type CampaignRow,
  type CampaignStatus,
  type HostRecord,
  type LedgerRow,
  type NewCampaign,
  type RunStatus,
  type Store,
  type StoredRun,
} from './store.ts';
import {
  ACTIVITY_SQL,
  campaignInsert,
  RUN_TIMES_SQL,
  schemaSql,
  toActivity,
  toRunTimes,
  PROGRESS_SQL,
  toAttempt,
  toCampaign,
  toLedger,
  toProgress,
} from './rows.ts';

const SCHEMA = schemaSql({ bigint: 'INTEGER', real: 'REAL', serialKey: 'INTEGER PRIMARY KEY AUTOINCREMENT' });

type Budget = { attempts: number; budget_base: number; host_id: string | null; status: RunStatus };

/** Sample rows per INSERT statement (6 parameters each; SQLite allows 32766 per statement). */
const SAMPLES_PER_INSERT = 64;

/** How long a ledger write waits for others to share its commit (runs last seconds; this is noise to them). */
const GROUP_COMMIT_MS = 10;

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

interface QueuedWrite {
  work: () => unknown;
  resolve: (v: any) => void;
  reject: (e: unknown) => void;
}

export class SqliteStore implements Store {
  private readonly stmt = new Map<string, Database.Statement>();
  /** Sample inserts by row count. */
  private readonly sampleInserts: Database.Statement[] = [];
  private queued: QueuedWrite[] = [];
  private flushTimer: NodeJS.Timeout | null = null;
  /** One group of ledger writes in one commit, each in its own savepoint (a nested transaction is a savepoint:
   *  a write that throws is undone alone). Made once: better-sqlite3 builds a wrapper per `transaction()` call. */
  private readonly commitGroup: (writes: QueuedWrite[]) => Outcome[];

  private constructor(
    private readonly db: Database.Database,
    readonly location: string,
  ) {
    const savepoint = db.transaction((w: QueuedWrite) => w.work());
    this.commitGroup = db.transaction((writes: QueuedWrite[]) =>
      writes.map((w): Outcome => {
        try {
          return { ok: true, value: savepoint(w) };
        } catch (error) {
          return { ok: false, error };
        }
      }),
    );
  }

  static open(path: string): SqliteStore {
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
    if (!(db.prepare(`PRAGMA table_info(runs)`).all() as { name: string }[]).some((c) => c.name === 'guard_reason'))
      db.exec(`ALTER TABLE runs ADD COLUMN guard_reason TEXT`);
    // stores made before the dashboard: the orchestrator's heartbeat (null = none recorded)
    if (!(db.prepare(`PRAGMA table_info(campaigns)`).all() as { name: string }[]).some((c) => c.name === 'orchestrator_json'))
      db.exec(`ALTER TABLE campaigns ADD COLUMN orchestrator_json TEXT`);
    return new SqliteStore(db, path);
  }

  /** A prepared statement, prepared once (preparing is most of a small write's cost). */
  private sql(text: string): Database.Statement {
    let s = this.stmt.get(text);
    if (!s) this.stmt.set(text, (s = this.db.prepare(text)));
    return s;
  }

  async close(): Promise<void> {
    this.flush();
    this.db.close();
  }

  /** One ledger write, committed with the others queued within GROUP_COMMIT_MS; resolves once committed. */
  private grouped<T>(work: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queued.push({ work, resolve, reject });
      this.flushTimer ??= setTimeout(() => this.flush(), GROUP_COMMIT_MS);
    });
  }

  private flush(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    const writes = this.queued;
    this.queued = [];
    if (!writes.length) return;
    let outcomes: Outcome[];
    try {
      outcomes = this.commitGroup(writes);
    } catch (error) {
      // the commit itself failed: none of them happened
      for (const w of writes) w.reject(error);
      return;
    }
    writes.forEach((w, i) => {
      const o = outcomes[i];
      if (o.ok) w.resolve(o.value);
      else w.reject(o.error);
    });
  }

  async createCampaign(c: NewCampaign, runs: RunSpec[]): Promise<void> {
    this.db.transaction(() => {
      const insert = campaignInsert(c, () => '?');
      this.sql(insert.text).run(...insert.values);
      this.insertRuns(c.id, runs, 0);
    })();
  }

  async appendRuns(campaignId: string, runs: RunSpec[]): Promise<void> {
    this.db.transaction(() => {
      const last = (this.sql(`SELECT COALESCE(MAX(seq), -1) AS s FROM runs WHERE campaign_id = ?`).get(campaignId) as { s: number }).s;
      this.insertRuns(campaignId, runs, last + 1);
    })();
  }

  private insertRuns(campaignId: string, runs: RunSpec[], firstSeq: number): void {
    const insert = this.sql(
      `INSERT INTO runs (campaign_id, run_id, seq, scenario_id, workload, enforcement, repetition, spec_json, status)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'todo')`,
    );
    runs.forEach((r, i) =>
      insert.run(campaignId, r.runId, firstSeq + i, r.scenarioId, r.workload, r.enforcement, r.repetition, JSON.stringify(r)),
    );
  }

  async campaign(id: string): Promise<CampaignRow | undefined> {
    const row = this.sql(`SELECT * FROM campaigns WHERE id = ?`).get(id) as Record<string, any> | undefined;
    return row && toCampaign(row);
  }

  async latestCampaign(): Promise<CampaignRow | undefined> {
    const row = this.sql(`SELECT * FROM campaigns ORDER BY created_at DESC, rowid DESC LIMIT 1`).get() as Record<string, any> | undefined;
    return row && toCampaign(row);
  }

  async campaigns(): Promise<CampaignRow[]> {
    return (this.sql(`SELECT * FROM campaigns ORDER BY created_at, rowid`).all() as Record<string, any>[]).map(toCampaign);
  }

  async progress(): Promise<CampaignProgress[]> {
    return (this.sql(PROGRESS_SQL).all() as Record<string, any>[]).map(toProgress);
  }

  async setCampaignStatus(id: string, status: CampaignStatus): Promise<void> {
    this.sql(`UPDATE campaigns SET status = ?, finished_at = ? WHERE id = ?`).run(status, status === 'running' ? null : now(), id);
  }

  async heartbeat(campaignId: string, beat: Omit<OrchestratorBeat, 'heartbeatAt'>): Promise<void> {
    this.sql(`UPDATE campaigns SET orchestrator_json = ? WHERE id = ?`).run(JSON.stringify({ ...beat, heartbeatAt: now() }), campaignId);
  }

  async activity(): Promise<CampaignActivity[]> {
    return (this.sql(ACTIVITY_SQL).all() as Record<string, any>[]).map(toActivity);
  }

  async runTimes(campaignId: string): Promise<RunTimes[]> {
    return (this.sql(RUN_TIMES_SQL).all({ campaign: campaignId }) as Record<string, any>[]).map(toRunTimes);
  }

  async recordHost(campaignId: string, facts: HostFacts, capabilities: EnforcementSupport[]): Promise<void> {
    this.sql(
      `INSERT OR REPLACE INTO host_facts (campaign_id, host_id, facts_json, capabilities_json, recorded_at) VALUES (?, ?, ?, ?, ?)`,
    ).run(campaignId, facts.hostId, JSON.stringify(facts), JSON.stringify(capabilities), now());
  }

  async hosts(campaignId: string): Promise<HostRecord[]> {
    return (this.sql(`SELECT * FROM host_facts WHERE campaign_id = ? ORDER BY host_id`).all(campaignId) as Record<string, string>[]).map(
      (r) => ({
        facts: JSON.parse(r.facts_json),
        capabilities: JSON.parse(r.capabilities_json),
      }),
    );
  }

  async ledger(campaignId: string): Promise<LedgerRow[]> {
    return (this.sql(`SELECT * FROM runs WHERE campaign_id = ? ORDER BY seq`).all(campaignId) as Record<string, any>[]).map(toLedger);
  }

  async claimCampaign(): Promise<void> {}

  async resetInProgress(campaignId: string, alsoFailed = false): Promise<number> {
    return this.db.transaction(() => {
      let n = this.sql(`UPDATE runs SET status = 'todo', host_id = NULL WHERE campaign_id = ? AND status = 'running'`).run(
        campaignId,
      ).changes;
      if (alsoFailed)
        n += this.sql(
          `UPDATE runs SET status = 'todo', host_id = NULL, budget_base = attempts WHERE campaign_id = ? AND status = 'failed'`,
        ).run(campaignId).changes;
      return n;
    })();
  }

  async startRun(campaignId: string, runId: string, hostId: string): Promise<number> {
    return this.grouped(() => this.start(campaignId, runId, hostId));
  }

  private start(campaignId: string, runId: string, hostId: string): number {
    const row = this.sql(
      `UPDATE runs SET status = 'running', attempts = attempts + 1, host_id = ?, started_at = ? WHERE campaign_id = ? AND run_id = ? AND status = 'todo' RETURNING attempts`,
    ).get(hostId, now(), campaignId, runId) as { attempts: number } | undefined;
    if (!row) throw new Error(`run ${runId} is not todo`);
    return row.attempts;
  }

  async completeRun(
    campaignId: string,
    runId: string,
    samples: Sample[],
    provenance: Record<string, unknown>,
    kept?: { guardReason: string },
  ): Promise<boolean> {
    return this.grouped(() => this.complete(campaignId, runId, samples, provenance, kept));
  }

  /** Inside a transaction: samples, done mark, guard reason and history row. */
  private complete(
    campaignId: string,
    runId: string,
    samples: Sample[],
    provenance: Record<string, unknown>,
    kept?: { guardReason: string },
  ): boolean {
    const row = this.budget(campaignId, runId);
    if (row.status === 'done') return false;
    this.sql(`DELETE FROM samples WHERE campaign_id = ? AND run_id = ?`).run(campaignId, runId);
    this.insertSamples(campaignId, runId, samples);
    this.sql(
      `UPDATE runs SET status = 'done', finished_at = ?, last_error = NULL, provenance_json = ?, guard_reason = ? WHERE campaign_id = ? AND run_id = ?`,
    ).run(now(), JSON.stringify(provenance), kept?.guardReason ?? null, campaignId, runId);
    this.attempt(campaignId, runId, row.attempts, row.host_id, kept ? 'guard-kept' : 'done', kept?.guardReason ?? null);
    return true;
  }

  /** A run's samples, up to SAMPLES_PER_INSERT rows a statement (one statement per row was most of a run's store CPU). */
  private insertSamples(campaignId: string, runId: string, samples: Sample[]): void {
    for (let i = 0; i < samples.length; i += SAMPLES_PER_INSERT) {
      const chunk = samples.slice(i, i + SAMPLES_PER_INSERT);
      const values: unknown[] = [];
      for (const s of chunk) values.push(campaignId, runId, s.metric, s.value, s.unit, JSON.stringify(s.labels));
      const insert = (this.sampleInserts[chunk.length] ??= this.db.prepare(
        `INSERT INTO samples (campaign_id, run_id, metric, value, unit, labels_json) VALUES ${Array(chunk.length).fill('(?, ?, ?, ?, ?, ?)').join(', ')}`,
      ));
      insert.run(values);
    }
  }

  async failRun(campaignId: string, runId: string, error: string, retryable: boolean, maxAttempts: number): Promise<RunStatus> {
    return this.grouped(() => {
      const row = this.budget(campaignId, runId, false);
      if (!row || row.status === 'done') return row?.status ?? 'failed';
      const status = ledgerRules.afterFailure(row, retryable, maxAttempts);
      this.sql(`UPDATE runs SET status = ?, last_error = ?, finished_at = ? WHERE campaign_id = ? AND run_id = ?`).run(
        status,
        error,
        now(),
        campaignId,
        runId,
      );
      this.attempt(campaignId, runId, row.attempts, row.host_id, retryable ? 'retryable-failure' : 'fatal-failure', error);
      return status;
    });
  }

  async guardRun(
    campaignId: string,
    runId: string,
    reason: string,
    maxAttempts: number,
    samples: Sample[],
    provenance: Record<string, unknown>,
  ): Promise<'todo' | 'done'> {
    return this.grouped((): 'todo' | 'done' => {
      const row = this.budget(campaignId, runId);
      if (row.status === 'done') return 'done';
      if (ledgerRules.afterGuard(row, maxAttempts) === 'todo') {
        this.sql(`UPDATE runs SET status = 'todo', last_error = ?, finished_at = ? WHERE campaign_id = ? AND run_id = ?`).run(
          `guard: ${reason}`,
          now(),
          campaignId,
          runId,
        );
        this.attempt(campaignId, runId, row.attempts, row.host_id, 'guard', reason);
        return 'todo';
      }
      this.complete(campaignId, runId, samples, provenance, { guardReason: reason });
      return 'done';
    });
  }

  async releaseRun(campaignId: string, runId: string): Promise<void> {
    return this.grouped(() => {
      const row = this.budget(campaignId, runId, false);
      if (!row || row.status !== 'running') return;
      this.sql(`UPDATE runs SET status = 'todo', budget_base = budget_base + 1, host_id = NULL WHERE campaign_id = ? AND run_id = ?`).run(
        campaignId,
        runId,
      );
      this.attempt(campaignId, runId, row.attempts, row.host_id, 'aborted', null);
    });
  }

  async runs(campaignId: string, only?: { metrics: readonly string[] }): Promise<StoredRun[]> {
    // Streamed, not all rows at once, and each distinct text (metric, unit, labels) made once: a lab campaign has
    // hundreds of thousands of samples but a few dozen distinct labels, and this read was the orchestrator's peak memory.
    const byRun = new Map<string, Sample[]>();
    const texts = new Map<string, string>();
    const labels = new Map<string, Sample['labels']>();
    const text = (t: string) => texts.get(t) ?? (texts.set(t, t), t);
    // the same index walk with or without a metric filter, so a run's samples keep their order
    const metrics = only ? ` AND metric IN (${only.metrics.map(() => '?').join(', ') || 'NULL'})` : '';
    const rows = this.sql(`SELECT run_id, metric, value, unit, labels_json FROM samples WHERE campaign_id = ?${metrics}`)
      .raw(true)
      .iterate(campaignId, ...(only?.metrics ?? [])) as IterableIterator<[string, string, number, string, string]>;
    for (const [runId, metric, value, unit, labelsJson] of rows) {
      let list = byRun.get(runId);
      if (!list) byRun.set(runId, (list = []));
      let l = labels.get(labelsJson);
      if (!l) labels.set(labelsJson, (l = Object.freeze(JSON.parse(labelsJson)) as Sample['labels']));
      list.push({ metric: text(metric), value, unit: text(unit), labels: l });
    }
    return (this.sql(`SELECT * FROM runs WHERE campaign_id = ? ORDER BY seq`).all(campaignId) as Record<string, any>[]).map((r) => ({
      ...toLedger(r),
      samples: byRun.get(r.run_id) ?? [],
      provenance: JSON.parse(r.provenance_json),
    }));
  }

  async attempts(campaignId: string): Promise<AttemptRow[]> {
    return (
      this.sql(`SELECT * FROM run_attempts WHERE campaign_id = ? ORDER BY run_id, attempt, id`).all(campaignId) as Record<string, any>[]
    ).map(toAttempt);
  }

  private budget(campaignId: string, runId: string): Budget;
  private budget(campaignId: string, runId: string, required: false): Budget | undefined;
  private budget(campaignId: string, runId: string, required = true): Budget | undefined {
    const row = this.sql(`SELECT attempts, budget_base, host_id, status FROM runs WHERE campaign_id = ? AND run_id = ?`).get(
      campaignId,
      runId,
    ) as Budget | undefined;
    if (!row && required) throw new Error(`no run ${runId} in campaign ${campaignId}`);
    return row;
  }

  private attempt(campaignId: string, runId: string, attempt: number, hostId: string | null, outcome: string, error: string | null): void {
    this.sql(`INSERT INTO run_attempts (campaign_id, run_id, attempt, host_id, outcome, error, at) VALUES (?, ?, ?, ?, ?, ?, ?)`).run(
      campaignId,
      runId,
      attempt,
      hostId,
      outcome,
      error,
      now(),
    );
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
      db.exec(
        `INSERT INTO run_attempts (campaign_id, run_id, attempt, host_id, outcome, error, at) SELECT campaign_id, run_id, attempt, host_id, outcome, error, at FROM run_attempts_v1 ORDER BY at`,
      );
      db.exec(`DROP TABLE run_attempts_v1`);
    })();
}
