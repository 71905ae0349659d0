// The emulated lab under Slurm, for real: `testbed up --slurm --hosts 4` starts munged, slurmctld and a slurmd per
// emulated host; two campaigns submitted at once each lease two hosts exclusively (their agents are job steps
// there), both complete, and the stores show no host running runs of both campaigns at the same time; the same
// two one after the other give the comparison; a bad partition is one error (exit 2) and leaves no job; `down`
// leaves nothing (no slurm or munge process, no state directory).
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { query, runCli, startCli, until } from '../e2e/helpers.ts';
import { NOTHING_LEFT, labLeftovers, labSkipReason, useTempTestbedDir } from './helpers.ts';

const skip = labSkipReason('test/lab/slurm', {
  root: true,
  commands: ['dockerd', 'nsenter', 'unshare', 'munged', 'slurmctld', 'slurmd', 'salloc', 'srun', 'squeue'],
});

/** Processes of Slurm or munge anywhere on the machine (the test machine runs none of its own). */
function slurmProcesses(): string[] {
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

function campaign(work: string, name: string): string {
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

interface Span {
  host: string;
  start: number;
  end: number;
}
function runSpans(db: string): Span[] {
  return query<{ host_id: string; started_at: string; finished_at: string }>(
    db,
    "SELECT host_id, started_at, finished_at FROM runs WHERE status = 'done'",
  ).map((r) => ({ host: r.host_id, start: Date.parse(r.started_at), end: Date.parse(r.finished_at) }));
}
const leasedHosts = (db: string) =>
  query<{ host_id: string }>(db, 'SELECT host_id FROM host_facts')
    .map((r) => r.host_id)
    .sort();

describe.skipIf(skip)('emulated lab under Slurm: hosts leased per campaign', () => {
  const dir = skip ? '' : useTempTestbedDir();
  const work = skip ? '' : mkdtempSync(join(tmpdir(), 'ironlab-slurm-test-'));
  const figures: Record<string, number> = {};
  afterAll(async () => {
    if (skip) return;
    await runCli(['testbed', 'down']);
    console.log(`slurm lab figures: ${JSON.stringify(figures)}`);
  });

  it('testbed up --slurm --hosts 4: munged, slurmctld and four idle nodes, no long-lived agents', async () => {
    const t0 = Date.now();
    const up = await runCli(['testbed', 'up', '--slurm', '--hosts', '4']);
    figures.upS = (Date.now() - t0) / 1000;
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout).toContain('under Slurm');
    for (const h of ['lab-1', 'lab-2', 'lab-3', 'lab-4']) expect(up.stdout).toMatch(new RegExp(`${h}\\s.*slurmd \\(pid \\d+\\)`));
    const q = await runCli(['status']);
    expect(q.code, q.stderr).toBe(0);
    expect(q.stdout).toContain('no ironlab jobs in the Slurm queue');
  });

  it('an unknown partition is one error, exit 2, and queues nothing', async () => {
    const db = join(work, 'bad.db');
    const r = await runCli(['run', campaign(work, 'bad'), '--slurm', '--partition', 'nosuch', '--db', db, '--no-progress']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^ironlab: --partition: unknown Slurm partition 'nosuch' \(the cluster has: lab\)$/),
    ]);
    expect((await runCli(['status'])).stdout).toContain('no ironlab jobs');
  });

  it('two campaigns submitted at once both complete, and no host runs runs of both at the same time', async () => {
    const dbs = { a: join(work, 'a', 'ironlab.db'), b: join(work, 'b', 'ironlab.db') };
    for (const d of ['a', 'b', 'seq-a', 'seq-b']) mkdirSync(join(work, d));
    const t0 = Date.now();
    const runs = (['a', 'b'] as const).map((c) => startCli(['run', campaign(work, c), '--slurm', '--db', dbs[c], '--no-progress']));
    // While they run, `ironlab status` lists ironlab's jobs: every listing seen is kept.
    const seen: { campaign: string; state: string; where: string }[][] = [];
    let finished = false;
    let lastEnd = 0;
    const all = Promise.all(runs.map((r) => r.done.then((x) => ((lastEnd = Date.now()), x)))).finally(() => (finished = true));
    while (!finished) {
      const s = await runCli(['status', '--json']);
      if (s.code === 0) seen.push(JSON.parse(s.stdout));
    }
    const [ra, rb] = await all;
    figures.concurrentS = (lastEnd - t0) / 1000;
    expect(ra.code, ra.stdout + ra.stderr).toBe(0);
    expect(rb.code, rb.stdout + rb.stderr).toBe(0);
    const running = seen.flat().filter((j) => j.state === 'RUNNING');
    expect(running.length, 'ironlab status never showed a running campaign').toBeGreaterThan(0);
    for (const j of running) {
      expect(j.campaign).toMatch(/^[ab] c\d{8}-\d{6}-[0-9a-f]{4}$/);
      expect(j.where).toMatch(/^lab-/);
    }
    figures.statusPolls = seen.length;
    figures.pollsWithBothRunning = seen.filter((l) => l.filter((j) => j.state === 'RUNNING').length === 2).length;
    const hosts = { a: leasedHosts(dbs.a), b: leasedHosts(dbs.b) };
    for (const hs of Object.values(hosts)) {
      expect(hs).toHaveLength(2);
      for (const h of hs) expect(h).toMatch(/^lab-[1-4]$/);
    }
    const spans = { a: runSpans(dbs.a), b: runSpans(dbs.b) };
    // How much of the two campaigns' run time overlapped (a figure: 0 would mean Slurm ran them one after the other).
    const window = (s: Span[]) => [Math.min(...s.map((x) => x.start)), Math.max(...s.map((x) => x.end))];
    const [wa, wb] = [window(spans.a), window(spans.b)];
    figures.runWindowsOverlapS = Math.max(0, Math.min(wa[1], wb[1]) - Math.max(wa[0], wb[0])) / 1000;
    expect(spans.a).toHaveLength(18);
    expect(spans.b).toHaveLength(18);
    // The check the store allows: a host either ran one campaign only, or the two campaigns' time there is apart.
    for (const host of new Set([...hosts.a, ...hosts.b])) {
      const on = (s: Span[]) => s.filter((x) => x.host === host);
      for (const x of on(spans.a))
        for (const y of on(spans.b)) expect(x.end <= y.start || y.end <= x.start, `${host}: runs of both campaigns overlap`).toBe(true);
      if (hosts.a.includes(host) && hosts.b.includes(host)) {
        const span = (s: Span[]) => [Math.min(...s.map((x) => x.start)), Math.max(...s.map((x) => x.end))];
        const [a0, a1] = span(spans.a);
        const [b0, b1] = span(spans.b);
        expect(a1 <= b0 || b1 <= a0, `${host} was leased by both campaigns at once`).toBe(true);
      }
    }
    // Released at the end: once the epilogs have reaped the nodes (the jobs show COMPLETING meanwhile), nothing stays.
    await until('the queue to empty', async () => (await runCli(['status'])).stdout.includes('no ironlab jobs'), 60_000);

    // The same two campaigns one after the other, for the comparison.
    const t1 = Date.now();
    for (const c of ['a', 'b']) {
      const r = await runCli(['run', campaign(work, c), '--slurm', '--db', join(work, `seq-${c}`, 'ironlab.db'), '--no-progress']);
      expect(r.code, r.stderr).toBe(0);
    }
    figures.sequentialS = (Date.now() - t1) / 1000;
  }, 400_000);

  it('testbed down leaves nothing: no slurm or munge process, no state directory, no namespace', async () => {
    const t0 = Date.now();
    const down = await runCli(['testbed', 'down']);
    figures.downS = (Date.now() - t0) / 1000;
    expect(down.code, down.stderr).toBe(0);
    expect(down.stdout).toMatch(/slurmctld.*munged/);
    expect(labLeftovers(dir)).toEqual(NOTHING_LEFT);
    expect(slurmProcesses()).toEqual([]);
  });
});
