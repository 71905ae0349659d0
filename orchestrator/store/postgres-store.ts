// The result store in PostgreSQL (node-postgres), shared by a lab: `--store postgres://USER@HOST/DB` or
// IRONLAB_STORE. Same tables and rules as the SQLite store (store.ts). Each ledger write is one transaction on
// one pooled connection that locks the run's row first (SELECT ... FOR UPDATE), so orchestrators writing at
// once never interleave on a run; a campaign being run is claimed with a session advisory lock, which the
// server drops when the orchestrator's connection dies. The schema is created under a transaction-level
// advisory lock, so two orchestrators starting on an empty database do not race on CREATE TABLE.
import pg from 'pg';
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
import { redactUrl } from './redact-url.ts';
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

const SCHEMA = schemaSql({ bigint: 'BIGINT', real: 'DOUBLE PRECISION', serialKey: 'BIGSERIAL PRIMARY KEY' });
/** Advisory lock keys: the schema (one constant), and a campaign's claim (hashed with this prefix). */
const SCHEMA_LOCK = 0x1a0b1ab;
const CLAIM_SPACE = 0x1a0b1ac;

type Budget = { attempts: number; budget_base: number; host_id: string | null; status: RunStatus };
type Client = pg.PoolClient;

export class PostgresStore implements Store {
  /** The connection that holds this orchestrator's campaign claims (session advisory locks). */
  private claimHolder: Client | null = null;

  private constructor(
    private readonly pool: pg.Pool,
    readonly location: string,
  ) {}

