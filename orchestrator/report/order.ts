// The order scenarios are shown in: catalog workload order, then parameters (unlimited rate first, then
// ascending), then enforcement none, iron-kernel, ebpf. Reports (table, JSON) all use it.
import { WORKLOAD_KINDS, type ScenarioParams, type WorkloadKind } from '../../workloads/catalog.ts';
import { ENFORCEMENTS, type Enforcement } from '../../agents/enforcement/modes.ts';

export interface Orderable {
  scenarioId: string;
  workload: WorkloadKind;
  params: ScenarioParams;
  enforcement: Enforcement;
}

export function compareScenarios(a: Orderable, b: Orderable): number {
  return (
    WORKLOAD_KINDS.indexOf(a.workload) - WORKLOAD_KINDS.indexOf(b.workload) ||
    (a.params.rateGbps ?? 0) - (b.params.rateGbps ?? 0) ||
    (a.params.flows ?? 0) - (b.params.flows ?? 0) ||
    (a.params.messageBytes ?? 0) - (b.params.messageBytes ?? 0) ||
    (a.scenarioId < b.scenarioId ? -1 : a.scenarioId > b.scenarioId ? 1 : 0) ||
    rank(a.enforcement) - rank(b.enforcement)
  );
}

function rank(e: Enforcement): number {
  const i = ENFORCEMENTS.indexOf(e);
  return i < 0 ? ENFORCEMENTS.length : i;
}

export function sortScenarios<T extends Orderable>(items: readonly T[]): T[] {
  return [...items].sort(compareScenarios);
}
