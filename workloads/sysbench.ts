// sysbench cpu: the paper's victim and its control neighbour. One thread of CPU work, reporting every second,
// so the measurement window is cut out of its interval reports (sysbench-output.ts). The simulated kernel
// models it (a task that runs events at the profile's rate while it has CPU).
import { eventsPerSecondIn, parseSysbenchIntervals } from './sysbench-output.ts';
import { wholeSeconds, type ContainerPlan, type Window, type Workload, type WorkloadSample } from './workload.ts';

/** sysbench cpu, one thread, reporting every second so the measurement window can be cut out of its output. */
export function sysbenchArgv(timeS: number): string[] {
  return ['sysbench', 'cpu', '--threads=1', `--time=${wholeSeconds(timeS)}`, '--report-interval=1', 'run'];
}

// It must report over the whole window, which opens when every host of the run has warmed up: on an emulated
// lab tens of seconds after this sysbench starts. So it runs until the agent stops it at the window's end; its own
// --time is only the bound for an agent gone (a fixed margin past warm-up + window ended it before a late window).
const one = (name: string, shape: 'victim' | 'neighbour', boundS: number): ContainerPlan => ({
  name,
  shape,
  argv: sysbenchArgv(boundS),
  program: 'sysbench',
  stopAtWindowEnd: true,
});

function collect(container: string, log: string, window: Window): WorkloadSample[] | null {
  const eps = eventsPerSecondIn(parseSysbenchIntervals(log), window.startMs, window.endMs);
  if (eps === null) return null;
  const metric = container === 'victim' ? 'victim_events_per_sec' : 'neighbour_events_per_sec';
  return [{ metric, value: eps, unit: 'events/s', labels: { container } }];
}

export const sysbench = {
  kind: 'sysbench',
  description: 'sysbench cpu, one thread (CPU-bound victim; the control neighbour)',
  packages: ['sysbench'],
  victim: {
    plan: (ctx) => [one('victim', 'victim', ctx.boundS)],
    metrics: [{ metric: 'victim_events_per_sec', unit: 'events/s', higherIsBetter: true }],
    control: 'sysbench',
    collect,
  },
  neighbour: {
    plan: (ctx, i) => [one(`neighbour-${i}`, 'neighbour', ctx.boundS)],
    collect,
    network: null,
  },
  sim: 'modelled',
} satisfies Workload<'sysbench'>;
