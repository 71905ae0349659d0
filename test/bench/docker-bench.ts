// The `docker` part of the benchmark: what the real backend costs around and during a measurement.
//   runOverheadS:  median over runs of (wall time setup -> teardown) - (measurement window), with no warm-up,
//                  so it is the backend's own cost: network, containers, steering, collect, teardown. The
//                  containers live as long as the campaign (container-pool.ts): the first run creates them,
//                  the median is that of the runs that find them (as every run of a campaign but the first).
//   agentCpuShare: the agent process's CPU time (user + system) during measure(), divided by the window:
//                  the share of one core the agent takes while the victim is being measured. The counters
//                  are read at the window's edges only, so this should be near zero.
//   phase:<phase>[.<step>]: median seconds of each phase (setup, warmup, measure, collect, teardown, the
//                  waits for warm-up and the window taken out) and of the backend's steps inside them, so
//                  that the bench shows where the overhead goes.
// Runs alternate the sysbench control and a tcp-receiver flood, the cheapest and the busiest arms.
import { DockerBackend } from '../../agents/backends/docker-backend.ts';
import { METRIC, sumOf } from '../../agents/samples.ts';
import type { RunSpec } from '../../agents/run-spec.ts';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function benchDocker(opts: { runs?: number; durationS?: number } = {}): Promise<Record<string, number>> {
  const backend = new DockerBackend({ hostId: 'bench-docker' });
  await backend.reap();
  const never = new AbortController().signal;
  const overheads: number[] = [];
  const shares: number[] = [];
  const phases = new Map<string, number[]>();
  const note = (name: string, ms: number) => phases.set(name, [...(phases.get(name) ?? []), ms / 1000]);
  for (let i = 0; i < (opts.runs ?? 4); i++) {
    const run: RunSpec = {
      runId: `bench-${i}`,
      campaignId: 'bench',
      scenarioId: 'bench',
      repetition: i,
      workload: i % 2 ? 'tcp-receiver' : 'sysbench',
      params: {},
      enforcement: 'none',
      neighbours: 1,
      warmupS: 0,
      durationS: opts.durationS ?? 2,
      victim: { quotaUs: 50000, periodUs: 100000, cpus: [0] },
      neighbour: { quotaUs: 50000, periodUs: 100000, cpus: [0] },
      peer: { cpus: [1] },
      nicCpus: [0],
      seed: i,
      profile: 'paper',
    };
    const t0 = performance.now();
    let lap = t0;
    const phase = (name: string) => {
      const now = performance.now();
      note(name, now - lap);
      lap = now;
    };
    await backend.setup(run, never);
    phase('setup');
    await backend.warmup(run.runId, never, () => {});
    phase('warmup');
    const cpu0 = process.cpuUsage();
    await backend.measure(run.runId, never, () => {});
    const cpu = process.cpuUsage(cpu0);
    const measureMs = performance.now() - lap;
    lap = performance.now();
    const { samples } = await backend.collect(run.runId);
    phase('collect');
    const windowS = sumOf(samples, METRIC.windowS);
    note('measure', measureMs - windowS * 1000); // the window itself is not overhead
    await backend.teardown(run.runId);
    phase('teardown');
    const wallS = (performance.now() - t0) / 1000;
    for (const [step, ms] of Object.entries(backend.phaseTimes.of(run.runId))) note(step, ms);
    overheads.push(wallS - windowS);
    shares.push((cpu.user + cpu.system) / 1e6 / windowS);
  }
  await backend.reap(); // the campaign's pool of containers
  const perPhase = Object.fromEntries(
    [...phases].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [`phase:${k}`, Math.round(median(v) * 1000) / 1000]),
  );
  return { runOverheadS: median(overheads), agentCpuShare: median(shares), ...perPhase };
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(JSON.stringify(await benchDocker()));
