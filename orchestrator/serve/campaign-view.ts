// What the dashboard shows of a campaign: its state (queued, running, stale, done, failed, aborted), who runs
// it and where, on which hosts, how far it is, and (for one campaign) which runs are on which host now and the
// penalties so far with their intervals, from the same analysis as `ironlab report`.
import type { CampaignActivity, CampaignRow, RunTimes } from '../store/store.ts';
import type { CampaignSummary } from '../commands/summary.ts';
import { orchestratorAlive, type Here, THIS_HOST } from './liveness.ts';
import { progressOf, type Progress } from './progress.ts';

/**
 * queued: its ledger exists but no run has started (waiting for hosts); stale: the store says running but its
 * orchestrator is gone (killed: `ironlab run --resume ID` finishes it).
 */
export type CampaignState = 'queued' | 'running' | 'stale' | 'done' | 'failed' | 'aborted';

export interface CampaignItem {
  id: string;
  name: string;
  mode: string;
  createdAt: string;
  finishedAt: string | null;
  state: CampaignState;
  /** user@host of the orchestrator (its heartbeat), else the host its provenance names. */
  startedBy: string | null;
  orchestrator: { user: string; host: string; pid: number; heartbeatAt: string; alive: boolean | null } | null;
  /** The campaign's hosts, as its file names them. */
  hosts: { id: string; backend: string }[];
  progress: Progress;
}

export interface PenaltyItem {
  scenario: string;
  enforcement: string;
  host: string | null;
  mean: number | null;
  ci95: [number, number] | null;
  n: number;
  controlN: number;
  note: string | null;
}

export interface CampaignDetail extends CampaignItem {
  /** Runs in flight: where and since when. */
  runningOn: { hostId: string | null; runId: string; scenario: string; enforcement: string; startedAt: string | null }[];
  penalties: PenaltyItem[];
  /** The interval the penalties carry, in words (design, level). */
  interval: string;
  reportUrl: string;
}

export function campaignItem(
  c: CampaignRow,
  activity: CampaignActivity | undefined,
  runs: readonly RunTimes[],
  nowMs: number,
  here: Here = THIS_HOST,
): CampaignItem {
  const beat = activity?.orchestrator ?? null;
  const alive = orchestratorAlive(beat, nowMs, here);
  const state = stateOf(c.status, activity, alive);
  const spec = c.spec as { hosts?: { id: string; backend?: string }[] } | undefined;
  const provenanceHost = typeof c.provenance.orchestratorHost === 'string' ? c.provenance.orchestratorHost : null;
  return {
    id: c.id,
    name: c.name,
    mode: c.mode,
    createdAt: c.createdAt,
    finishedAt: c.finishedAt,
    state,
    startedBy: beat ? `${beat.user}@${beat.host}` : provenanceHost,
    orchestrator: beat ? { user: beat.user, host: beat.host, pid: beat.pid, heartbeatAt: beat.heartbeatAt, alive } : null,
    hosts: (spec?.hosts ?? []).map((h) => ({ id: h.id, backend: h.backend ?? 'sim' })),
    progress: progressOf(runs, nowMs, state === 'running'),
  };
}

export function stateOf(status: string, activity: CampaignActivity | undefined, alive: boolean | null): CampaignState {
  if (status === 'done' || status === 'failed' || status === 'aborted') return status;
  if (alive === false) return 'stale';
  const started = activity ? activity.attempts > 0 : false;
  return status === 'queued' || !started ? 'queued' : 'running';
}

export function campaignDetail(item: CampaignItem, runs: readonly RunTimes[], summary: CampaignSummary): CampaignDetail {
  const statistics = summary.campaign.statistics;
  return {
    ...item,
    runningOn: runs
      .filter((r) => r.status === 'running')
      .map((r) => ({ hostId: r.hostId, runId: r.runId, scenario: r.scenarioId, enforcement: r.enforcement, startedAt: r.startedAt })),
    penalties: summary.json.scenarios.map((s) => ({
      scenario: s.id,
      enforcement: s.enforcement,
      host: s.host ?? null,
      mean: s.penalty.mean,
      ci95: s.penalty.ci95,
      n: s.penalty.n,
      controlN: s.controlN,
      note: s.penalty.note ?? null,
    })),
    interval: `${(statistics.level * 100).toFixed(statistics.level === 0.95 ? 0 : 2)}% CI, ${statistics.design}: ${statistics.interval}`,
    reportUrl: `/campaigns/${encodeURIComponent(item.id)}/report.html`,
  };
}
