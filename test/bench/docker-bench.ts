// The `docker` part of the benchmark: what the real backend costs around and during a measurement.
//   runOverheadS:  median over runs of (wall time setup -> teardown) - (measurement window), with no warm-up,
//                  so it is the backend's own cost: network, containers, steering, collect, teardown.
//   agentCpuShare: the agent process's CPU time (user + system) during measure(), divided by the window:
//                  the share of one core the agent takes while the victim is being measured. The counters
//                  are read at the window's edges only, so this should be near zero.
// Runs alternate the sysbench control and a tcp-receiver flood, the cheapest and the busiest arms.
import { DockerBackend } from '../../agents/backends/docker-backend.ts';
import { METRIC, sumOf } from '../../agents/samples.ts';
import type { RunSpec } from '../../agents/run-spec.ts';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function benchDocker(opts: { runs?: number; durationS?: number } = {}): Promise<{ runOverheadS: number; agentCpuShare: number }> {
  const backend = new DockerBackend({ hostId: 'bench-docker' });
  await backend.reap();
  const never = new AbortController().signal;
  const overheads: number[] = [];
  const shares: number[] = [];
  for (let i = 0; i < (opts.runs ?? 4); i++) {
    const run: RunSpec = {
      runId: `bench-${i}`, campaignId: 'bench', scenarioId: 'bench', repetition: i, workload: i % 2 ? 'tcp-receiver' : 'sysbench', params: {},
      enforcement: 'none', neighbours: 1, warmupS: 0, durationS: opts.durationS ?? 2,
      victim: { quotaUs: 50000, periodUs: 100000, cpus: [0] }, neighbour: { quotaUs: 50000, periodUs: 100000, cpus: [0] },
      peer: { cpus: [1] }, nicCpus: [0], seed: i, profile: 'paper',
    };
    const t0 = performance.now();
    await backend.setup(run, never);
    await backend.warmup(run.runId, never, () => {});
    const cpu0 = process.cpuUsage();
    await backend.measure(run.runId, never, () => {});
    const cpu = process.cpuUsage(cpu0);
    const { samples } = await backend.collect(run.runId);
    await backend.teardown(run.runId);
    const wallS = (performance.now() - t0) / 1000;
    const windowS = sumOf(samples, METRIC.windowS);
    overheads.push(wallS - windowS);
    shares.push((cpu.user + cpu.system) / 1e6 / windowS);
  }
  return { runOverheadS: median(overheads), agentCpuShare: median(shares) };
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(JSON.stringify(await benchDocker()));
