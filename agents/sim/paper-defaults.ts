// The default RunSpec shape of the paper campaign and the `ironlab sim` command (IRON.md section 4): one
// victim and one neighbour, each 50 ms per 100 ms on core 0, the NIC's interrupts on core 0, peers off-host.
import type { RunSpec } from '../run-spec.ts';
import type { Enforcement, ScenarioParams, WorkloadKind } from '../../workloads/catalog.ts';

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
  return {
    runId: o.runId ?? `sim-${o.workload}-${o.seed ?? 1}`,
    campaignId: 'sim',
    scenarioId: o.workload,
    repetition: o.repetition ?? 0,
    workload: o.workload,
    params: o.params ?? {},
    enforcement: o.enforcement ?? 'none',
    neighbours: o.neighbours ?? 1,
    warmupS: o.warmupS ?? 1,
    durationS: o.durationS ?? 5,
    victim: { quotaUs: 50000, periodUs: 100000, cpus: [0] },
    neighbour: { quotaUs: 50000, periodUs: 100000, cpus: [0] },
    peer: { cpus: [1] },
    nicCpus: [0],
    seed: o.seed ?? 1,
    profile: o.profile ?? 'paper',
  };
}
