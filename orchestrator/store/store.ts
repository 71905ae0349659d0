// The result store: one interface, two backends (sqlite-store.ts, the default, a file; postgres-store.ts, a
// server several orchestrators share). open-store.ts picks one from `--store` / `--db` / IRONLAB_STORE.
//
// Guarantees every backend keeps (test/store/ runs one suite against both):
// - The run ledger is the source of truth for resume: a run is todo, running, done or failed; a done run's
//   samples were written in the same transaction that marked it done, so a crash at any instant leaves either
//   no samples and a non-done row, or both. A done run is never redone nor its samples written twice.
// - A run's attempt number only ever goes up, across aborts and resumes (the run machine builds operation ids
//   from it, and long-lived agents answer a seen id from memory): what a resume or an abort gives back is
//   budget (`budget_base`: attempts not counted against maxAttempts), never the number. The attempt history
//   is appended to, never overwritten.
// - Every ledger write is one transaction that checks the run's state in the store, not in memory, so several
//   orchestrators may write to one store at once (each its own campaign; `claimCampaign` keeps a second one
//   off a campaign that is being run).
//
// Every method is async (a server store answers over the network); readers (`ironlab report`, the dashboard)
// use the read API below and never write.
import type { Sample } from '../../agents/samples.ts';
import type { RunSpec } from '../../agents/run-spec.ts';
import type { EnforcementSupport, HostFacts } from '../../agents/backend.ts';

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

export interface NewCampaign extends Omit<CampaignRow, 'finishedAt' | 'status'> {
  sourceText: string;
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
  /** When its latest attempt started and when the run last left 'running' (ISO 8601, UTC); null before. */
  startedAt: string | null;
  finishedAt: string | null;
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

export interface AttemptRow {
  runId: string;
  attempt: number;
  hostId: string | null;
  /** done | guard | guard-kept | retryable-failure | fatal-failure | aborted */
  outcome: string;
  error: string | null;
  at: string;
}

/** How far a campaign is: its ledger's rows by status, and when the latest run finished. */
export interface CampaignProgress {
  campaignId: string;
  total: number;
  todo: number;
  running: number;
  done: number;
  failed: number;
  /** Finish time of the latest done or failed run (ISO 8601), null before any. */
  lastFinishedAt: string | null;
}

export interface HostRecord {
  facts: HostFacts;
  capabilities: EnforcementSupport[];
}

/** Reading a store: `ironlab report`, `--baseline`, the dashboard. */
export interface StoreReader {
  /** Where the store is, fit to print (a file path, or a postgres URL without its password). */
  readonly location: string;
  campaign(id: string): Promise<CampaignRow | undefined>;
  latestCampaign(): Promise<CampaignRow | undefined>;
  /** Every campaign, oldest first. */
  campaigns(): Promise<CampaignRow[]>;
  /** Every campaign's progress (one query, for a list of campaigns). */
  progress(): Promise<CampaignProgress[]>;
  hosts(campaignId: string): Promise<HostRecord[]>;
  /** The ledger without samples, in run order. */
  ledger(campaignId: string): Promise<LedgerRow[]>;
  /**
   * Every run with its samples (for analysis and reports), in run order; with `only`, each run's samples of those
   * metrics alone (in the same order as without it).
   */
  runs(campaignId: string, only?: { metrics: readonly string[] }): Promise<StoredRun[]>;
  /** The attempt history, by run then attempt. */
  attempts(campaignId: string): Promise<AttemptRow[]>;
  /** Every campaign's ledger in counts, with its orchestrator's last heartbeat: one query. */
  activity(): Promise<CampaignActivity[]>;
  /** A campaign's runs with their status, host and times, in ledger order (no specs or samples parsed). */
  runTimes(campaignId: string): Promise<RunTimes[]>;
  close(): Promise<void>;
}

/** What an orchestrator writes. Each method is one transaction. */
export interface Store extends StoreReader {
  /** Create the campaign and its whole ledger (all todo) in one transaction. */
  createCampaign(c: NewCampaign, runs: RunSpec[]): Promise<void>;
  /** Add todo runs to a campaign's ledger (adaptive repetitions), numbered after its last run. */
  appendRuns(campaignId: string, runs: RunSpec[]): Promise<void>;
  setCampaignStatus(id: string, status: CampaignStatus): Promise<void>;
  /** The orchestrator running this campaign says it is alive (see orchestrator/heartbeat.ts). */
  heartbeat(campaignId: string, beat: Omit<OrchestratorBeat, 'heartbeatAt'>): Promise<void>;
  recordHost(campaignId: string, facts: HostFacts, capabilities: EnforcementSupport[]): Promise<void>;
  /**
   * This orchestrator runs the campaign until the store is closed: a second claim of it (another orchestrator
   * resuming it) is refused with a UserInputError naming the holder. Held by a server session lock in
   * PostgreSQL (released when the process dies); SQLite stores are one user's file and take no claim.
   */
  claimCampaign(campaignId: string): Promise<void>;
  /**
   * Resume: runs left 'running' by a crashed orchestrator go back to todo; with `alsoFailed`, so do runs that
   * failed for good last time (with fresh attempts). Done runs are never touched. Returns how many.
   */
  resetInProgress(campaignId: string, alsoFailed?: boolean): Promise<number>;
  /** Mark a todo run running on a host and count the attempt. Returns the attempt number. Throws if not todo. */
  startRun(campaignId: string, runId: string, hostId: string): Promise<number>;
  /**
   * Write a run's samples and mark it done, atomically. A run already done is left as it is (returns false).
   * `kept`: done although out of guard (the reason goes in guard_reason and in the attempt's history row).
   */
  completeRun(
    campaignId: string,
    runId: string,
    samples: Sample[],
    provenance: Record<string, unknown>,
    kept?: { guardReason: string },
  ): Promise<boolean>;
  /** Record a failed attempt: back to todo while attempts remain and the failure is retryable, else failed. */
  failRun(campaignId: string, runId: string, error: string, retryable: boolean, maxAttempts: number): Promise<RunStatus>;
  /**
   * A run whose conditions were out of guard: while attempts remain it goes back to todo, the attempt recorded
   * with outcome 'guard' and the reason; on its last attempt it is kept (done, with its samples) and the reason
   * goes in its guard_reason, so the report counts and marks it. Never silently dropped.
   */
  guardRun(
    campaignId: string,
    runId: string,
    reason: string,
    maxAttempts: number,
    samples: Sample[],
    provenance: Record<string, unknown>,
  ): Promise<'todo' | 'done'>;
  /** An aborted run (Ctrl-C) goes back to todo without using up its budget (its attempt number stays). */
  releaseRun(campaignId: string, runId: string): Promise<void>;
}

/** The decisions every backend makes the same way (the SQL differs, the rules do not). */
export const ledgerRules = {
  /** After a failed attempt: retry while the failure is retryable and budget remains. */
  afterFailure: (row: { attempts: number; budget_base: number }, retryable: boolean, maxAttempts: number): RunStatus =>
    retryable && row.attempts - row.budget_base < maxAttempts ? 'todo' : 'failed',
  /** Out of guard: repeat while budget remains, else keep it marked. */
  afterGuard: (row: { attempts: number; budget_base: number }, maxAttempts: number): 'todo' | 'done' =>
    row.attempts - row.budget_base < maxAttempts ? 'todo' : 'done',
};

export const nowIso = () => new Date().toISOString();
