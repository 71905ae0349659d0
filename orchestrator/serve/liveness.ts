// Is a campaign's orchestrator still there? The store holds its heartbeat (orchestrator/heartbeat.ts): it is
// gone when the beat is older than a few of its intervals, or at once when it ran on this host and its pid
// no longer exists. Without a beat (stores from before it, or a campaign not yet started) nobody can tell.
import { hostname } from 'node:os';
import type { OrchestratorBeat } from '../store/store.ts';
import { pidAlive } from '../../workloads/common/pid.ts';

/** Missed beats before an orchestrator counts as gone; at least MIN_SILENCE_S (a loaded machine is late). */
export const MISSED_BEATS = 5;
export const MIN_SILENCE_S = 10;

export interface Here {
  host: string;
  pidAlive(pid: number): boolean;
}

export const THIS_HOST: Here = {
  host: hostname(),
  pidAlive,
};

/** true: beating; false: gone; null: no beat recorded. */
export function orchestratorAlive(beat: OrchestratorBeat | null, nowMs: number, here: Here = THIS_HOST): boolean | null {
  if (!beat) return null;
  if (beat.host === here.host && !here.pidAlive(beat.pid)) return false;
  const silenceS = (nowMs - Date.parse(beat.heartbeatAt)) / 1000;
  return silenceS <= Math.max(MIN_SILENCE_S, MISSED_BEATS * beat.everyS);
}
