// Resume never replays: a run's attempt number (and so every operation id the run machine derives from it)
// only goes up, across aborts and resumes, and the attempt history is appended to, never overwritten. The
// last test shows why it matters: a long-lived agent answers a seen op id from memory.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { OpDispatcher } from '../../agents/dispatcher.ts';
import { Store } from '../../orchestrator/store/store.ts';
import { FakeBackend, testRun } from '../fakes/fake-backend.ts';

function freshStore() {
  const path = join(mkdtempSync(join(tmpdir(), 'ironlab-store-')), 'test.db');
  const store = Store.open(path);
  store.createCampaign({ id: 'c1', name: 'test', mode: 'sim', createdAt: new Date().toISOString(), spec: {}, specHash: 'h', sourcePath: 'x.yaml', sourceText: '', seed: 1, provenance: {} }, [testRun({ runId: 'a' })]);
  return { store, path };
}

/** What the run machine sends as the setup's operation id (orchestrator/machines/run-machine.ts). */
const setupOpId = (attempt: number) => `c1/a/a${attempt}/run.setup`;

describe('resume and abort never reuse an attempt number', () => {
  it('a run that failed for good and is resumed continues numbering, with a fresh budget', () => {
    const { store, path } = freshStore();
    for (const n of [1, 2]) {
      expect(store.startRun('c1', 'a', 'h1')).toBe(n);
      store.failRun('c1', 'a', 'host broken', true, 2);
    }
    expect(store.ledger('c1')[0].status).toBe('failed');
    store.close();
    const again = Store.open(path);
    again.resetInProgress('c1', true);
    expect(again.startRun('c1', 'a', 'h1')).toBe(3);
    expect(again.failRun('c1', 'a', 'still broken', true, 2)).toBe('todo'); // a fresh budget of 2
    expect(again.startRun('c1', 'a', 'h1')).toBe(4);
    expect(again.failRun('c1', 'a', 'still broken', true, 2)).toBe('failed');
  });

  it('Ctrl-C, then a kill -9 mid-run, then resume: numbers 1, 2, 3; history keeps every row', () => {
    const { store, path } = freshStore();
    store.startRun('c1', 'a', 'h1');
    store.releaseRun('c1', 'a');
    store.startRun('c1', 'a', 'h1');
    store.close(); // killed while running attempt 2
    const again = Store.open(path);
    again.resetInProgress('c1', true);
    expect(again.startRun('c1', 'a', 'h2')).toBe(3);
    again.completeRun('c1', 'a', [], {});
    expect(again.attempts('c1').map((r) => [r.attempt, r.outcome])).toEqual([[1, 'aborted'], [3, 'done']]);
  });

  it('the history is appended even if two outcomes name one attempt (never INSERT OR REPLACE)', () => {
    const { store } = freshStore();
    store.startRun('c1', 'a', 'h1');
    store.failRun('c1', 'a', 'timeout', true, 3);
    // a late completion of the same attempt after it was failed: both rows stay
    store.completeRun('c1', 'a', [], {});
    expect(store.attempts('c1').map((r) => [r.attempt, r.outcome])).toEqual([[1, 'retryable-failure'], [1, 'done']]);
  });

  it('opens a store written before: keeps its history and numbering', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'ironlab-store-')), 'old.db');
    const old = new Database(path);
    old.exec(`CREATE TABLE run_attempts (campaign_id TEXT NOT NULL, run_id TEXT NOT NULL, attempt INTEGER NOT NULL, host_id TEXT, outcome TEXT NOT NULL,
      error TEXT, at TEXT NOT NULL, PRIMARY KEY (campaign_id, run_id, attempt));
      INSERT INTO run_attempts VALUES ('c1', 'a', 1, 'h1', 'retryable-failure', 'lost', '2026-01-01T00:00:00Z');`);
    old.close();
    const store = Store.open(path);
    expect(store.attempts('c1')).toEqual([{ runId: 'a', attempt: 1, hostId: 'h1', outcome: 'retryable-failure', error: 'lost' }]);
  });

  it('with a long-lived agent: the resumed run really runs again once the host is fixed', async () => {
    const { store } = freshStore();
    const backend = new FakeBackend('h1');
    const agent = new OpDispatcher(backend, () => {});
    backend.failIn = { phase: 'setup', retryable: false, always: true };
    const first = await agent.handle(setupOpId(store.startRun('c1', 'a', 'h1')), 'run.setup', { run: testRun({ runId: 'a' }) });
    expect(first.ok).toBe(false);
    store.failRun('c1', 'a', 'broken', false, 3);
    backend.failIn = null; // the host was fixed
    store.resetInProgress('c1', true);
    const second = await agent.handle(setupOpId(store.startRun('c1', 'a', 'h1')), 'run.setup', { run: testRun({ runId: 'a' }) });
    expect(second.ok).toBe(true);
    expect(backend.calls.filter((c) => c.startsWith('setup'))).toHaveLength(2);
  });
});
