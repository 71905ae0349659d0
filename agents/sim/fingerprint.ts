// A fingerprint of the simulator's results: SHA-256 over the samples of every paper-matrix run (the control and
// the 19 scenarios, each enforcement mode, seed 1000) and of the speed benchmark's cell, in order. A change that
// is meant to leave every result as it was (a speed-up, a refactoring) must leave it unchanged; a model change
// changes it on purpose. `npx tsx agents/sim/fingerprint.ts` prints the full one (the paper's 1 s + 5 s runs);
// test/sim/fingerprint.test.ts pins a short one.
import { createHash } from 'node:crypto';
import { ENFORCEMENTS } from '../enforcement/modes.ts';
import type { ScenarioParams, WorkloadKind } from '../../workloads/catalog.ts';
import { paperRunSpec, paperScenarios } from './paper-defaults.ts';
import { simulateRun } from './simulate.ts';

export function simFingerprint(o: { warmupS?: number; durationS?: number } = {}): string {
  const h = createHash('sha256');
  const cells: [WorkloadKind, ScenarioParams][] = [['sysbench', {}], ...paperScenarios()];
  for (const [workload, params] of cells)
    for (const enforcement of ENFORCEMENTS)
      h.update(JSON.stringify(simulateRun(paperRunSpec({ workload, params, enforcement, seed: 1000, ...o })).samples));
  // The bench cell (test/bench/sim-speed.ts).
  const bench = paperRunSpec({ workload: 'tcp-receiver', params: { rateGbps: 9, flows: 8 }, enforcement: 'none', seed: 1, ...o });
  h.update(JSON.stringify(simulateRun(bench).samples));
  return h.digest('hex').slice(0, 16);
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(simFingerprint());
