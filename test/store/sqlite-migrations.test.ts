// SQLite stores written by earlier versions open and keep what they hold (PostgreSQL stores start with the
// current schema). The ledger's guarantees on both backends are in ledger.test.ts.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { SqliteStore } from '../../orchestrator/store/sqlite-store.ts';
import { testRun } from '../fakes/fake-backend.ts';
import { testCampaign } from './test-campaign.ts';

describe('SQLite stores of earlier versions', () => {
  it('opens a store made before run guards, adding the column', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'ironlab-store-')), 'test.db');
    const store = SqliteStore.open(path);
    await store.createCampaign(testCampaign(), [testRun({ runId: 'a' })]);
    await store.close();
    const raw = new Database(path);
    raw.exec('ALTER TABLE runs DROP COLUMN guard_reason');
    raw.close();
    const again = SqliteStore.open(path);
    expect((await again.ledger('c1'))[0].guardReason).toBeNull();
    await again.close();
  });

  it('opens a store written before attempts were kept by row: keeps its history and numbering', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'ironlab-store-')), 'old.db');
    const old = new Database(path);
    old.exec(`CREATE TABLE run_attempts (campaign_id TEXT NOT NULL, run_id TEXT NOT NULL, attempt INTEGER NOT NULL, host_id TEXT, outcome TEXT NOT NULL,
      error TEXT, at TEXT NOT NULL, PRIMARY KEY (campaign_id, run_id, attempt));
      INSERT INTO run_attempts VALUES ('c1', 'a', 1, 'h1', 'retryable-failure', 'lost', '2026-01-01T00:00:00Z');`);
    old.close();
    const store = SqliteStore.open(path);
    expect(await store.attempts('c1')).toEqual([
      { runId: 'a', attempt: 1, hostId: 'h1', outcome: 'retryable-failure', error: 'lost', at: '2026-01-01T00:00:00Z' },
    ]);
    await store.close();
  });
});
