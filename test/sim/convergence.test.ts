// The engine is event-driven: between two events every rate is constant, so the answer must not depend on how
// finely time is cut. Two checks on the heaviest cells of the paper matrix: forcing extra events on a fixed grid
// (what a fixed step would do) and halving the one resolution knob (simMaxAdvanceUs, the longest interval while
// a TCP peer ramps its rate) each change the victim's throughput, hence the penalty, by less than 2%.
import { describe, expect, it } from 'vitest';
import type { ScenarioParams, WorkloadKind } from '../../workloads/catalog.ts';
import type { KernelOptions } from '../../agents/sim/host-kernel.ts';
import { paperRunSpec } from '../../agents/sim/paper-defaults.ts';
import { loadProfile } from '../../agents/sim/profile.ts';
import { simulateRun } from '../../agents/sim/simulate.ts';
import { HEAVY } from '../../agents/sim/convergence.ts';
import { victimRate } from './helpers.ts';

function victim(workload: WorkloadKind, params: ScenarioParams, opts: KernelOptions, seed = 3): number {
  return victimRate(simulateRun(paperRunSpec({ workload, params, warmupS: 0.5, durationS: 2, seed }), opts).samples);
}

describe('convergence: results do not depend on how time is cut', () => {
  const base = loadProfile('paper').simMaxAdvanceUs;
  for (const [workload, params] of HEAVY) {
    it(`${workload} ${JSON.stringify(params)}: a forced 100/50 us event grid and half the max advance change the victim < 2%`, () => {
      const ref = victim(workload, params, {});
      for (const opts of [{ eventGridUs: 100 }, { eventGridUs: 50 }, { maxAdvanceUs: base / 2 }, { maxAdvanceUs: base / 4 }]) {
        const v = victim(workload, params, opts);
        expect(Math.abs(v - ref) / ref, JSON.stringify(opts)).toBeLessThan(0.02);
      }
    });
  }
});
