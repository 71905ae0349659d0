// Two campaigns on the emulated lab under Slurm, for real: `testbed up --slurm --hosts 4` timed, the two small
// sim campaigns of test/lab/slurm.test.ts submitted at once (each leases two hosts) and then one after the
// other, the store's check that no host ran runs of both at the same time, `down` timed, and what is left after
// it. Needs root and testbed/prereqs-lab.sh; holds /tmp/ironlab-real.lock (as repro does) from before `up` to
// after `down`. Run alone with `sudo npx tsx test/bench/slurm-bench.ts`, or `sudo npm run bench -- --json slurm`.
import { existsSync } from 'node:fs';
import { runCli, until } from '../e2e/helpers.ts';
import { labLeftovers } from '../lab/helpers.ts';
import { hostOverlaps, leasedHosts, runBoth, runSpans, SLURM_CAMPAIGN_RUNS, slurmProcesses } from '../lab/slurm-lab.ts';
import { cliFailed as failed, withBenchTestbed } from './bench-testbed.ts';

const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

export async function benchSlurm(): Promise<Record<string, number>> {
  if (process.getuid?.() !== 0) throw new Error('needs root (sudo npm run bench -- --json slurm)');
  if (existsSync('/var/run/netns/ironlab-lab-1')) throw new Error('a testbed is up on this machine (ironlab testbed down first)');
  return withBenchTestbed('slurm', async (dir, work) => {
    let t0 = Date.now();
    const u = await runCli(['testbed', 'up', '--slurm', '--hosts', '4']);
    const slurmUpS = (Date.now() - t0) / 1000;
    if (u.code !== 0) throw failed('testbed up --slurm --hosts 4', u);

    const together = await runBoth(work, 'at-once', true);
    for (const r of together.results) if (r.code !== 0) throw failed('a campaign submitted at once', r);
    const spans = { a: runSpans(together.dbs.a), b: runSpans(together.dbs.b) };
    for (const s of Object.values(spans))
      if (s.length !== SLURM_CAMPAIGN_RUNS) throw new Error(`a campaign stored ${s.length} done runs of ${SLURM_CAMPAIGN_RUNS}`);
    const overlaps = hostOverlaps({ a: leasedHosts(together.dbs.a), b: leasedHosts(together.dbs.b) }, spans);
    for (const o of overlaps) process.stderr.write(`slurm bench: ${o}\n`);
    // The sequential pair starts on released nodes, as the concurrent pair did.
    await until('the Slurm queue to empty', async () => (await runCli(['status'])).stdout.includes('no ironlab jobs'), 60_000);

    const apart = await runBoth(work, 'one-by-one', false);
    for (const r of apart.results) if (r.code !== 0) throw failed('a campaign run one after the other', r);

    t0 = Date.now();
    const d = await runCli(['testbed', 'down']);
    const slurmDownS = (Date.now() - t0) / 1000;
    if (d.code !== 0) throw failed('testbed down', d);
    const left = [...Object.values(labLeftovers(dir)).flat(), ...slurmProcesses()];
    for (const l of left) process.stderr.write(`slurm bench: left after down: ${l}\n`);
    return {
      slurmUpS: round(slurmUpS),
      slurmConcurrentWallS: round(together.wallS),
      slurmSequentialWallS: round(apart.wallS),
      slurmConcurrentOverSequential: round(together.wallS / apart.wallS, 2),
      slurmHostOverlapViolations: overlaps.length,
      slurmDownS: round(slurmDownS),
      slurmLeftoversAfterDown: left.length,
    };
  });
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(JSON.stringify(await benchSlurm()));
