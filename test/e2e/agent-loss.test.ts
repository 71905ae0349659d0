// An agent killed in the middle of a run: the hub declares it lost within 10 s, the run is booked as a
// retryable failure and run again (on the restarted agent or the other host), and the campaign completes.
import { describe, expect, it } from 'vitest';
import { runCampaign } from '../../testbed/cli/run-command.ts';
import { fixture, ledger, query, tempDb, until } from './helpers.ts';

/**
 * Run the long e2e campaign and, once a run is in flight on sim-1, send its agent `signal`: how long the hub
 * took to declare it lost (and why), which run it held, and the agent's pid.
 */
async function loseAgentMidRun(signal: NodeJS.Signals) {
  const db = tempDb();
  let signalledAt = 0;
  let lostAfterMs = -1;
  let lostReason = '';
  let runId = '';
  let pid = 0;
  const result = await runCampaign({
    campaign: fixture('e2e-long.yaml'),
    db,
    json: true,
    progress: false,
    onStarted: ({ agents, hub }) => {
      hub.on('lost', (hostId, reason) => {
        if (hostId !== 'sim-1' || !signalledAt || lostAfterMs >= 0) return;
        lostAfterMs = Date.now() - signalledAt;
        lostReason = String(reason);
      });
      void until('a run in flight on sim-1', () => ledger(db).find((r) => r.status === 'running' && r.host_id === 'sim-1')).then((row) => {
        runId = row.run_id;
        pid = agents.pid('sim-1')!;
        signalledAt = Date.now();
        process.kill(pid, signal);
      });
    },
  });
  return { db, result, lostAfterMs, lostReason, runId, pid };
}

describe('losing an agent mid-run', () => {
  it('declares it lost within 10 s, retries its run, and completes the campaign', async () => {
    const { db, result, lostAfterMs, runId } = await loseAgentMidRun('SIGKILL');
    expect(result.exitCode).toBe(0);
    expect(lostAfterMs).toBeGreaterThanOrEqual(0);
    expect(lostAfterMs).toBeLessThan(10_000);
    const attempts = query<{ run_id: string; attempt: number; outcome: string; error: string }>(
      db,
      'SELECT * FROM run_attempts WHERE run_id = ? ORDER BY attempt',
      runId,
    );
    expect(attempts[0]).toMatchObject({ attempt: 1, outcome: 'retryable-failure' });
    expect(attempts[0].error).toMatch(/lost/);
    expect(attempts.at(-1)!.outcome).toBe('done');
    expect(ledger(db).every((r) => r.status === 'done')).toBe(true);
  });

  it('declares a hung agent (SIGSTOP) lost by missed heartbeats within 10 s, and finishes on the other host', async () => {
    const { db, result, lostAfterMs, lostReason, pid } = await loseAgentMidRun('SIGSTOP');
    try {
      if (pid) process.kill(pid, 'SIGCONT'); // normally already gone: teardown kills what does not stop
    } catch {
      // ESRCH: gone
    }
    expect(result.exitCode).toBe(0);
    expect(lostAfterMs).toBeGreaterThan(0);
    expect(lostAfterMs).toBeLessThan(10_000);
    expect(lostReason).toMatch(/heartbeats missed/);
    expect(ledger(db).every((r) => r.status === 'done')).toBe(true);
  });
});
