// Speed of the simulated host kernel: simulated seconds per wall second on the heaviest scenario of the paper
// campaign (tcp-receiver at the top rate, 9 Gbit/s, with the most flows, 8), vanilla accounting.
// Run alone with `npx tsx test/bench/sim-speed.ts`, or through `npm run bench sim`.
import { paperRunSpec } from '../../agents/sim/paper-defaults.ts';
import { simulateRun } from '../../agents/sim/simulate.ts';

export async function benchSimSpeed(): Promise<{ simSpeedup: number }> {
  const spec = (seed: number) =>
    paperRunSpec({ workload: 'tcp-receiver', params: { rateGbps: 9, flows: 8 }, enforcement: 'none', warmupS: 1, durationS: 5, seed });
  // Let the JIT settle on the very runs it measures: warmed on other seeds it still deoptimised in measured runs
  // that took rare paths for the first time (episodes, a lagging container; 1.3-1.6x the others). The engine is
  // deterministic, so a pass over the measured seeds first runs every path they take. Then 3 measured passes,
  // the median one counts (a shared machine's bursts hit one pass, not the median).
  const reps = 10;
  const pass = () => {
    const t0 = performance.now();
    for (let i = 1; i <= reps; i++) simulateRun(spec(i));
    return (performance.now() - t0) / 1000;
  };
  pass();
  const wallS = [pass(), pass(), pass()].sort((a, b) => a - b)[1];
  return { simSpeedup: Math.round(((reps * 6) / wallS) * 10) / 10 };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { simSpeedup } = await benchSimSpeed();
  console.log(`simSpeedup ${simSpeedup.toFixed(0)} simulated s per wall s (target >= 200)`);
}
