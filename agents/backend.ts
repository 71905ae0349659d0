// What a host backend does for the agent. The docker backend drives real containers; the sim backend drives
// the simulated host kernel. Both take the same RunSpec and return the same samples, so the orchestrator cannot
// tell them apart. Every method is idempotent: the agent may call it again after a reconnect.
import type { RunSpec } from './run-spec.ts';
import type { Sample } from './samples.ts';
import type { Enforcement } from './enforcement/modes.ts';
import type { BackendKind } from './backends/kinds.ts';

export interface HostFacts {
  hostId: string;
  backend: BackendKind;
  kernel: string;
  cpuModel: string;
  cores: number;
  nic: { name: string; driver: string; speedMbps: number | null };
  cgroupVersion: 1 | 2 | null;
  /** Free-form extras (IRQ/RPS affinity, host profile, ...). */
  extra: Record<string, string | number | boolean | null>;
}

export interface EnforcementSupport {
  mode: Enforcement;
  available: boolean;
  /** Why not, when unavailable (no BTF, not root, kernel without the IRON switch...). */
  reason?: string;
}

export interface RunResult {
  runId: string;
  samples: Sample[];
  /** Provenance of this run on this host (image digest, enforcement version, ...). */
  provenance: Record<string, string | number | null>;
}

/** Progress reported while a phase runs (streamed to the orchestrator as events). */
export type ProgressFn = (phase: string, fraction: number) => void;

export interface Backend {
  readonly kind: BackendKind;
  facts(): Promise<HostFacts>;
  capabilities(): Promise<EnforcementSupport[]>;
  /** Create (but do not start the measured work of) the run's containers, cgroups and enforcement. */
  setup(run: RunSpec, signal: AbortSignal): Promise<void>;
  /** Start the workloads and let them run for the warm-up time (excluded from measurement). */
  warmup(runId: string, signal: AbortSignal, progress: ProgressFn): Promise<void>;
  /** Read counters, run for the measurement window, read counters again. */
  measure(runId: string, signal: AbortSignal, progress: ProgressFn): Promise<void>;
  /** Turn the window's counter deltas into samples. */
  collect(runId: string): Promise<RunResult>;
  /** Remove everything the run created and restore what it changed. Safe to call in any state, repeatedly. */
  teardown(runId: string): Promise<void>;
  /** Remove everything labelled as ironlab's on this host (all campaigns, or one). Returns what was removed. */
  reap(campaignId?: string): Promise<string[]>;
}
