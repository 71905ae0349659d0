// How far a campaign is: runs done, failed, running and to do, and when it should end. The ETA divides the
// runs left by the recent throughput: the last RECENT finished runs over the time since the first of them
// started (until now, so that a stall lengthens it) (several hosts run at once, so it is runs per wall second, not one run's duration).
import type { RunTimes } from '../store/store.ts';

export const RECENT = 20;

export interface Progress {
  total: number;
  done: number;
  failed: number;
  running: number;
  todo: number;
  /** The first run's start (ISO 8601); null before it. */
  startedAt: string | null;
  /** Runs finished (done or failed) per minute, recently; null before the first. */
  runsPerMin: number | null;
  /** When the last run should finish at that pace (ISO 8601); null when finished or not yet known. */
  etaAt: string | null;
}

export function progressOf(runs: readonly RunTimes[], nowMs: number, live: boolean): Progress {
  const count = (s: RunTimes['status']) => runs.filter((r) => r.status === s).length;
  const done = count('done');
  const failed = count('failed');
  const running = count('running');
  const starts = runs
    .map((r) => r.startedAt)
    .filter((t): t is string => t !== null)
    .sort();
  const finished = runs
    .filter((r) => (r.status === 'done' || r.status === 'failed') && r.finishedAt && r.startedAt)
    .sort((a, b) => (a.finishedAt! < b.finishedAt! ? -1 : 1));
  const recent = finished.slice(-RECENT);
  const since = recent.length ? Math.min(...recent.map((r) => Date.parse(r.startedAt!))) : NaN;
  // while it runs, up to now (a stall shows); once it ended, up to its last run's end
  const until = live || !recent.length ? nowMs : Date.parse(recent[recent.length - 1].finishedAt!);
  const perMs = recent.length && until > since ? recent.length / (until - since) : NaN;
  const left = runs.length - done - failed;
  return {
    total: runs.length,
    done,
    failed,
    running,
    todo: runs.length - done - failed - running,
    startedAt: starts[0] ?? null,
    runsPerMin: Number.isFinite(perMs) ? perMs * 60_000 : null,
    etaAt: live && left > 0 && Number.isFinite(perMs) ? new Date(nowMs + left / perMs).toISOString() : null,
  };
}
