// The validated campaign: its types, the built-in defaults and how settings inherit. What the loader
// (spec.ts) produces and the matrix, the store and the hash read; apart from the loader so that the matrix
// needs no loader and the loader's checks may expand the matrix.
import type { Enforcement } from '../../agents/enforcement/modes.ts';
import { DEFAULT_VICTIM, type VictimWorkload, type WORKLOAD_KINDS } from '../../workloads/catalog.ts';
import type { BackendKind } from '../../agents/backends/registry.ts';
import { PAPER_PROFILE, paperSettings } from '../../agents/sim/paper-defaults.ts';

export interface ContainerShapeSpec {
  quotaUs: number;
  periodUs: number;
  cpus: number[];
}
export interface RunSettings {
  warmupS: number;
  durationS: number;
  neighbours: number;
  /** `workload` absent = sysbench (kept absent so that sysbench campaigns hash as before). */
  victim: ContainerShapeSpec & { workload?: VictimWorkload };
  neighbour: ContainerShapeSpec;
  peer: { cpus: number[] };
  nicCpus: number[];
}
export type HostRole = 'server' | 'peer';
/** A host that runs victims and neighbours (and may also be a traffic peer). */
export const isServer = (h: { roles: readonly HostRole[] }): boolean => h.roles.includes('server');
/** A dedicated traffic host: a network run leases one with its server host (a host that is both serves). */
export const isDedicatedPeer = (h: { roles: readonly HostRole[] }): boolean => h.roles.includes('peer') && !isServer(h);
export interface HostSpec {
  id: string;
  backend: BackendKind;
  /** Sim host profile; null for docker hosts. */
  profile: string | null;
  roles: HostRole[];
}
/** What a matrix entry may override: any setting; container shapes field by field. */
export interface RunSettingsOverride {
  warmupS?: number;
  durationS?: number;
  neighbours?: number;
  victim?: Partial<ContainerShapeSpec> & { workload?: VictimWorkload };
  neighbour?: Partial<ContainerShapeSpec>;
  peer?: { cpus?: number[] };
  nicCpus?: number[];
}
/** One matrix entry: a workload and its parameter lists (null rate = unlimited), plus setting overrides. */
export interface MatrixEntry {
  workload: (typeof WORKLOAD_KINDS)[number];
  label?: string;
  rateGbps?: (number | null)[];
  flows?: number[];
  messageBytes?: number[];
  overrides: RunSettingsOverride;
}
export interface ExcludeFilter {
  workload?: (typeof WORKLOAD_KINDS)[number][];
  label?: string[];
  rateGbps?: (number | null)[];
  flows?: number[];
  messageBytes?: number[];
  enforcement?: Enforcement[];
}
/** A bound on one statistic of a scenario's penalty. */
export interface PenaltyBound {
  min?: number;
  max?: number;
}
/** One `expect:` entry: a selector (the keys of an exclude filter) and bounds on mean, lower or upper 95% bound. */
export interface ExpectationSpec extends ExcludeFilter {
  name: string;
  mean?: PenaltyBound;
  lower?: PenaltyBound;
  upper?: PenaltyBound;
}
export interface CampaignSpec {
  name: string;
  description: string;
  hosts: HostSpec[];
  defaults: RunSettings;
  matrix: MatrixEntry[];
  exclude: ExcludeFilter[];
  enforcement: Enforcement[];
  repetitions: number;
  seed: number;
  shuffle: boolean;
  maxAttempts: number;
  /**
   * Adaptive repetitions (absent = exactly `repetitions` per scenario): after the planned repetitions, a
   * scenario gets more until the half-width of its 95% penalty interval is at most `ciHalfWidth` (penalty
   * units) or it has `maxRepetitions`. Absent rather than null when not given, so older specs hash the same.
   */
  until?: UntilSpec;
  /** CI checks (absent when the file has none, so older specs hash the same). */
  expect?: ExpectationSpec[];
  /**
   * blocked (default for campaigns with a docker host): every repetition is a block run back to back on one
   * server host, and penalties come from within-block ratios. shuffled (default for sim-only campaigns): one
   * seeded random order over everything, penalties from the two arms' means (Fieller).
   */
  design: Design;
  guards: GuardSpec;
  /** Hosts leased from Slurm (absent when the file has no `slurm:` block, so older specs hash the same). */
  slurm?: SlurmSpec;
}
export interface SlurmSpec {
  partition?: string;
  constraint?: string;
  timeLimitMin?: number;
}
export const DESIGNS = ['blocked', 'shuffled'] as const;
export type Design = (typeof DESIGNS)[number];
/**
 * Run guards (null = off). A run is out of guard when the achieved load of a flood misses its offered load by
 * more than `achievedLoadTolerance` (relative), or when steal time / foreign CPU on a victim core exceeds the
 * share of the measurement window given. A guard whose metric a backend does not report never fires.
 */
export interface GuardSpec {
  achievedLoadTolerance: number | null;
  maxStealShare: number | null;
  maxForeignCpuShare: number | null;
}
/** Defaults: a flood 10% off its rate, 2% steal or 5% of a victim core taken by other processes repeats the run. */
export const DEFAULT_GUARDS: GuardSpec = { achievedLoadTolerance: 0.1, maxStealShare: 0.02, maxForeignCpuShare: 0.05 };
export interface UntilSpec {
  ciHalfWidth: number;
  maxRepetitions: number;
}

export interface LoadedCampaign {
  spec: CampaignSpec;
  source: { path: string; text: string };
  /** sha256 (hex) of the canonical JSON of `spec`: two files that mean the same campaign hash the same. */
  hash: string;
  /** Things that are allowed but probably not meant; the CLI prints them before starting. */
  warnings: string[];
}

/** What a run inherits when the file says nothing: the paper's set-up with one neighbour (IRON section 2.3: both
 *  containers on core 0, 50% quota each), from its one home, agents/sim/paper-defaults.ts. */
export const BUILTIN_DEFAULTS: RunSettings = paperSettings(1);
export const DEFAULT_SIM_PROFILE = PAPER_PROFILE;

/** The default victim workload is written as no workload, so that a file naming it means what one without does. */
function withVictimWorkload<T extends { workload?: VictimWorkload }>(v: T): T {
  if (v.workload !== DEFAULT_VICTIM) return v;
  const { workload: _, ...rest } = v;
  return rest as T;
}

/** Applies `over` on top of `base`; container shapes merge field by field. */
export function mergeSettings(base: RunSettings, over: RunSettingsOverride | undefined): RunSettings {
  if (!over) return base;
  return {
    warmupS: over.warmupS ?? base.warmupS,
    durationS: over.durationS ?? base.durationS,
    neighbours: over.neighbours ?? base.neighbours,
    victim: withVictimWorkload({ ...base.victim, ...over.victim }),
    neighbour: { ...base.neighbour, ...over.neighbour },
    peer: { ...base.peer, ...over.peer },
    nicCpus: over.nicCpus ?? base.nicCpus,
  };
}
