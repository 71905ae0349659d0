// Which result store a command uses: `--store postgres://...` (PostgreSQL), `--store FILE` or `--db FILE`
// (SQLite), else $IRONLAB_STORE, else ./ironlab.db. Opening checks the whole way: a malformed URL, an
// unknown scheme or an unreachable server is one UserInputError naming the store (exit 2).
import { existsSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parsePostgresUrl } from 'pg-connection-string';
import { UserInputError } from '../../workloads/common/errors.ts';
import { redactUrl } from './redact-url.ts';
import type { Store } from './store.ts';

export type StoreTarget = { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string };

export const DEFAULT_DB = 'ironlab.db';

/** From the flags and the environment. `--store` and `--db` name the same thing: both at once is an error. */
export function storeTarget(o: { store?: string; db?: string }, env: NodeJS.ProcessEnv = process.env): StoreTarget {
  if (o.store && o.db) throw new UserInputError('give --db FILE or --store URL, not both', '--store');
  const given = o.store ?? o.db ?? (env.IRONLAB_STORE || undefined) ?? DEFAULT_DB;
  const where = o.store ? '--store' : o.db ? '--db' : env.IRONLAB_STORE ? 'IRONLAB_STORE' : '--db';
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(given)?.[1].toLowerCase();
  if (scheme === undefined) return { kind: 'sqlite', path: given };
  if (scheme !== 'postgres' && scheme !== 'postgresql')
    throw new UserInputError(`unsupported store URL '${given}': use postgres://USER@HOST[:PORT]/DB or a SQLite file path`, where);
  try {
    // node-postgres's own parser (a socket directory goes in ?host=, with no host before the path)
    parsePostgresUrl(given);
  } catch {
    throw new UserInputError(`malformed PostgreSQL URL (expected postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?host=/socket/dir])`, where);
  }
  return { kind: 'postgres', url: given };
}

export function storeExists(t: StoreTarget): boolean {
  return t.kind === 'postgres' || existsSync(t.path);
}

export async function openStore(t: StoreTarget): Promise<Store> {
  if (t.kind === 'sqlite') {
    const { SqliteStore } = await import('./sqlite-store.ts');
    return SqliteStore.open(t.path);
  }
  const { PostgresStore } = await import('./postgres-store.ts');
  return PostgresStore.open(t.url);
}

/** The flag that names this store again (for "resume with" lines), without a password. */
export function storeFlag(t: StoreTarget): string {
  return t.kind === 'sqlite' ? `--db ${t.path}` : `--store ${redactUrl(t.url)}`;
}

/** Where the store is, fit to print. */
export function storeLocation(t: StoreTarget): string {
  return t.kind === 'sqlite' ? t.path : redactUrl(t.url);
}

/** A SQLite store this command made and then refused to use: gone, with its journal files. */
export function removeSqliteFiles(t: StoreTarget): void {
  if (t.kind !== 'sqlite') return;
  const path = resolve(t.path);
  for (const f of [path, `${path}-wal`, `${path}-shm`]) rmSync(f, { force: true });
}
