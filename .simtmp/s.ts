import { simulateRun } from '../agents/sim/simulate.ts';
import { paperRunSpec } from '../agents/sim/paper-defaults.ts';
import { METRIC, sumOf } from '../agents/samples.ts';
const reps = 4;
for (const w of ['udp-receiver', 'tcp-receiver'] as const) for (const enf of ['none', 'ebpf'] as const) {
  const ps: number[] = [];
  let extra = '';
  for (let seed = 1; seed <= reps; seed++) {
    const spec = (workload: any) => ({ ...paperRunSpec({ workload, enforcement: enf, seed, warmupS: 2, durationS: 3 }), victim: { quotaUs: 100000, periodUs: 100000, cpus: [0] }, neighbour: { quotaUs: 50000, periodUs: 100000, cpus: [0] } });
    const c = simulateRun(spec('sysbench')).samples;
    const i = simulateRun(spec(w)).samples;
    ps.push(sumOf(c, METRIC.victimEventsPerSec) / sumOf(i, METRIC.victimEventsPerSec));
    if (seed === 1) extra = `nbUsage=${sumOf(i, METRIC.cgroupUsageS, { container: 'neighbour-0' }).toFixed(2)}s charged=${sumOf(i, METRIC.chargedTimeS, { container: 'neighbour-0' }).toFixed(2)}s credited(victim)=${sumOf(i, METRIC.creditedTimeS, { container: 'victim' }).toFixed(2)}s drops=${sumOf(i, METRIC.packetsDropped, { reason: 'ebpf_throttled' }).toFixed(0)}`;
  }
  const m = ps.reduce((a, b) => a + b, 0) / ps.length;
  console.log(`${w} ${enf}: sim penalty ${m.toFixed(2)} [min ${Math.min(...ps).toFixed(2)}, max ${Math.max(...ps).toFixed(2)}] ${extra}`);
}
