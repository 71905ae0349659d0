// The emulated lab's Slurm, running: munged and slurmctld beside the orchestrator (on this machine), and one
// slurmd per emulated host, inside the host's network namespace, in a UTS namespace carrying the host's name (so
// slurmd finds its NodeName by hostname, as on a real node) and in a private mount namespace showing that
// network namespace's sysfs under /sys/class/net (as the lab agent does), so the agents Slurm starts there see
// the host's own NIC. Every daemon is recorded in the state file when started, and `down` stops them by pid
// after cancelling ironlab's jobs (their epilogs reap the nodes); a sweep finds the ones a lost state file does
// not name by the testbed's slurm directory in their command line, and job steps by their network namespace.
import { closeSync, existsSync, openSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { cpus } from 'node:os';
import { run, startDetached } from './exec.ts';
import { hostAddress, labNamespaces } from './lab-network.ts';
import { pidsWith, runsOurs, sleep, terminate } from './processes.ts';
import { pidAlive } from '../workloads/common/pid.ts';
import { SLURM_PARTITION, slurmFiles, writeSlurmFiles, type SlurmFiles, type SlurmNode } from './slurm-config.ts';
import type { TestbedState } from './state.ts';
import { step, type Say } from './steps.ts';

/** The Debian packages of the lab's Slurm (slurm-wlm's daemons and clients, and munge for its credentials). */
export const SLURM_PACKAGES = ['munge', 'slurmctld', 'slurmd', 'slurm-client'];

export const slurmEnv = (conf: string): NodeJS.ProcessEnv => ({ ...process.env, SLURM_CONF: conf });

function nodesOf(state: TestbedState): SlurmNode[] {
  return state.hosts.map((h) => ({ host: h, cpus: cpus().length, features: ['veth', h.backend], dockerSocket: h.dockerd?.socket ?? null }));
}

function logFd(file: string): number {
  return openSync(file, 'a');
}

function start(argv: string[], log: string, env?: NodeJS.ProcessEnv): number {
  const fd = logFd(log);
  try {
    return startDetached(argv, { logFd: fd, env }).pid;
  } finally {
    closeSync(fd);
  }
}

async function waitFor(what: string, ok: () => boolean | Promise<boolean>, ms: number, why: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`${what} did not come up within ${ms / 1000} s (${why()})`);
    await sleep(100);
  }
}

const tail = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').slice(-2).join(' / ') : 'no log');

/** Bring the lab's Slurm up (or find it up): state.slurm is recorded before each daemon starts. */
export async function slurmUp(state: TestbedState, dir: string, say: Say, save: () => void): Promise<void> {
  const f = slurmFiles(dir);
  const s = (state.slurm ??= { dir: f.dir, conf: f.conf, munged: null, slurmctld: null, slurmd: {} });
  save();
  const env = slurmEnv(f.conf);
  if (!runsOurs(s.munged, f.dir)) {
    await step('slurm', 'config', say, () => writeSlurmFiles(f, nodesOf(state), state.hub.host));
    s.munged = await step('slurm', 'munged', say, async () => {
      rmSync(f.mungeSocket, { force: true });
      const pid = start(
        [
          'munged',
          '--foreground',
          '--force',
          `--key-file=${f.mungeKey}`,
          `--socket=${f.mungeSocket}`,
          `--pid-file=${f.mungePid}`,
          `--log-file=${f.mungeLog}`,
          `--seed-file=${f.mungeSeed}`,
        ],
        `${f.mungeLog}.out`,
      );
      await waitFor(
        'munged',
        () => existsSync(f.mungeSocket) || !pidAlive(pid),
        10_000,
        () => tail(`${f.mungeLog}.out`),
      );
      if (!pidAlive(pid)) throw new Error(`munged exited: ${tail(`${f.mungeLog}.out`)} ${tail(f.mungeLog)}`);
      return pid;
    });
    save();
  }
  if (!runsOurs(s.slurmctld, f.dir)) {
    s.slurmctld = await step('slurm', 'slurmctld', say, async () => {
      const pid = start(['slurmctld', '-D', '-i', '-f', f.conf], `${f.ctlLog}.out`, env);
      await waitFor(
        'slurmctld',
        async () => !pidAlive(pid) || (await ping(env)),
        20_000,
        () => tail(f.ctlLog),
      );
      if (!pidAlive(pid)) throw new Error(`slurmctld exited: ${tail(`${f.ctlLog}.out`)} ${tail(f.ctlLog)}`);
      return pid;
    });
    save();
  }
  for (const [i, h] of state.hosts.entries()) {
    if (runsOurs(s.slurmd[h.id], f.dir)) continue;
    s.slurmd[h.id] = await step(h.id, 'slurmd', say, () => startSlurmd(f, h.id, h.netns!, env));
    save();
    if (hostAddress(i + 1) !== h.address) throw new Error(`host ${h.id}: address ${h.address} is not the lab's ${hostAddress(i + 1)}`);
  }
  await step('slurm', 'nodes idle', say, () =>
    waitFor(
      'the nodes',
      async () => (await nodeStates(env)).every((n) => n.state === 'idle') && (await nodeStates(env)).length === state.hosts.length,
      60_000,
      () => JSON.stringify(state.hosts.map((h) => [h.id, tail(f.slurmdLog(h.id))])),
    ),
  );
}

