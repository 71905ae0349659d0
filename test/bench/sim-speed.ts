// Speed of the simulated host kernel: simulated seconds per wall second on the heaviest scenario of the paper
// campaign (tcp-receiver at the top rate, 9 Gbit/s, with the most flows, 8), vanilla accounting.
// Run alone with `npx tsx test/bench/sim-speed.ts`, or through `npm run bench sim`.
import { paperRunSpec } from '../../agents/sim/paper-defaults.ts';
import { simulateRun } from '../../agents/sim/simulate.ts';

export async function benchSimSpeed(): Promise<{ simSpeedup: number }> {
  const spec = (seed: number) =>
    paperRunSpec({ workload: 'tcp-receiver', params: { rateGbps: 9, flows: 8 }, enforcement: 'none', warmupS: 1, durationS: 5, seed });
  // Let the JIT settle: an event engine runs few hundred events per simulated second, so warm up on whole runs.
  for (let i = 0; i < 3; i++) simulateRun(spec(100 + i));
  const reps = 10;
  const t0 = performance.now();
  for (let i = 1; i <= reps; i++) simulateRun(spec(i));
  const wallS = (performance.now() - t0) / 1000;
  return { simSpeedup: (reps * 6) / wallS };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { simSpeedup } = await benchSimSpeed();
  console.log(`simSpeedup ${simSpeedup.toFixed(0)} simulated s per wall s (target >= 200)`);
}
