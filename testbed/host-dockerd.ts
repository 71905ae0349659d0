// An emulated host's own Docker engine: a dockerd inside the host's network namespace, started with
// `nsenter --net` (not `ip netns exec`, whose /sys remount hides the cgroup mounts dockerd needs), with its own
// data root, exec root, socket and pid file, no default bridge and no iptables changes. Containers it starts
// with host networking or on its networks live in the host's namespace.
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Docker from 'dockerode';
import { run, startDetached } from './exec.ts';
import { pidsWith, runsOurs, sleep, terminate } from './processes.ts';
import { hostDir, type TestbedHost } from './state.ts';

/** Exec roots and sockets live under /run (short paths: containerd's unix sockets sit below the exec root). */
export const RUN_ROOT = '/run/ironlab-testbed';

export function dockerdPaths(hostId: string, dir?: string): NonNullable<TestbedHost['dockerd']> {
  return {
    socket: join(RUN_ROOT, `${hostId}.sock`),
    pidFile: join(RUN_ROOT, `${hostId}.pid`),
    dataRoot: join(hostDir(hostId, dir), 'docker'),
    execRoot: join(RUN_ROOT, hostId),
  };
}

export const dockerOf = (d: NonNullable<TestbedHost['dockerd']>) => new Docker({ socketPath: d.socket });

function pidOf(d: NonNullable<TestbedHost['dockerd']>): number | null {
  try {
    return Number(readFileSync(d.pidFile, 'utf8').trim()) || null;
  } catch {
    return null;
  }
}

export function dockerdAlive(d: NonNullable<TestbedHost['dockerd']>): boolean {
  return runsOurs(pidOf(d), d.dataRoot);
}

export async function dockerdResponds(d: NonNullable<TestbedHost['dockerd']>): Promise<boolean> {
  try {
    await dockerOf(d).ping();
    return true;
  } catch {
    return false;
  }
}

export async function ensureDockerd(host: TestbedHost, logFile: string): Promise<void> {
  const d = host.dockerd!;
  if (dockerdAlive(d) && (await dockerdResponds(d))) return;
  await startDockerd(d, logFile, { prefix: ['nsenter', `--net=/var/run/netns/${host.netns}`] });
}

/**
 * Start a dockerd on its own data root, exec root, socket and pid file, with no default bridge and no iptables
 * changes, and wait until it answers. `prefix`: what runs it (nsenter into a host's namespace); `flags`: more
 * dockerd flags; `waitMs`: how long it may take to answer.
 */
export async function startDockerd(
  d: NonNullable<TestbedHost['dockerd']>,
  logFile: string,
  opts: { prefix?: string[]; flags?: string[]; waitMs?: number } = {},
): Promise<void> {
  mkdirSync(d.dataRoot, { recursive: true });
  mkdirSync(d.execRoot, { recursive: true });
  const argv = [
    ...(opts.prefix ?? []),
    'dockerd',
    '--data-root',
    d.dataRoot,
    '--exec-root',
    d.execRoot,
    '-H',
    `unix://${d.socket}`,
    '--pidfile',
    d.pidFile,
    '--bridge=none',
    '--iptables=false',
    '--ip6tables=false',
    ...(opts.flags ?? []),
  ];
  const fd = openSync(logFile, 'a');
  let engine: ReturnType<typeof startDetached>;
  try {
    engine = startDetached(argv, { logFd: fd });
  } finally {
    closeSync(fd);
  }
  for (let i = 0; i < (opts.waitMs ?? 30_000) / 100; i++) {
    if (await dockerdResponds(d)) return;
    // Not its command line: right after spawn the child may not have exec'd nsenter yet.
    if (engine.exited()) break;
    await sleep(100);
  }
  const tail = existsSync(logFile) ? readFileSync(logFile, 'utf8').trim().split('\n').slice(-3).join(' / ') : '';
  throw new Error(`dockerd did not come up on ${d.socket} (log ${logFile}${tail ? `: ${tail}` : ''})`);
}

/** Stop the engine, then whatever it left (its containerd and shims, mounts under its roots), then its data. */
export async function removeDockerd(d: NonNullable<TestbedHost['dockerd']>): Promise<string[]> {
  const removed: string[] = [];
  const pid = pidOf(d);
  if (pid && runsOurs(pid, d.dataRoot)) {
    await terminate(pid, d.dataRoot, 20_000);
    removed.push(`dockerd ${pid}`);
  }
  for (const orphan of pidsWith(d.execRoot)) {
    await terminate(orphan, d.execRoot, 5000);
    removed.push(`process ${orphan}`);
  }
  for (const m of mountsUnder([d.dataRoot, d.execRoot])) {
    await run(['umount', '-l', m]).catch(() => undefined);
    removed.push(`mount ${m}`);
  }
  for (const p of [d.dataRoot, d.execRoot, d.socket, d.pidFile]) rmSync(p, { recursive: true, force: true });
  return removed;
}

/** Mount points at or below any of `roots`, deepest first. */
export function mountsUnder(roots: string[]): string[] {
  const points = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((p): p is string => !!p && roots.some((r) => p === r || p.startsWith(`${r}/`)));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}
