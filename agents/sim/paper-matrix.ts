// The paper campaign's matrix (IRON.md section 4) run directly on the simulated kernel: penalty factor per
// scenario and enforcement, mean over repetitions with different seeds. Used to calibrate the `paper`
// profile and to produce the table in agents/sim/README.md:  npx tsx agents/sim/paper-matrix.ts [reps]
import { METRIC, sumOf } from '../samples.ts';
import type { ScenarioParams, WorkloadKind } from '../../workloads/catalog.ts';
import { ENFORCEMENTS, type Enforcement } from '../enforcement/modes.ts';
import { paperRunSpec, paperScenarios } from './paper-defaults.ts';
import { simulateRun } from './simulate.ts';

/** The paper matrix's interference scenarios (the one list is PAPER_MATRIX in paper-defaults.ts). */
export const PAPER_SCENARIOS = paperScenarios();

export interface MatrixRow {
  workload: WorkloadKind;
  params: ScenarioParams;
  penalty: Record<Enforcement, number>;
  ksoftirqdShare: number; // vanilla, victim core
}

function meanVictim(workload: WorkloadKind, params: ScenarioParams, enforcement: Enforcement, reps: number, durationS: number) {
  let v = 0;
  let ks = 0;
  for (let r = 0; r < reps; r++) {
    const s = simulateRun(paperRunSpec({ workload, params, enforcement, seed: 1000 + r, repetition: r, durationS })).samples;
    v += sumOf(s, METRIC.victimEventsPerSec);
    ks += sumOf(s, METRIC.ksoftirqdShare, { core: '0' });
  }
  return { victim: v / reps, ks: ks / reps };
}

export function paperMatrix(reps = 3, durationS = 5): MatrixRow[] {
  const control = Object.fromEntries(ENFORCEMENTS.map((m) => [m, meanVictim('sysbench', {}, m, reps, durationS).victim])) as Record<
    Enforcement,
    number
  >;
  return PAPER_SCENARIOS.map(([workload, params]) => {
    const penalty = {} as Record<Enforcement, number>;
    let ksoftirqdShare = 0;
    for (const m of ENFORCEMENTS) {
      const r = meanVictim(workload, params, m, reps, durationS);
      penalty[m] = control[m] / r.victim;
      if (m === 'none') ksoftirqdShare = r.ks;
    }
    return { workload, params, penalty, ksoftirqdShare };
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const reps = Number(process.argv[2] ?? 3);
  const t0 = performance.now();
  const rows = paperMatrix(reps);
  console.log(`| scenario | ${ENFORCEMENTS.join(' | ')} | ksoftirqd share (none) |`);
  console.log(`|---|${ENFORCEMENTS.map(() => '---|').join('')}---|`);
  for (const r of rows) {
    const p =
      Object.entries(r.params)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ') || 'unlimited';
    console.log(
      `| ${r.workload} ${p} | ${ENFORCEMENTS.map((m) => r.penalty[m].toFixed(2)).join(' | ')} | ${r.ksoftirqdShare.toFixed(2)} |`,
    );
  }
  console.log(`\n${reps} repetitions x 6 simulated s per cell, ${((performance.now() - t0) / 1000).toFixed(1)} s wall`);
}
