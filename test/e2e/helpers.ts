// Helpers for end-to-end tests: run the real CLI as a user would, and read the store it wrote.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { IRONLAB_BIN } from '../../testbed/local-agents.ts';

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function tempDb(): string {
  return join(mkdtempSync(join(tmpdir(), 'ironlab-e2e-')), 'ironlab.db');
}

/** Start `ironlab ARGS` as a child process. */
export function startCli(
  args: string[],
  env: Record<string, string> = {},
): { child: ChildProcess; done: Promise<CliResult>; output: () => string } {
  const child = spawn(process.execPath, [IRONLAB_BIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, FORCE_COLOR: '0', ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<CliResult>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, done, output: () => stdout + stderr };
}

export async function runCli(args: string[]): Promise<CliResult> {
  const r = await startCli(args).done;
  const db = args[args.indexOf('--db') + 1];
  // On an unexpected failure, show the orchestrator's and agents' log (it sits beside the store).
  if (r.code !== 0 && r.code !== 2 && args.includes('--db') && existsSync(join(dirname(db), 'ironlab.log')))
    console.error(
      `ironlab ${args.join(' ')} exited ${r.code}; its log:\n${readFileSync(join(dirname(db), 'ironlab.log'), 'utf8')}\n${r.stderr}`,
    );
  return r;
}

/** Read-only peek at the store while a campaign writes it (WAL lets readers in). */
export function ledger(dbPath: string): { run_id: string; status: string; attempts: number; host_id: string | null }[] {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT run_id, status, attempts, host_id FROM runs ORDER BY seq').all() as never;
  } finally {
    db.close();
  }
}

export function query<T>(dbPath: string, sql: string, ...params: unknown[]): T[] {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}

export async function until<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v;
    } catch {
      // the store may not exist yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Agent processes started by a given orchestrator pid that are still alive. */
export async function agentsOf(orchestratorPid: number): Promise<number[]> {
  const { readdirSync, readFileSync } = await import('node:fs');
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      const i = argv.indexOf('--orchestrator-pid');
      if (argv.includes('agent') && i > 0 && argv[i + 1] === String(orchestratorPid)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

export const fixture = (name: string) => join(import.meta.dirname, '..', 'fixtures', 'campaigns', name);
