// The paper's set-up, in one place (IRON.md section 4, the paper's section 2.3): its run settings, its
// interference matrix and the RunSpec the simulator's own tools (`ironlab sim`, the calibration matrix) run.
// The built-in `paper` campaign file is generated from this (orchestrator/campaign/builtin/paper.ts), and a
// campaign file that says nothing inherits these settings with one neighbour (orchestrator/campaign/model.ts).
// One victim and two neighbours ("the other containers", plural, run sysbench or the floods), all pinned on
// core 0 with equal quotas that fill it (100/(K+1) ms per 100 ms each), the NIC's interrupts on core 0, peers
// off-host. A scenario's rateGbps is the neighbours' total offered rate.
import type { RunSpec } from '../run-spec.ts';
import type { ScenarioParams, WorkloadKind } from '../../workloads/catalog.ts';
import type { Enforcement } from '../enforcement/modes.ts';

/** Neighbours of the victim in the paper's set-up: more than one ("the other containers"). */
export const PAPER_NEIGHBOURS = 2;
/** The simulated host profile that reproduces the paper's shapes (agents/sim/profiles/paper.json). */
export const PAPER_PROFILE = 'paper';
const PERIOD_US = 100_000;

/** The paper's run settings with K neighbours (the shape of a campaign's `defaults:`). */
export function paperSettings(neighbours: number = PAPER_NEIGHBOURS) {
  // K + 1 containers with equal quotas that together fill the core, so in the control arm every container gets
  // its quota (quotas summing to more than the core would make the control a fair-share split instead).
  const quotaUs = Math.round(PERIOD_US / (neighbours + 1));
  return {
    warmupS: 1,
    durationS: 5,
    neighbours,
    victim: { quotaUs, periodUs: PERIOD_US, cpus: [0] },
    neighbour: { quotaUs, periodUs: PERIOD_US, cpus: [0] },
    peer: { cpus: [1] },
    nicCpus: [0],
  };
}

/** A campaign matrix entry: a workload x the cross product of its parameter lists (`null` rate = unlimited). */
export interface PaperMatrixEntry {
  workload: WorkloadKind;
  rateGbps?: readonly (number | null)[];
  flows?: readonly number[];
}

/** The paper's interference matrix (section 2.3): the sysbench control first, then the floods. */
export const PAPER_MATRIX: readonly PaperMatrixEntry[] = [
  { workload: 'sysbench' },
  { workload: 'udp-sender', rateGbps: [null, 1, 2, 3, 5, 8] },
  { workload: 'tcp-sender', flows: [1, 2, 4, 8] },
  { workload: 'udp-receiver', rateGbps: [1, 2, 4, 8] },
  { workload: 'tcp-receiver', rateGbps: [1, 2, 4, 6, 9] },
];

/** The matrix's interference scenarios (the control left out), one [workload, params] each. */
export function paperScenarios(): [WorkloadKind, ScenarioParams][] {
  return PAPER_MATRIX.filter((e) => e.workload !== 'sysbench').flatMap((e) => {
    const rates = e.rateGbps ?? [undefined];
    const flows = e.flows ?? [undefined];
    return rates.flatMap((r) =>
      flows.map((f): [WorkloadKind, ScenarioParams] => [
        e.workload,
        { ...(r != null ? { rateGbps: r } : {}), ...(f !== undefined ? { flows: f } : {}) },
      ]),
    );
  });
}

export interface PaperRunOptions {
  workload: WorkloadKind;
  params?: ScenarioParams;
  enforcement?: Enforcement;
  neighbours?: number;
  warmupS?: number;
  durationS?: number;
  seed?: number;
  profile?: string;
  runId?: string;
  repetition?: number;
}

export function paperRunSpec(o: PaperRunOptions): RunSpec {
  const s = paperSettings(o.neighbours ?? PAPER_NEIGHBOURS);
  return {
    runId: o.runId ?? `sim-${o.workload}-${o.seed ?? 1}`,
    campaignId: 'sim',
    scenarioId: o.workload,
    repetition: o.repetition ?? 0,
    workload: o.workload,
    params: o.params ?? {},
    enforcement: o.enforcement ?? 'none',
    neighbours: s.neighbours,
    warmupS: o.warmupS ?? s.warmupS,
    durationS: o.durationS ?? s.durationS,
    victim: s.victim,
    neighbour: s.neighbour,
    peer: s.peer,
    nicCpus: s.nicCpus,
    seed: o.seed ?? 1,
    profile: o.profile ?? PAPER_PROFILE,
  };
}