/** slurmd of one emulated host: its network namespace, its hostname, its sysfs; `-D` keeps it our child's child. */
function startSlurmd(f: SlurmFiles, node: string, netns: string, env: NodeJS.ProcessEnv): number {
  const sys = f.sysfs(node);
  // A fixed script; the values are its arguments, never spliced into it.
  const script =
    'hostname "$1" && mkdir -p "$2" && mount -t sysfs sysfs "$2" && mount --bind "$2/class/net" /sys/class/net && mount --bind "$2/devices/virtual/net" /sys/devices/virtual/net && exec slurmd -D -f "$3"';
  return start(
    [
      'nsenter',
      `--net=/var/run/netns/${netns}`,
      'unshare',
      '--uts',
      '--mount',
      '--propagation',
      'private',
      '--',
      'sh',
      '-c',
      script,
      'ironlab-slurmd',
      node,
      sys,
      f.conf,
    ],
    `${f.slurmdLog(node)}.out`,
    env,
  );
}

async function ping(env: NodeJS.ProcessEnv): Promise<boolean> {
  try {
    return (await run(['scontrol', 'ping'], { env, timeoutMs: 10_000 })).includes('UP');
  } catch {
    return false;
  }
}

export async function nodeStates(env: NodeJS.ProcessEnv): Promise<{ node: string; state: string; features: string }[]> {
  try {
    const out = await run(['sinfo', '-h', '-N', '-p', SLURM_PARTITION, '-o', '%N|%t|%f'], { env, timeoutMs: 10_000 });
    return out
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const [node, state, features] = l.split('|');
        return { node, state, features };
      });
  } catch {
    return [];
  }
}

/**
 * Cancel every job (their steps stop, their epilogs reap the nodes), then stop the slurmds, slurmctld and munged;
 * then sweep: daemons of this testbed's slurm directory, and job steps left in the lab's namespaces.
 */
export async function slurmDown(state: TestbedState | null, dir: string): Promise<string[]> {
  const f = slurmFiles(dir);
  const removed: string[] = [];
  const s = state?.slurm;
  if (s && runsOurs(s.slurmctld, f.dir)) {
    const env = slurmEnv(f.conf);
    if (
      await run(['scancel', '--full', '--partition', SLURM_PARTITION], { env, timeoutMs: 10_000 }).then(
        () => true,
        () => false,
      )
    ) {
      // Wait for the jobs to be gone (epilogs done) before the engines go: a reaper needs its dockerd.
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline && (await run(['squeue', '-h', '-o', '%i'], { env, timeoutMs: 10_000 }).catch(() => '')).trim())
        await sleep(250);
      removed.push('slurm jobs');
    }
  }
  // The nodes' daemons at once (each may take its grace period), then the controller and munge.
  const slurmds = Object.entries(s?.slurmd ?? {}).filter(([, pid]) => runsOurs(pid, f.dir));
  await Promise.all(slurmds.map(([, pid]) => terminate(pid!, f.dir, 10_000)));
  removed.push(...slurmds.map(([node]) => `slurmd ${node}`));
  for (const [name, pid] of [
    ['slurmctld', s?.slurmctld],
    ['munged', s?.munged],
  ] as const) {
    if (!runsOurs(pid, f.dir)) continue;
    await terminate(pid!, f.dir, 10_000);
    removed.push(name);
  }
  for (const pid of pidsWith(f.dir)) {
    await terminate(pid, f.dir, 10_000);
    removed.push(`process ${pid}`);
  }
  for (const pid of jobStepPids(labNamespaces())) {
    await terminateAny(pid);
    removed.push(`job process ${pid}`);
  }
  if (existsSync(f.dir)) removed.push(`slurm files (${f.dir})`);
  rmSync(f.dir, { recursive: true, force: true });
  return removed;
}

/** Job steps in these network namespaces (a slurmstepd and its tasks outlive their slurmd): tasks first. */
export function jobStepPids(netns: string[]): number[] {
  const inodes = new Set(netns.map((n) => `net:[${statSync(`/var/run/netns/${n}`).ino}]`));
  if (inodes.size === 0) return [];
  const procs = new Map<number, { ppid: number; comm: string }>();
  for (const d of readdirSync('/proc')) {
    const pid = Number(d);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      if (!inodes.has(readlinkSync(`/proc/${pid}/ns/net`))) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      procs.set(pid, { ppid: Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]), comm });
    } catch {
      /* gone, or a kernel thread */
    }
  }
  const depth = (pid: number): number => {
    let d = 0;
    for (let p = procs.get(pid); p; p = procs.get(p.ppid), d++) if (p.comm === 'slurmstepd') return d;
    return -1;
  };
  return [...procs.keys()].filter((p) => depth(p) >= 0).sort((a, b) => depth(b) - depth(a));
}

async function terminateAny(pid: number): Promise<void> {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let i = 0; i < 50 && pidAlive(pid); i++) await sleep(100);
  if (pidAlive(pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone meanwhile */
    }
  }
}
