// The emulated lab under Slurm, for real: `testbed up --slurm --hosts 4` starts munged, slurmctld and a slurmd per
// emulated host; two campaigns submitted at once each lease two hosts exclusively (their agents are job steps
// there), both complete, and the stores show no host running runs of both campaigns at the same time; the same
// two one after the other give the comparison; a bad partition is one error (exit 2) and leaves no job; `down`
// leaves nothing (no slurm or munge process, no state directory).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, until } from '../e2e/helpers.ts';
import { NOTHING_LEFT, labLeftovers, labSkipReason, useTempTestbedDir } from './helpers.ts';
import {
  hostOverlaps,
  leasedHosts,
  runBoth,
  runSpans,
  runWindowsOverlapS,
  SLURM_CAMPAIGN_RUNS,
  SLURM_LAB_COMMANDS,
  slurmCampaign,
  slurmProcesses,
} from './slurm-lab.ts';

const skip = labSkipReason('test/lab/slurm', { root: true, commands: SLURM_LAB_COMMANDS });

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
    const r = await runCli(['run', slurmCampaign(work, 'bad'), '--slurm', '--partition', 'nosuch', '--db', db, '--no-progress']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^ironlab: --partition: unknown Slurm partition 'nosuch' \(the cluster has: lab\)$/),
    ]);
    expect((await runCli(['status'])).stdout).toContain('no ironlab jobs');
  });

  it('two campaigns submitted at once both complete, and no host runs runs of both at the same time', async () => {
    // While they run, `ironlab status` lists ironlab's jobs: every listing seen is kept.
    const seen: { campaign: string; state: string; where: string }[][] = [];
    const together = await runBoth(work, 'at-once', true, async () => {
      const s = await runCli(['status', '--json']);
      if (s.code === 0) seen.push(JSON.parse(s.stdout));
    });
    figures.concurrentS = together.wallS;
    const [ra, rb] = together.results;
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
    const { dbs } = together;
    const hosts = { a: leasedHosts(dbs.a), b: leasedHosts(dbs.b) };
    for (const hs of Object.values(hosts)) {
      expect(hs).toHaveLength(2);
      for (const h of hs) expect(h).toMatch(/^lab-[1-4]$/);
    }
    const spans = { a: runSpans(dbs.a), b: runSpans(dbs.b) };
    // How much of the two campaigns' run time overlapped (a figure: 0 would mean Slurm ran them one after the other).
    figures.runWindowsOverlapS = runWindowsOverlapS(spans.a, spans.b);
    expect(spans.a).toHaveLength(SLURM_CAMPAIGN_RUNS);
    expect(spans.b).toHaveLength(SLURM_CAMPAIGN_RUNS);
    expect(hostOverlaps(hosts, spans)).toEqual([]);
    // Released at the end: once the epilogs have reaped the nodes (the jobs show COMPLETING meanwhile), nothing stays.
    await until('the queue to empty', async () => (await runCli(['status'])).stdout.includes('no ironlab jobs'), 60_000);

    // The same two campaigns one after the other, for the comparison.
    const apart = await runBoth(work, 'one-by-one', false);
    for (const r of apart.results) expect(r.code, r.stderr).toBe(0);
    figures.sequentialS = apart.wallS;
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
