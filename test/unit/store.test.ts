// The ledger's guarantees: samples land with the done mark or not at all, a done run is never redone, and a
// resume puts interrupted runs back without touching completed ones.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { Store } from '../../orchestrator/store/store.ts';
import { testRun } from '../fakes/fake-backend.ts';

function freshStore() {
  const path = join(mkdtempSync(join(tmpdir(), 'ironlab-store-')), 'test.db');
  const store = Store.open(path);
  const runs = [testRun({ runId: 'a' }), testRun({ runId: 'b', repetition: 1 })];
  store.createCampaign({ id: 'c1', name: 'test', mode: 'sim', createdAt: new Date().toISOString(), spec: {}, specHash: 'h', sourcePath: 'x.yaml', sourceText: '', seed: 1, provenance: {} }, runs);
  return { store, path };
}

const samples = [{ metric: 'victim_events_per_sec', value: 10, unit: 'events/s', labels: { container: 'victim' } }];

describe('store', () => {
  it('creates the ledger as todo rows in order', () => {
    const { store } = freshStore();
    expect(store.ledger('c1').map((r) => [r.runId, r.status, r.attempts])).toEqual([['a', 'todo', 0], ['b', 'todo', 0]]);
  });

  it('writes samples with the done mark, once', () => {
    const { store } = freshStore();
    store.startRun('c1', 'a', 'h1');
    expect(store.completeRun('c1', 'a', samples, {})).toBe(true);
    expect(store.completeRun('c1', 'a', samples, {})).toBe(false);
    const a = store.runs('c1').find((r) => r.runId === 'a')!;
    expect(a.status).toBe('done');
    expect(a.samples).toHaveLength(1);
  });

  it('puts a run out of guard back to todo with its reason, and keeps it marked on its last attempt', () => {
    const { store } = freshStore();
    store.startRun('c1', 'a', 'h1');
    expect(store.guardRun('c1', 'a', 'steal 12% on core 0', 2, samples, {})).toBe('todo');
    expect(store.ledger('c1')[0]).toMatchObject({ status: 'todo', lastError: 'guard: steal 12% on core 0', guardReason: null });
    store.startRun('c1', 'a', 'h1');
    expect(store.guardRun('c1', 'a', 'steal 11% on core 0', 2, samples, {})).toBe('done');
    const a = store.runs('c1').find((r) => r.runId === 'a')!;
    expect(a).toMatchObject({ status: 'done', guardReason: 'steal 11% on core 0' });
    expect(a.samples).toHaveLength(1);
    expect(store.attempts('c1').map((x) => [x.attempt, x.outcome, x.error])).toEqual([[1, 'guard', 'steal 12% on core 0'], [2, 'guard-kept', 'steal 11% on core 0']]);
  });

  it('opens a store made before run guards, adding the column', () => {
    const { store, path } = freshStore();
    store.close();
    const raw = new Database(path);
    raw.exec('ALTER TABLE runs DROP COLUMN guard_reason');
    raw.close();
    const again = Store.open(path);
    expect(again.ledger('c1')[0].guardReason).toBeNull();
  });

  it('retries retryable failures until attempts run out; fatal ones at once', () => {
    const { store } = freshStore();
    for (let i = 1; i <= 2; i++) {
      expect(store.startRun('c1', 'a', 'h1')).toBe(i);
      expect(store.failRun('c1', 'a', 'lost', true, 2)).toBe(i < 2 ? 'todo' : 'failed');
    }
    store.startRun('c1', 'b', 'h1');
    expect(store.failRun('c1', 'b', 'bad spec', false, 5)).toBe('failed');
    expect(store.attempts('c1').map((x) => x.outcome)).toEqual(['retryable-failure', 'retryable-failure', 'fatal-failure']);
  });

  it('resume: running rows go back to todo, done rows stay, failed rows come back with fresh attempts', () => {
    const { store, path } = freshStore();
    store.startRun('c1', 'a', 'h1');
    store.completeRun('c1', 'a', samples, {});
    store.startRun('c1', 'b', 'h1');
    store.close();
    const again = Store.open(path); // as after a SIGKILL
    expect(again.resetInProgress('c1', true)).toBe(1);
    expect(again.ledger('c1').map((r) => r.status)).toEqual(['done', 'todo']);
    expect(again.runs('c1')[0].samples).toHaveLength(1);
  });

  it('an aborted run goes back to todo without using up an attempt (its attempt number stays)', () => {
    const { store } = freshStore();
    store.startRun('c1', 'a', 'h1');
    store.releaseRun('c1', 'a');
    expect(store.ledger('c1')[0]).toMatchObject({ status: 'todo', attempts: 1 });
    expect(store.startRun('c1', 'a', 'h1')).toBe(2);
    expect(store.failRun('c1', 'a', 'lost', true, 2)).toBe('todo'); // the aborted attempt did not count
  });
});
