// The workload catalog: the only workloads an agent will ever run. A scenario names one of these kinds
// plus parameters; agents map kinds to concrete programs (sysbench, iperf3) or to the simulated kernel.
import { z } from 'zod';

export const WORKLOAD_KINDS = ['sysbench', 'udp-sender', 'udp-receiver', 'tcp-sender', 'tcp-receiver'] as const;
export const WorkloadKind = z.enum(WORKLOAD_KINDS);
export type WorkloadKind = z.infer<typeof WorkloadKind>;

/** The sysbench-neighbour arm every network scenario is compared against (IRON.md section 4). */
export const CONTROL_WORKLOAD: WorkloadKind = 'sysbench';

/** Scenario parameters; units are in the names. `rateGbps` absent = unlimited. */
export const ScenarioParams = z
  .object({
    rateGbps: z.number().positive().max(400).optional(),
    flows: z.number().int().min(1).max(256).optional(),
    /** Bytes per write: at most 65507 for UDP (one datagram), up to 1 MiB for TCP. */
    messageBytes: z.number().int().min(64).max(1 << 20).optional(),
  })
  .strict();
export type ScenarioParams = z.infer<typeof ScenarioParams>;

/**
 * A scenario's `rateGbps` is the total rate offered to (or by) its K network neighbours, as the paper states
 * its rates; each neighbour's flood carries an equal share. Every backend sizes a flood with this.
 */
export function floodRateGbps(params: ScenarioParams, neighbours: number): number | undefined {
  return params.rateGbps === undefined ? undefined : params.rateGbps / Math.max(1, neighbours);
}

export function isNetworkWorkload(kind: WorkloadKind): boolean {
  return kind !== 'sysbench';
}

export function protocolOf(kind: WorkloadKind): 'udp' | 'tcp' | null {
  if (kind.startsWith('udp')) return 'udp';
  if (kind.startsWith('tcp')) return 'tcp';
  return null;
}

/** 'sender' workloads transmit from the neighbour container; 'receiver' workloads receive into it. */
export function directionOf(kind: WorkloadKind): 'send' | 'receive' | null {
  if (kind.endsWith('-sender')) return 'send';
  if (kind.endsWith('-receiver')) return 'receive';
  return null;
}

/** Default message sizes, as iperf3 uses them: one MTU-sized datagram for UDP, 128 KiB writes for TCP. */
export function defaultMessageBytes(kind: WorkloadKind): number | undefined {
  const proto = protocolOf(kind);
  if (proto === 'udp') return 1470;
  if (proto === 'tcp') return 131072;
  return undefined;
}
