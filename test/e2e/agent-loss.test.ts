// An agent killed in the middle of a run: the hub declares it lost within 10 s, the run is booked as a
// retryable failure and run again (on the restarted agent or the other host), and the campaign completes.
import { describe, expect, it } from 'vitest';
import { runCampaign } from '../../testbed/cli/run-command.ts';
import { fixture, ledger, query, tempDb, until } from './helpers.ts';

describe('losing an agent mid-run', () => {
  it('declares it lost within 10 s, retries its run, and completes the campaign', async () => {
    const db = tempDb();
    let killedAt = 0;
    let lostAfterMs = -1;
    let victimRun = '';
    const result = await runCampaign({
      campaign: fixture('e2e-long.yaml'),
      db,
      json: true,
      progress: false,
      onStarted: ({ agents, hub }) => {
        hub.on('lost', (hostId) => {
          if (hostId === 'sim-1' && killedAt && lostAfterMs < 0) lostAfterMs = Date.now() - killedAt;
        });
        void until('a run in flight on sim-1', () => ledger(db).find((r) => r.status === 'running' && r.host_id === 'sim-1')).then(
          (row) => {
            victimRun = row.run_id;
            killedAt = Date.now();
            process.kill(agents.pid('sim-1')!, 'SIGKILL');
          },
        );
      },
    });
    expect(result.exitCode).toBe(0);
    expect(lostAfterMs).toBeGreaterThanOrEqual(0);
    expect(lostAfterMs).toBeLessThan(10_000);
    const attempts = query<{ run_id: string; attempt: number; outcome: string; error: string }>(
      db,
      'SELECT * FROM run_attempts WHERE run_id = ? ORDER BY attempt',
      victimRun,
    );
    expect(attempts[0]).toMatchObject({ attempt: 1, outcome: 'retryable-failure' });
    expect(attempts[0].error).toMatch(/lost/);
    expect(attempts.at(-1)!.outcome).toBe('done');
    expect(ledger(db).every((r) => r.status === 'done')).toBe(true);
  });

  it('declares a hung agent (SIGSTOP) lost by missed heartbeats within 10 s, and finishes on the other host', async () => {
    const db = tempDb();
    let stoppedAt = 0;
    let lostAfterMs = -1;
    let pid = 0;
    const result = await runCampaign({
      campaign: fixture('e2e-long.yaml'),
      db,
      json: true,
      progress: false,
      onStarted: ({ agents, hub }) => {
        hub.on('lost', (hostId, reason) => {
          if (hostId === 'sim-1' && stoppedAt && lostAfterMs < 0) {
            lostAfterMs = Date.now() - stoppedAt;
            expect(reason).toMatch(/heartbeats missed/);
          }
        });
        void until('a run in flight on sim-1', () => ledger(db).find((r) => r.status === 'running' && r.host_id === 'sim-1')).then(() => {
          pid = agents.pid('sim-1')!;
          stoppedAt = Date.now();
          process.kill(pid, 'SIGSTOP');
        });
      },
    });
    try {
      if (pid) process.kill(pid, 'SIGCONT'); // normally already gone: teardown kills what does not stop
    } catch {
      // ESRCH: gone
    }
    expect(result.exitCode).toBe(0);
    expect(lostAfterMs).toBeGreaterThan(0);
    expect(lostAfterMs).toBeLessThan(10_000);
    expect(ledger(db).every((r) => r.status === 'done')).toBe(true);
  });
});
