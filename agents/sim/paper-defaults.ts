// The default RunSpec shape of the paper campaign and the `ironlab sim` command (IRON.md section 4): one
// victim and two neighbours ("the other containers", plural, run sysbench or the floods), all pinned
// on core 0 with equal quotas that fill it (100/(K+1) ms per 100 ms each), the NIC's interrupts on core 0, peers
// off-host. A scenario's rateGbps is the neighbours' total offered rate.
import type { RunSpec } from '../run-spec.ts';
import type { ScenarioParams, WorkloadKind } from '../../workloads/catalog.ts';
import type { Enforcement } from '../enforcement/modes.ts';

/** Neighbours of the victim in the paper's set-up: more than one ("the other containers"). */
export const PAPER_NEIGHBOURS = 2;

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
  const K = o.neighbours ?? PAPER_NEIGHBOURS;
  // K + 1 containers with equal quotas that together fill the core, so in the control arm every container gets
  // its quota (quotas summing to more than the core would make the control a fair-share split instead).
  const quotaUs = Math.round(100000 / (K + 1));
  return {
    runId: o.runId ?? `sim-${o.workload}-${o.seed ?? 1}`,
    campaignId: 'sim',
    scenarioId: o.workload,
    repetition: o.repetition ?? 0,
    workload: o.workload,
    params: o.params ?? {},
    enforcement: o.enforcement ?? 'none',
    neighbours: K,
    warmupS: o.warmupS ?? 1,
    durationS: o.durationS ?? 5,
    victim: { quotaUs, periodUs: 100000, cpus: [0] },
    neighbour: { quotaUs, periodUs: 100000, cpus: [0] },
    peer: { cpus: [1] },
    nicCpus: [0],
    seed: o.seed ?? 1,
    profile: o.profile ?? 'paper',
  };
}
