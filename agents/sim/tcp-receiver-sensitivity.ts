// The TCP receiver at 9 Gbit/s with one kernel rule or set-up choice changed at a time from the `paper` profile
// (seed 1000, 1 s warm-up + 5 s): the sensitivity table in agents/sim/README.md.
//   npx tsx agents/sim/tcp-receiver-sensitivity.ts
import { METRIC, sumOf } from '../samples.ts';
import type { ScenarioParams } from '../../workloads/catalog.ts';
import { HostKernel } from './host-kernel.ts';
import { paperRunSpec, type PaperRunOptions } from './paper-defaults.ts';
import { loadProfile, type HostProfile } from './profile.ts';
import { samplesFromSim } from './samples-from-sim.ts';

interface Outcome {
  victim: number;
  ksoftirqd: number;
  gbps: number;
  jiffyPerS: number;
}

function simulate(o: PaperRunOptions, prof: Partial<HostProfile>): Outcome {
  const spec = paperRunSpec({ seed: 1000, ...o });
  const k = new HostKernel(spec, { ...loadProfile('paper'), ...prof });
  k.run(spec.warmupS * 1e9);
  const a = k.snapshot();
  k.run(spec.durationS * 1e9);
  const b = k.snapshot();
  const s = samplesFromSim(spec, a, b, k.cores);
  let bytes = 0;
  for (let i = 1; i < b.containers.length; i++) bytes += b.containers[i].goodputBytes - a.containers[i].goodputBytes;
  const simS = spec.warmupS + spec.durationS;
  return {
    victim: sumOf(s, METRIC.victimEventsPerSec),
    ksoftirqd: sumOf(s, METRIC.ksoftirqdShare, { core: '0' }),
    gbps: (bytes * 8) / 1e9 / spec.durationS,
    jiffyPerS: k.pollEntries.jiffy / simS,
  };
}

const VARIANTS: [string, { neighbours?: number; params?: ScenarioParams }, Partial<HostProfile>][] = [
  ['paper (two neighbours, 1 flow each, HZ 250)', {}, {}],
  ['socket backlog off (TCP layer in softirq)', {}, { tcpBacklogInReaderContext: false }],
  ['HZ 1000', {}, { timerTickHz: 1000 }],
  ['CONFIG_IRQ_TIME_ACCOUNTING=y', {}, { irqTimeAccounting: true }],
  ['4.9+ (ksoftirqd does its job)', {}, { softirqDeferToKsoftirqdWhilePending: true }],
  ['8 flows', { params: { rateGbps: 9, flows: 8 } }, {}],
  ['one neighbour (50/50 quotas)', { neighbours: 1 }, {}],
  ['four neighbours', { neighbours: 4 }, {}],
];

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log('| variant | penalty | ksoftirqd | goodput Gbit/s | jiffy/s |');
  console.log('|---|---|---|---|---|');
  for (const [name, o, prof] of VARIANTS) {
    const control = simulate({ workload: 'sysbench', neighbours: o.neighbours }, prof);
    const r = simulate({ workload: 'tcp-receiver', params: { rateGbps: 9 }, ...o }, prof);
    console.log(
      `| ${name} | ${(control.victim / r.victim).toFixed(2)} | ${r.ksoftirqd.toFixed(2)} | ${r.gbps.toFixed(2)} | ${r.jiffyPerS.toFixed(0)} |`,
    );
  }
}
