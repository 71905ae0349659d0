// `ironlab serve`: the live dashboard of a result store. Checks its flags before anything starts (one line,
// exit 2), binds 127.0.0.1 unless told otherwise, asks for a token on any other address (generated and
// printed once, or given with --token / IRONLAB_SERVE_TOKEN), and stops cleanly on Ctrl-C.
import { existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { isIP } from 'node:net';
import { UserInputError } from '../../workloads/common/errors.ts';
import { DashboardServer } from './server.ts';
import { sqliteDashboardStore, storeDashboard, type DashboardStore } from './dashboard-store.ts';
import { storeTarget } from '../store/open-store.ts';
import { LOOPBACK_ADDRESSES, MIN_TOKEN_LENGTH, generateToken } from './access.ts';
import type { ReadQueue } from './scheduler-queue.ts';

export const TOKEN_ENV = 'IRONLAB_SERVE_TOKEN';

export interface ServeOptions {
  db?: string;
  store?: string;
  port: number;
  host: string;
  token?: string;
  /** The lab's Slurm queue reader (the CLI passes the testbed's when Slurm is configured here). */
  queue?: ReadQueue;
}

/** Runs until SIGINT/SIGTERM; resolves with the exit code. */
export async function serveCommand(o: ServeOptions, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const store = openStore(o);
  if (!isIP(o.host) && o.host !== 'localhost') {
    store.close();
    throw new UserInputError(`expected an IP address to bind (127.0.0.1, ::1, or one of this machine's), got '${o.host}'`, '--host');
  }
  const token = tokenFor(o, env);
  // a file that is there must be a result store: said now, not on the page
  await store.campaigns().catch((err: Error) => {
    store.close();
    throw new UserInputError(`not a result store (${err.message.replace(/^.*?: /, '')})`, store.description);
  });
  const server = new DashboardServer({ store, host: o.host, port: o.port, token: token?.value ?? null, queue: o.queue });
  const url = await server.listen().catch((err: NodeJS.ErrnoException) => {
    store.close();
    if (err.code === 'EADDRINUSE')
      throw new UserInputError(`port ${o.port} on ${o.host} is in use (give another with --port, or --port 0 for any free one)`, '--port');
    if (err.code === 'EADDRNOTAVAIL') throw new UserInputError(`${o.host} is not an address of this machine`, '--host');
    if (err.code === 'EACCES') throw new UserInputError(`not allowed to bind port ${o.port} (ports below 1024 need root)`, '--port');
    throw err;
  });
  const out = (line: string) => process.stdout.write(`${line}\n`);
  out(
    `ironlab dashboard of ${store.description}${existsSync(store.description) ? '' : ' (no campaign yet: it appears when `ironlab run` creates it)'}`,
  );
  if (o.queue) out('with the Slurm queue (ironlab jobs, read every few seconds)');
  if (!token) out(`open ${url}/  (this machine only; Ctrl-C stops it)`);
  else if (token.generated) out(`open ${url}/?token=${token.value}  (the token is shown only now; Ctrl-C stops it)`);
  else out(`open ${url}/?token=...  (the token you gave; Ctrl-C stops it)`);

  await new Promise<void>((resolveStop) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolveStop();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await server.close();
  store.close();
  out('dashboard stopped');
  return 0;
}

/** --db FILE or --store URL|FILE (or IRONLAB_STORE): a SQLite file or a PostgreSQL server. */
function openStore(o: ServeOptions): DashboardStore {
  const target = storeTarget({ db: o.db, store: o.store?.replace(/^sqlite:(\/\/)?/i, '') });
  if (target.kind === 'postgres') return storeDashboard(target);
  const file = resolve(target.path);
  if (existsSync(file) && !statSync(file).isFile()) throw new UserInputError('is a directory, not a result store', target.path);
  if (!existsSync(dirname(file)))
    throw new UserInputError(`no directory ${dirname(file)} for the result store`, o.store !== undefined ? '--store' : '--db');
  return sqliteDashboardStore(file);
}

function tokenFor(o: ServeOptions, env: NodeJS.ProcessEnv): { value: string; generated: boolean } | null {
  const given = o.token ?? env[TOKEN_ENV];
  const where = o.token !== undefined ? '--token' : TOKEN_ENV;
  if (given !== undefined) {
    if (given.length < MIN_TOKEN_LENGTH || /\s/.test(given))
      throw new UserInputError(`a token needs at least ${MIN_TOKEN_LENGTH} characters and no spaces`, where);
    return { value: given, generated: false };
  }
  return LOOPBACK_ADDRESSES.has(o.host) ? null : { value: generateToken(), generated: true };
}
