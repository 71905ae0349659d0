// The store backends one suite runs against: SQLite always; PostgreSQL on a throwaway cluster when the server
// is installed (in CI it must be: a missing server fails there instead of skipping).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { openStore, type StoreTarget } from '../../orchestrator/store/open-store.ts';
import type { Store } from '../../orchestrator/store/store.ts';
import { postgresMissing, startPostgres, type PostgresCluster } from './postgres-cluster.ts';

export interface Backend {
  name: 'sqlite' | 'postgres';
  /** Why this backend's tests skip here (null: they run). */
  skip: string | null;
  /** A new, empty store; its target reopens it (as another process or after a kill would). */
  fresh(): Promise<{ target: StoreTarget; store: Store }>;
}

let cluster: PostgresCluster | null = null;
const dirs: string[] = [];

export const pgSkip: string | null = (() => {
  const why = postgresMissing();
  if (!why) return null;
  if (process.env.CI) throw new Error(`CI: the PostgreSQL store suites need the server: ${why}`);
  console.warn(`skipping the PostgreSQL store tests: ${why}`);
  return why;
})();

/** Call once per test file: starts the cluster (when PostgreSQL is here) and tears everything down after. */
export function useBackends(): Backend[] {
  beforeAll(async () => {
    if (!pgSkip) cluster = await startPostgres();
  });
  afterAll(async () => {
    await cluster?.stop();
    cluster = null;
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  return BACKENDS;
}

export const BACKENDS: Backend[] = [
  {
    name: 'sqlite',
    skip: null,
    async fresh() {
      const dir = mkdtempSync(join(tmpdir(), 'ironlab-store-'));
      dirs.push(dir);
      const target: StoreTarget = { kind: 'sqlite', path: join(dir, 'test.db') };
      return { target, store: await openStore(target) };
    },
  },
  {
    name: 'postgres',
    skip: pgSkip,
    async fresh() {
      const target: StoreTarget = { kind: 'postgres', url: await cluster!.freshDatabase() };
      return { target, store: await openStore(target) };
    },
  },
];

export function postgresCluster(): PostgresCluster {
  if (!cluster) throw new Error('no PostgreSQL cluster: call useBackends() and check pgSkip');
  return cluster;
}