  /** Connect and make sure the schema is there. A bad URL or an unreachable server: UserInputError (exit 2). */
  static async open(url: string): Promise<PostgresStore> {
    const location = redactUrl(url);
    const pool = new pg.Pool({ connectionString: url, max: 4, connectionTimeoutMillis: 10_000, application_name: 'ironlab' });
    // an idle pooled connection that the server drops must not crash the process: the next query reconnects
    pool.on('error', () => {});
    try {
      const c = await pool.connect();
      try {
        await c.query('BEGIN');
        await c.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK]);
        await c.query(SCHEMA);
        await c.query('COMMIT');
      } catch (err) {
        await c.query('ROLLBACK').catch(() => {});
        throw err;
      } finally {
        c.release();
      }
    } catch (err) {
      await pool.end().catch(() => {});
      throw new UserInputError(
        `cannot open the PostgreSQL result store: ${(err as Error).message || (err as NodeJS.ErrnoException).code}`,
        location,
      );
    }
    return new PostgresStore(pool, location);
  }

  async close(): Promise<void> {
    this.claimHolder?.release();
    this.claimHolder = null;
    await this.pool.end();
  }

  /** One transaction on one connection; rolled back on any error. */
  private async tx<T>(work: (c: Client) => Promise<T>): Promise<T> {
    const c = await this.pool.connect();
    try {
      await c.query('BEGIN');
      const out = await work(c);
      await c.query('COMMIT');
      return out;
    } catch (err) {
      await c.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      c.release();
    }
  }

  private async rows(text: string, values: unknown[] = []): Promise<Record<string, any>[]> {
    return (await this.pool.query(text, values)).rows;
  }

  async createCampaign(c: NewCampaign, runs: RunSpec[]): Promise<void> {
    await this.tx(async (db) => {
      const insert = campaignInsert(c, (n) => `$${n}`);
      await db.query(insert.text, insert.values);
      await insertRuns(db, c.id, runs, 0);
    });
  }

  async appendRuns(campaignId: string, runs: RunSpec[]): Promise<void> {
    await this.tx(async (db) => {
      // the campaign row serialises appends to one campaign
      await db.query(`SELECT 1 FROM campaigns WHERE id = $1 FOR UPDATE`, [campaignId]);
      const last = (await db.query(`SELECT COALESCE(MAX(seq), -1) AS s FROM runs WHERE campaign_id = $1`, [campaignId])).rows[0]
        .s as number;
      await insertRuns(db, campaignId, runs, last + 1);
    });
  }

  async campaign(id: string): Promise<CampaignRow | undefined> {
    const [row] = await this.rows(`SELECT * FROM campaigns WHERE id = $1`, [id]);
    return row && toCampaign(row);
  }

  async latestCampaign(): Promise<CampaignRow | undefined> {
    const [row] = await this.rows(`SELECT * FROM campaigns ORDER BY created_at DESC, id DESC LIMIT 1`);
    return row && toCampaign(row);
  }

  async campaigns(): Promise<CampaignRow[]> {
    return (await this.rows(`SELECT * FROM campaigns ORDER BY created_at, id`)).map(toCampaign);
  }

  async progress(): Promise<CampaignProgress[]> {
    return (await this.rows(PROGRESS_SQL)).map(toProgress);
  }

  async setCampaignStatus(id: string, status: CampaignStatus): Promise<void> {
    await this.pool.query(`UPDATE campaigns SET status = $1, finished_at = $2 WHERE id = $3`, [
      status,
      status === 'running' ? null : now(),
      id,
    ]);
  }

  async heartbeat(campaignId: string, beat: Omit<OrchestratorBeat, 'heartbeatAt'>): Promise<void> {
    await this.pool.query(`UPDATE campaigns SET orchestrator_json = $1 WHERE id = $2`, [
      JSON.stringify({ ...beat, heartbeatAt: now() }),
      campaignId,
    ]);
  }

  async activity(): Promise<CampaignActivity[]> {
    return (await this.rows(ACTIVITY_SQL)).map(toActivity);
  }

  async runTimes(campaignId: string): Promise<RunTimes[]> {
    return (await this.rows(RUN_TIMES_SQL.replace('$campaign', '$1'), [campaignId])).map(toRunTimes);
  }

  async recordHost(campaignId: string, facts: HostFacts, capabilities: EnforcementSupport[]): Promise<void> {
    await this.pool.query(
      `INSERT INTO host_facts (campaign_id, host_id, facts_json, capabilities_json, recorded_at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (campaign_id, host_id) DO UPDATE SET facts_json = EXCLUDED.facts_json, capabilities_json = EXCLUDED.capabilities_json, recorded_at = EXCLUDED.recorded_at`,
      [campaignId, facts.hostId, JSON.stringify(facts), JSON.stringify(capabilities), now()],
    );
  }

  async hosts(campaignId: string): Promise<HostRecord[]> {
    return (await this.rows(`SELECT * FROM host_facts WHERE campaign_id = $1 ORDER BY host_id`, [campaignId])).map((r) => ({
      facts: JSON.parse(r.facts_json),
      capabilities: JSON.parse(r.capabilities_json),
    }));
  }

  async ledger(campaignId: string): Promise<LedgerRow[]> {
    return (await this.rows(`SELECT * FROM runs WHERE campaign_id = $1 ORDER BY seq`, [campaignId])).map(toLedger);
  }

  async claimCampaign(campaignId: string): Promise<void> {
    this.claimHolder ??= await this.pool.connect();
    const got = (await this.claimHolder.query(`SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok`, [CLAIM_SPACE, campaignId])).rows[0]
      .ok as boolean;
    if (got) return;
    const holder = (
      await this.claimHolder.query(
        `SELECT a.application_name, a.client_addr, a.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
         WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1::bigint::oid AND l.objid = (hashtext($2)::bigint & 4294967295)::oid LIMIT 1`,
        [CLAIM_SPACE, campaignId],
      )
    ).rows[0];
    const who = holder ? ` (server backend pid ${holder.pid}${holder.client_addr ? ` from ${holder.client_addr}` : ''})` : '';
    throw new UserInputError(`campaign ${campaignId} is being run by another orchestrator${who}; wait for it to end`, this.location);
  }

  async resetInProgress(campaignId: string, alsoFailed = false): Promise<number> {
    return this.tx(async (db) => {
      let n =
        (await db.query(`UPDATE runs SET status = 'todo', host_id = NULL WHERE campaign_id = $1 AND status = 'running'`, [campaignId]))
          .rowCount ?? 0;
      if (alsoFailed)
        n +=
          (
            await db.query(
              `UPDATE runs SET status = 'todo', host_id = NULL, budget_base = attempts WHERE campaign_id = $1 AND status = 'failed'`,
              [campaignId],
            )
          ).rowCount ?? 0;
      return n;
    });
  }

  async startRun(campaignId: string, runId: string, hostId: string): Promise<number> {
    // one statement: the row lock makes a second orchestrator's start of the same run see it running
    const [row] = await this.rows(
      `UPDATE runs SET status = 'running', attempts = attempts + 1, host_id = $1, started_at = $2 WHERE campaign_id = $3 AND run_id = $4 AND status = 'todo' RETURNING attempts`,
      [hostId, now(), campaignId, runId],
    );
    if (!row) throw new Error(`run ${runId} is not todo`);
    return row.attempts;
  }

  async completeRun(...args: Parameters<Store['completeRun']>): Promise<boolean> {
    return this.tx((db) => complete(db, ...args));
  }

  async failRun(campaignId: string, runId: string, error: string, retryable: boolean, maxAttempts: number): Promise<RunStatus> {
    return this.tx(async (db) => {
      const row = await budget(db, campaignId, runId, false);
      if (!row || row.status === 'done') return row?.status ?? 'failed';
      const status = ledgerRules.afterFailure(row, retryable, maxAttempts);
      await db.query(`UPDATE runs SET status = $1, last_error = $2, finished_at = $3 WHERE campaign_id = $4 AND run_id = $5`, [
        status,
        error,
        now(),
        campaignId,
        runId,
      ]);
      await attempt(db, campaignId, runId, row.attempts, row.host_id, retryable ? 'retryable-failure' : 'fatal-failure', error);
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
    return this.tx(async (db) => {
      const row = (await budget(db, campaignId, runId))!;
      if (row.status === 'done') return 'done';
      if (ledgerRules.afterGuard(row, maxAttempts) === 'todo') {
        await db.query(`UPDATE runs SET status = 'todo', last_error = $1, finished_at = $2 WHERE campaign_id = $3 AND run_id = $4`, [
          `guard: ${reason}`,
          now(),
          campaignId,
          runId,
        ]);
        await attempt(db, campaignId, runId, row.attempts, row.host_id, 'guard', reason);
        return 'todo';
      }
      await complete(db, campaignId, runId, samples, provenance, { guardReason: reason });
      return 'done';
    });
  }

  async releaseRun(campaignId: string, runId: string): Promise<void> {
    await this.tx(async (db) => {
      const row = await budget(db, campaignId, runId, false);
      if (!row || row.status !== 'running') return;
      await db.query(
        `UPDATE runs SET status = 'todo', budget_base = budget_base + 1, host_id = NULL WHERE campaign_id = $1 AND run_id = $2`,
        [campaignId, runId],
      );
      await attempt(db, campaignId, runId, row.attempts, row.host_id, 'aborted', null);
    });
  }

  async runs(campaignId: string, only?: { metrics: readonly string[] }): Promise<StoredRun[]> {
    // one snapshot for both reads: a run marked done in between cannot show without its samples
    return this.tx(async (db) => {
      await db.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const samples = (
        await db.query(
          `SELECT run_id, metric, value, unit, labels_json FROM samples WHERE campaign_id = $1${only ? ' AND metric = ANY($2::text[])' : ''}`,
          only ? [campaignId, only.metrics] : [campaignId],
        )
      ).rows;
      const byRun = new Map<string, Sample[]>();
      for (const s of samples) {
        let list = byRun.get(s.run_id);
        if (!list) byRun.set(s.run_id, (list = []));
        list.push({ metric: s.metric, value: s.value, unit: s.unit, labels: JSON.parse(s.labels_json) });
      }
      return (await db.query(`SELECT * FROM runs WHERE campaign_id = $1 ORDER BY seq`, [campaignId])).rows.map((r) => ({
        ...toLedger(r),
        samples: byRun.get(r.run_id) ?? [],
        provenance: JSON.parse(r.provenance_json),
      }));
    });
  }

  async attempts(campaignId: string): Promise<AttemptRow[]> {
    return (await this.rows(`SELECT * FROM run_attempts WHERE campaign_id = $1 ORDER BY run_id, attempt, id`, [campaignId])).map(toAttempt);
  }
}

/** Runs as todo rows, numbered from `firstSeq`, in one statement (a campaign has thousands). */
async function insertRuns(db: Client, campaignId: string, runs: RunSpec[], firstSeq: number): Promise<void> {
  if (!runs.length) return;
  await db.query(
    `INSERT INTO runs (campaign_id, run_id, seq, scenario_id, workload, enforcement, repetition, spec_json, status)
     SELECT $1::text, *, 'todo' FROM unnest($2::text[], $3::int[], $4::text[], $5::text[], $6::text[], $7::int[], $8::text[])`,
    [
      campaignId,
      runs.map((r) => r.runId),
      runs.map((_, i) => firstSeq + i),
      runs.map((r) => r.scenarioId),
      runs.map((r) => r.workload),
      runs.map((r) => r.enforcement),
      runs.map((r) => r.repetition),
      runs.map((r) => JSON.stringify(r)),
    ],
  );
}

/** The run's row, locked for the rest of the transaction. */
async function budget(db: Client, campaignId: string, runId: string, required = true): Promise<Budget | undefined> {
  const row = (
    await db.query(`SELECT attempts, budget_base, host_id, status FROM runs WHERE campaign_id = $1 AND run_id = $2 FOR UPDATE`, [
      campaignId,
      runId,
    ])
  ).rows[0] as Budget | undefined;
  if (!row && required) throw new Error(`no run ${runId} in campaign ${campaignId}`);
  return row;
}

async function complete(
  db: Client,
  campaignId: string,
  runId: string,
  samples: Sample[],
  provenance: Record<string, unknown>,
  kept?: { guardReason: string },
): Promise<boolean> {
  const row = (await budget(db, campaignId, runId))!;
  if (row.status === 'done') return false;
  await db.query(`DELETE FROM samples WHERE campaign_id = $1 AND run_id = $2`, [campaignId, runId]);
  if (samples.length)
    await db.query(
      `INSERT INTO samples (campaign_id, run_id, metric, value, unit, labels_json) SELECT $1::text, $2::text, * FROM unnest($3::text[], $4::float8[], $5::text[], $6::text[])`,
      [
        campaignId,
        runId,
        samples.map((s) => s.metric),
        samples.map((s) => s.value),
        samples.map((s) => s.unit),
        samples.map((s) => JSON.stringify(s.labels)),
      ],
    );
  await db.query(
    `UPDATE runs SET status = 'done', finished_at = $1, last_error = NULL, provenance_json = $2, guard_reason = $3 WHERE campaign_id = $4 AND run_id = $5`,
    [now(), JSON.stringify(provenance), kept?.guardReason ?? null, campaignId, runId],
  );
  await attempt(db, campaignId, runId, row.attempts, row.host_id, kept ? 'guard-kept' : 'done', kept?.guardReason ?? null);
  return true;
}

async function attempt(
  db: Client,
  campaignId: string,
  runId: string,
  n: number,
  hostId: string | null,
  outcome: string,
  error: string | null,
): Promise<void> {
  await db.query(
    `INSERT INTO run_attempts (campaign_id, run_id, attempt, host_id, outcome, error, at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [campaignId, runId, n, hostId, outcome, error, now()],
  );
}
