// Every workload an agent will ever run, one module each. Schemas, CLI choices, reports, the image recipe and
// the simulator take their lists from here; adding a workload is a module plus its line below.
import { idle } from './idle.ts';
import { iperf3Floods } from './iperf3.ts';
import { redis } from './redis.ts';
import { sockperf } from './sockperf.ts';
import { sysbench } from './sysbench.ts';
import type { NeighbourRole, VictimRole, Workload } from './workload.ts';

export const WORKLOADS = [sysbench, ...iperf3Floods, sockperf, idle, redis] as const;

export type AnyWorkloadKind = (typeof WORKLOADS)[number]['kind'];
type Kinds<W> = W extends { kind: infer K; neighbour: NeighbourRole } ? K : never;
type VKinds<W> = W extends { kind: infer K; victim: VictimRole } ? K : never;
/** Kinds that can be a neighbour (a matrix entry's `workload`). */
export type NeighbourKind = Kinds<(typeof WORKLOADS)[number]>;
/** Kinds that can be the victim (`victim: { workload }`). */
export type VictimKind = VKinds<(typeof WORKLOADS)[number]>;

const byKind = new Map<string, Workload>(WORKLOADS.map((w) => [w.kind, w as Workload]));

export const NEIGHBOUR_KINDS = WORKLOADS.filter((w) => 'neighbour' in w && w.neighbour).map((w) => w.kind) as [
  NeighbourKind,
  ...NeighbourKind[],
];
export const VICTIM_KINDS = WORKLOADS.filter((w) => 'victim' in w && w.victim).map((w) => w.kind) as [VictimKind, ...VictimKind[]];
export const DEFAULT_VICTIM: VictimKind = 'sysbench';

export function workloadOf(kind: string): Workload {
  const w = byKind.get(kind);
  if (!w) throw new Error(`unknown workload '${kind}' (${[...byKind.keys()].join(', ')})`);
  return w;
}

export function victimRoleOf(kind: string): VictimRole {
  const v = workloadOf(kind).victim;
  if (!v) throw new Error(`workload '${kind}' cannot be a victim`);
  return v;
}

export function neighbourRoleOf(kind: string): NeighbourRole {
  const n = workloadOf(kind).neighbour;
  if (!n) throw new Error(`workload '${kind}' cannot be a neighbour`);
  return n;
}

/** The victim's primary metric (the penalty's) and its direction. */
export const primaryMetricOf = (victim: string = DEFAULT_VICTIM) => victimRoleOf(victim).metrics[0];

/** The neighbour workload a victim's penalty divides by (its control arm). */
export const controlOf = (victim: string = DEFAULT_VICTIM) => victimRoleOf(victim).control as NeighbourKind;

/** Why the simulated kernel cannot run these workloads, naming each; null when it models them all. */
export function simRefusal(kinds: readonly string[]): string | null {
  const refused = kinds.map(workloadOf).filter((w) => w.sim !== 'modelled');
  return refused.length
    ? refused.map((w) => `workload '${w.kind}' cannot run on a simulated host: ${(w.sim as { refusal: string }).refusal}`).join('; ')
    : null;
}

/** The Debian packages the workload image needs: every workload's, sorted (the recipe hashes them). */
export const IMAGE_PACKAGES: readonly string[] = [...new Set(WORKLOADS.flatMap((w) => w.packages))].sort();
