// The emulated lab under Slurm as test/lab/slurm.test.ts and the bench's `slurm` part both use it: the small sim
// campaign two of which share the 4-host lab, what the stores say about where and when their runs happened, and
// what could be left of Slurm on the machine. One home, so the bench measures what the suite checks.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { query, runCli, startCli, type CliResult } from '../e2e/helpers.ts';

/** The commands a Slurm lab needs on this machine (testbed/prereqs-lab.sh installs them). */
export const SLURM_LAB_COMMANDS = ['dockerd', 'nsenter', 'unshare', 'munged', 'slurmctld', 'slurmd', 'salloc', 'srun', 'squeue'];

/** Runs each of the small campaigns has: 3 scenarios x 2 enforcement modes x 3 repetitions. */
export const SLURM_CAMPAIGN_RUNS = 18;

/** Processes of Slurm or munge anywhere on the machine (the test machine runs none of its own). */
export function slurmProcesses(): string[] {
  const out: string[] = [];
  for (const name of ['munged', 'slurmctld', 'slurmd', 'slurmstepd', 'salloc', 'srun']) {
    try {
      const pids = execFileSync('pgrep', ['-x', name], { encoding: 'utf8' }).trim();
      if (pids) out.push(`${name}: ${pids.replace(/\n/g, ' ')}`);
    } catch {
      /* none */
    }
  }
  return out;
}

/** A two-host sim campaign (server + peer) of SLURM_CAMPAIGN_RUNS short runs, written into work; its path. */
export function slurmCampaign(work: string, name: string): string {
  const file = join(work, `${name}.yaml`);
  writeFileSync(
    file,
    [
      `name: ${name}`,
      // Host ids that are not the cluster's nodes: any two free nodes are leased, host i on node i.
      `hosts: [{ id: ${name}-server, backend: sim, roles: [server] }, { id: ${name}-peer, backend: sim, roles: [peer] }]`,
      'defaults: { warmupS: 0.2, durationS: 1 }',
      'matrix: [{ workload: sysbench }, { workload: udp-receiver, rateGbps: [4] }, { workload: tcp-sender }]',
      'enforcement: [none, iron-kernel]',
      'repetitions: 3',
      'seed: 5',
    ].join('\n') + '\n',
  );
  return file;
}

/**
 * Campaigns `a` and `b` through Slurm, submitted at once (together) or one after the other, each into its own
 * store under work/<tag>-a, work/<tag>-b. Wall seconds from the first submission to the last exit; whileRunning,
 * when given, is called again and again until both have ended (the suite polls `ironlab status` with it).
 */
export async function runBoth(
  work: string,
  tag: string,
  together: boolean,
  whileRunning?: () => Promise<unknown>,
): Promise<{ wallS: number; dbs: { a: string; b: string }; results: CliResult[] }> {
  const dbs = { a: join(work, `${tag}-a`, 'ironlab.db'), b: join(work, `${tag}-b`, 'ironlab.db') };
  const args = (c: 'a' | 'b') => {
    mkdirSync(join(work, `${tag}-${c}`), { recursive: true });
    return ['run', slurmCampaign(work, c), '--slurm', '--db', dbs[c], '--no-progress'];
  };
  const t0 = Date.now();
  let lastEnd = t0;
  const results: CliResult[] = [];
  if (together) {
    let finished = false;
    const all = Promise.all((['a', 'b'] as const).map((c) => startCli(args(c)).done.then((r) => ((lastEnd = Date.now()), r))));
    void all.finally(() => (finished = true));
    while (whileRunning && !finished) await whileRunning();
    results.push(...(await all));
  } else {
    for (const c of ['a', 'b'] as const) results.push(await runCli(args(c)));
    lastEnd = Date.now();
  }
  return { wallS: (lastEnd - t0) / 1000, dbs, results };
}

/** Where and when one done run ran (ms since the epoch). */
export interface Span {
  host: string;
  start: number;
  end: number;
}

export function runSpans(db: string): Span[] {
  return query<{ host_id: string; started_at: string; finished_at: string }>(
    db,
    "SELECT host_id, started_at, finished_at FROM runs WHERE status = 'done'",
  ).map((r) => ({ host: r.host_id, start: Date.parse(r.started_at), end: Date.parse(r.finished_at) }));
}

/** The hosts a campaign leased (the store records Slurm's nodes as its hosts), sorted. */
export const leasedHosts = (db: string): string[] =>
  query<{ host_id: string }>(db, 'SELECT host_id FROM host_facts')
    .map((r) => r.host_id)
    .sort();

const window = (s: Span[]) => [Math.min(...s.map((x) => x.start)), Math.max(...s.map((x) => x.end))];

/** Seconds during which both campaigns had runs going anywhere (0: Slurm ran them one after the other). */
export function runWindowsOverlapS(a: Span[], b: Span[]): number {
  const [wa, wb] = [window(a), window(b)];
  return Math.max(0, Math.min(wa[1], wb[1]) - Math.max(wa[0], wb[0])) / 1000;
}

/**
 * Every time a host ran runs of both campaigns at once, one line each; empty when the leases kept them apart.
 * What the stores allow checking: on each host, no run of one campaign overlaps a run of the other, and a host
 * both campaigns leased was leased by one after the other's runs had all ended.
 */
export function hostOverlaps(hosts: { a: string[]; b: string[] }, spans: { a: Span[]; b: Span[] }): string[] {
  const found: string[] = [];
  const iso = (t: number) => new Date(t).toISOString();
  for (const host of new Set([...hosts.a, ...hosts.b])) {
    const on = (s: Span[]) => s.filter((x) => x.host === host);
    for (const x of on(spans.a))
      for (const y of on(spans.b))
        if (!(x.end <= y.start || y.end <= x.start))
          found.push(`${host}: a run of a (${iso(x.start)}-${iso(x.end)}) overlaps one of b (${iso(y.start)}-${iso(y.end)})`);
    if (hosts.a.includes(host) && hosts.b.includes(host)) {
      const [a0, a1] = window(spans.a);
      const [b0, b1] = window(spans.b);
      if (!(a1 <= b0 || b1 <= a0)) found.push(`${host} was leased by both campaigns at once`);
    }
  }
  return found;
}
