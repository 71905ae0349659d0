// Convergence report for agents/sim/README.md: the heaviest cells of the paper matrix with the event engine as
// is, with extra events forced on a fixed grid (what a fixed step would do), and with the one resolution knob
// (simMaxAdvanceUs) halved. Penalty = sysbench control / network scenario, same seed.
//   npx tsx agents/sim/convergence.ts [reps]
import { METRIC, sumOf } from '../samples.ts';
import type { ScenarioParams, WorkloadKind } from '../../workloads/catalog.ts';
import type { KernelOptions } from './host-kernel.ts';
import { paperRunSpec } from './paper-defaults.ts';
import { loadProfile } from './profile.ts';
import { simulateRun } from './simulate.ts';

/** The heaviest cells of the paper matrix (the tests check convergence and enforcement on them). */
export const HEAVY: [WorkloadKind, ScenarioParams][] = [
  ['tcp-receiver', { rateGbps: 9 }],
  ['tcp-receiver', { rateGbps: 6 }],
  ['udp-receiver', { rateGbps: 8 }],
  ['udp-receiver', { rateGbps: 4 }],
  ['tcp-sender', { flows: 8 }],
  ['udp-sender', { rateGbps: 2 }],
];

function penalty(workload: WorkloadKind, params: ScenarioParams, opts: KernelOptions, reps: number): { p: number; events: number } {
  let ctl = 0;
  let v = 0;
  let events = 0;
  for (let r = 0; r < reps; r++) {
    const seed = 1000 + r;
    ctl += sumOf(simulateRun(paperRunSpec({ workload: 'sysbench', seed }), opts).samples, METRIC.victimEventsPerSec);
    const run = simulateRun(paperRunSpec({ workload, params, seed }), opts);
    v += sumOf(run.samples, METRIC.victimEventsPerSec);
    events += run.kernel.events;
  }
  return { p: ctl / v, events: events / reps / 6 };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const reps = Number(process.argv[2] ?? 3);
  const half = loadProfile('paper').simMaxAdvanceUs / 2;
  const variants: [string, KernelOptions][] = [
    ['events only', {}],
    ['+ 500 us grid', { eventGridUs: 500 }],
    ['+ 100 us grid', { eventGridUs: 100 }],
    ['+ 50 us grid', { eventGridUs: 50 }],
    [`maxAdvance ${half} us`, { maxAdvanceUs: half }],
  ];
  console.log(`| scenario | ${variants.map(([n]) => n).join(' | ')} | max change | events per simulated s |`);
  console.log(`|---|${variants.map(() => '---|').join('')}---|---|`);
  for (const [w, params] of HEAVY) {
    const rs = variants.map(([, o]) => penalty(w, params, o, reps));
    const ref = rs[0].p;
    const worst = Math.max(...rs.map((r) => Math.abs(r.p - ref) / ref));
    const label = `${w} ${Object.entries(params)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}`;
    console.log(`| ${label} | ${rs.map((r) => r.p.toFixed(3)).join(' | ')} | ${(worst * 100).toFixed(2)}% | ${rs[0].events.toFixed(0)} |`);
  }
}
