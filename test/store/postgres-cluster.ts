// A throwaway PostgreSQL cluster owned by a test: initdb in a temp dir, listening only on a unix socket in
// that dir (no TCP port), trust auth for its one role, fsync off; `stop()` shuts it down and removes the dir.
// The server refuses to run as root: as root (CI) it runs as Debian's `postgres` user, which owns the dir.
// Binaries: $IRONLAB_PG_BINDIR, else the newest /usr/lib/postgresql/N/bin (Debian), else PATH.
// Installed in CI by testbed/prereqs-store.sh; elsewhere the suites that need it skip, saying why.
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export interface PostgresCluster {
  /** Where the socket lives. */
  dir: string;
  /** A URL for a fresh, empty database of its own (one per call). */
  freshDatabase(): Promise<string>;
  stop(): Promise<void>;
}

const ROLE = 'ironlab';

function binDir(): string | null {
  if (process.env.IRONLAB_PG_BINDIR) return process.env.IRONLAB_PG_BINDIR;
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions.length) return join(root, versions[0], 'bin');
  }
  const which = spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' });
  return which.status === 0 ? join(which.stdout.trim(), '..') : null;
}

function postgresUser(): { uid: number; gid: number } | null {
  const r = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const g = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  return r.status === 0 && g.status === 0 ? { uid: Number(r.stdout), gid: Number(g.stdout) } : null;
}

/** Null when a cluster can be started here; else why not (for the skip message). */
export function postgresMissing(): string | null {
  const bin = binDir();
  if (!bin || !existsSync(join(bin, 'initdb')) || !existsSync(join(bin, 'pg_ctl')))
    return 'PostgreSQL server binaries not found (Debian package postgresql; sudo sh testbed/prereqs-store.sh)';
  if (process.getuid?.() === 0 && !postgresUser()) return "running as root and there is no 'postgres' user to run the server as";
  return null;
}

export async function startPostgres(): Promise<PostgresCluster> {
  const why = postgresMissing();
  if (why) throw new Error(why);
  const bin = binDir()!;
  const dir = mkdtempSync(join(tmpdir(), 'ironlab-pg-'));
  const asRoot = process.getuid?.() === 0;
  const owner = asRoot ? postgresUser()! : null;
  if (owner) chownSync(dir, owner.uid, owner.gid);
  const run = (cmd: string, args: string[]) =>
    execFileSync(asRoot ? 'runuser' : join(bin, cmd), asRoot ? ['-u', 'postgres', '--', join(bin, cmd), ...args] : args, {
      stdio: 'pipe',
      cwd: dir,
    });
  const data = join(dir, 'data');
  try {
    run('initdb', ['-D', data, '-U', ROLE, '-A', 'trust', '-E', 'UTF8', '--no-sync', '--no-instructions']);
    run('pg_ctl', [
      '-D',
      data,
      '-l',
      join(dir, 'server.log'),
      '-w',
      '-t',
      '60',
      '-o',
      `-k ${dir} -c listen_addresses= -c fsync=off -c max_connections=200`,
      'start',
    ]);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(
      `throwaway PostgreSQL cluster did not start: ${(err as { stderr?: Buffer }).stderr?.toString() ?? (err as Error).message}`,
      { cause: err },
    );
  }
  const url = (db: string) => `postgres://${ROLE}@/${db}?host=${encodeURIComponent(dir)}`;
  let n = 0;
  return {
    dir,
    async freshDatabase() {
      const name = `t${process.pid}_${++n}`;
      const admin = new pg.Client({ connectionString: url('postgres') });
      await admin.connect();
      try {
        await admin.query(`CREATE DATABASE ${name}`);
      } finally {
        await admin.end();
      }
      return url(name);
    },
    async stop() {
      try {
        run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
