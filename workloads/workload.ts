// What a workload module is (after PerfKitBenchmarker's one-file-per-benchmark): the programs it runs and the
// Debian packages they need, where each of its containers goes, how its output becomes samples, its primary
// metric and direction, the roles it can take, and whether the simulated kernel models it. A new workload is a
// new module beside this file plus one line in registry.ts. Modules import only this file (no cycles).
import { z } from 'zod';

/** Scenario parameters; units are in the names. `rateGbps` absent = unlimited. */
export const ScenarioParams = z
  .object({
    rateGbps: z.number().positive().max(400).optional(),
    flows: z.number().int().min(1).max(256).optional(),
    /** Bytes per write: at most 65507 for UDP (one datagram), up to 1 MiB for TCP. */
    messageBytes: z
      .number()
      .int()
      .min(64)
      .max(1 << 20)
      .optional(),
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

/** A sample as a workload reports it (the same record as agents/samples.ts Sample). */
export interface WorkloadSample {
  metric: string;
  value: number;
  unit: string;
  labels: Record<string, string>;
}

/** Which CPU shape a container takes: the victim's or a neighbour's (quota + cpuset), or a peer's (unconstrained, off the victim's cores). */
export type Shape = 'victim' | 'neighbour' | 'peer';

/** One container a workload asks for. The backend adds the shape's cores and quota, the network and the labels. */
export interface ContainerPlan {
  /** Its name in labels and samples: victim, victim-load, neighbour-i, peer-i. */
  name: string;
  shape: Shape;
  argv: string[];
  /** What runs in it, for the backend's bookkeeping (e.g. 'iperf3-client': interrupted at the window's end). */
  program: string;
  /** A server: started at setup and waited for until it prints `readyLine`; everything else starts at warm-up. */
  readyLine?: string;
  /** Rate of an HTB qdisc on its eth0 (a rate-limited sender), bits/s. */
  htbRateBps?: number | null;
  /** A client whose load begins only once it prints this line (sockperf sleeps 2 s after its own warm-up
   *  messages): the run's warm-up counts from then, so that the window has its load from the first second. */
  loadStartsLine?: string;
  /** Interrupted (SIGINT) at the window's end so that it prints its report, or does not run on to its bound
   *  (boundS); the samples are cut to the window anyway. */
  stopAtWindowEnd?: boolean;
}

/** What a workload needs to plan its containers; addresses are link-local, chosen by the backend. */
export interface PlanContext {
  params: ScenarioParams;
  /** Number of neighbours (K): a flood's rate is shared among them. */
  neighbours: number;
  /** Seconds of warm-up + window as planned: the bound of a process that cannot run to boundS (sockperf). */
  runS: number;
  /**
   * The latest the window can end, in seconds after the warm-up starts (the orchestrator's allowance for a slow
   * warm-up included). Every workload process that must cover the window is stopped at its end (stopAtWindowEnd)
   * and bounded by this, not by warm-up + window: the window opens when every host of the run has warmed up, which
   * can be long after (under TCG tens of seconds).
   */
  boundS: number;
  victimIp: string;
  neighbourIp: (i: number) => string;
  peerIp: (i: number) => string;
  /** A victim's load generator (peer shape, on the peer's side). */
  victimLoadIp: string;
}

/** The measurement window, in wall-clock ms since the epoch (the edges of the backend's snapshots). */
export interface Window {
  startMs: number;
  endMs: number;
}

export interface PrimaryMetric {
  metric: string;
  unit: string;
  /** Higher is better (a rate): penalty = control / interference. Lower is better (a latency): interference / control. */
  higherIsBetter: boolean;
}

export interface VictimRole {
  /** The victim's containers: the measured one (`victim`, victim shape) and any load generator (peer shape). */
  plan(ctx: PlanContext): ContainerPlan[];
  /** The victim's primary metric first; metrics named victim_*. */
  metrics: PrimaryMetric[];
  /** The neighbour workload of its control arm, the penalty's reference (sysbench for a CPU-bound victim, idle for a latency one). */
  control: string;
  /** Samples over the window from a container's log (`docker logs --timestamps`); null = nothing inside the window. */
  collect(container: string, log: string, window: Window): WorkloadSample[] | null;
}

export interface NeighbourRole {
  /** Neighbour i's containers: `neighbour-i` (neighbour shape) and any traffic peer `peer-i` (peer shape). */
  plan(ctx: PlanContext, i: number): ContainerPlan[];
  /** Samples from a container's log, for containers whose log carries them (others: []); null = nothing inside the window. */
  collect?(container: string, log: string, window: Window): WorkloadSample[] | null;
  /** Network traffic: protocol and which side the neighbour is (its receive work is what lands on the victim's core). */
  network: { protocol: 'udp' | 'tcp'; direction: 'send' | 'receive' | 'request-response'; defaultMessageBytes: number } | null;
}

export interface Workload<K extends string = string> {
  kind: K;
  /** One line for `--help` and the README. */
  description: string;
  /** Debian packages its programs need in the workload image (folded into the image recipe and its tag). */
  packages: readonly string[];
  victim?: VictimRole;
  neighbour?: NeighbourRole;
  /** How the simulated kernel models it: 'modelled', or why it refuses (the simulator names the workload). */
  sim: 'modelled' | { refusal: string };
}

/** Link-local only: a workload never points traffic anywhere else. */
export function assertLinkLocal(ip: string): string {
  if (!/^169\.254\.\d{1,3}\.\d{1,3}$/.test(ip)) throw new Error(`refusing a non-link-local address ${ip}`);
  return ip;
}

/** Whole seconds, at least 1, for a program's duration flag. */
export const wholeSeconds = (s: number) => Math.max(1, Math.ceil(s));

/** A `docker logs --timestamps` line split into its time (ms since the epoch) and text. */
export function timestamped(line: string): { atMs: number; text: string } | null {
  const m = line.match(/^(\S+)\s(.*)$/);
  if (!m) return null;
  const atMs = Date.parse(m[1]);
  return Number.isFinite(atMs) ? { atMs, text: m[2] } : null;
}
