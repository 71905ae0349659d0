// The workload catalog: the only workloads an agent will ever run. A scenario names one of these kinds
// plus parameters; the workload modules (registry.ts) say what each kind runs and how it is measured.
import { z } from 'zod';
import { DEFAULT_VICTIM, NEIGHBOUR_KINDS, neighbourRoleOf, VICTIM_KINDS, type NeighbourKind, type VictimKind } from './registry.ts';
import { floodRateGbps, ScenarioParams } from './workload.ts';

/** The neighbour workloads a matrix entry can name, from the registry (registry.ts). */
export const WORKLOAD_KINDS = NEIGHBOUR_KINDS;
export const WorkloadKind = z.enum(WORKLOAD_KINDS);
export type WorkloadKind = NeighbourKind;
export { floodRateGbps, ScenarioParams };

/** The workloads `victim: { workload }` can name, from the registry; sysbench when a file names none. */
export const VictimWorkload = z.enum(VICTIM_KINDS);
export type VictimWorkload = VictimKind;
export { DEFAULT_VICTIM };

/** The sysbench-neighbour arm every network scenario is compared against (IRON.md section 4). */
export const CONTROL_WORKLOAD: WorkloadKind = 'sysbench';

export function isNetworkWorkload(kind: WorkloadKind): boolean {
  return neighbourRoleOf(kind).network !== null;
}

export function protocolOf(kind: WorkloadKind): 'udp' | 'tcp' | null {
  return neighbourRoleOf(kind).network?.protocol ?? null;
}

/** 'sender' floods transmit from the neighbour container, 'receiver' floods into it; null: not a one-way flood. */
export function directionOf(kind: WorkloadKind): 'send' | 'receive' | null {
  const d = neighbourRoleOf(kind).network?.direction;
  return d === 'send' || d === 'receive' ? d : null;
}

/** Default message sizes, as the workload's program uses them (iperf3: an MTU-sized datagram, 128 KiB TCP writes). */
export function defaultMessageBytes(kind: WorkloadKind): number | undefined {
  return neighbourRoleOf(kind).network?.defaultMessageBytes;
}
