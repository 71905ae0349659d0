// The orchestrator's heartbeat in the store: who runs the campaign (user, host, pid) and when it last said it
// was alive. A campaign left `running` by an orchestrator that was killed looks like a live one in the ledger;
// the dashboard tells them apart by this beat (stale after a few missed beats, or at once when the pid is gone
// on the same host).
import { hostname, userInfo } from 'node:os';
import type { OrchestratorBeat, Store } from './store/store.ts';

export const HEARTBEAT_EVERY_S = 2;

export function orchestratorIdentity(): Omit<OrchestratorBeat, 'heartbeatAt'> {
  let user: string;
  try {
    user = userInfo().username;
  } catch {
    user = `uid ${process.getuid?.() ?? '?'}`; // no passwd entry (containers)
  }
  return { user, host: hostname(), pid: process.pid, everyS: HEARTBEAT_EVERY_S };
}

/** Beat now and every HEARTBEAT_EVERY_S until the returned stop function is called. */
export function startHeartbeat(store: Pick<Store, 'heartbeat'>, campaignId: string): () => void {
  const who = orchestratorIdentity();
  const beat = () => {
    // a busy or unreachable store misses one beat; the next one comes in HEARTBEAT_EVERY_S
    store.heartbeat(campaignId, who).catch(() => {});
  };
  beat();
  const timer = setInterval(beat, HEARTBEAT_EVERY_S * 1000);
  timer.unref();
  return () => clearInterval(timer);
}
