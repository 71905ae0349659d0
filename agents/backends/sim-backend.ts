// The `sim` backend: the Backend interface over the simulated host kernel (agents/sim). Runs are kept in
// memory by runId; every op is idempotent (a repeated warmup or measure after it completed is a no-op), and
// warmup/measure simulate in chunks, yielding to the event loop about every 50 ms of wall time so the
// agent's WebSocket heartbeats keep flowing, and stopping promptly when the AbortSignal fires.
// The simulated server host models its traffic peers across the link itself: a run's peer host
// (RunSpec.peer.hostId = this host) only acknowledges the phases and reports nothing.
import { hostname } from 'node:os';
import type { Backend, EnforcementSupport, HostFacts, ProgressFn, RunResult } from '../backend.ts';
import { ENFORCEMENTS } from '../enforcement/modes.ts';
import { FatalError, RetryableError } from '../../workloads/common/errors.ts';
import { RunSpec, victimWorkloadOf } from '../run-spec.ts';
import { simRefusal } from '../../workloads/registry.ts';
import { HostKernel, type KernelSnapshot } from '../sim/host-kernel.ts';
import { loadProfile } from '../sim/profile.ts';
import { samplesFromSim } from '../sim/samples-from-sim.ts';

export const SIM_MODEL_VERSION = '5'; // 2: event-driven fluid engine (no step); 3: per-call softirq rules, vruntime memory, socket backlog; 4: ksoftirqd's CFS turns, wakeup preemption, slices per level; 5: zero window and line-rate bursts after window updates, link shared by the sending peers

type Phase = 'setup' | 'warmed' | 'measured';

interface SimRun {
  spec: RunSpec;
  kernel: HostKernel;
  phase: Phase;
  start?: KernelSnapshot;
  end?: KernelSnapshot;
}

export interface SimBackendOptions {
  hostId?: string;
  /** Profile reported by facts() (each run still names its own profile). */
  profile?: string;
  /** Wall milliseconds between yields to the event loop. */
  yieldEveryMs?: number;
  /** Wall milliseconds between progress events of a phase (the docker backend's pace). */
  progressEveryMs?: number;
}

export class SimBackend implements Backend {
  readonly kind = 'sim' as const;
  private readonly runs = new Map<string, SimRun>();
  /** Runs for which this host is only the peer host. */
  private readonly peerRuns = new Map<string, RunSpec>();
  private readonly hostId: string;
  private readonly profile: string;
  private readonly yieldEveryMs: number;
  private readonly progressEveryMs: number;

  constructor(opts: SimBackendOptions = {}) {
    this.hostId = opts.hostId ?? `sim-${hostname()}`;
    this.profile = opts.profile ?? 'paper';
    this.yieldEveryMs = opts.yieldEveryMs ?? 50;
    this.progressEveryMs = opts.progressEveryMs ?? 250;
    loadProfile(this.profile); // fail at construction on a bad profile, not in the middle of a campaign
  }

  async facts(): Promise<HostFacts> {
    const p = loadProfile(this.profile);
    return {
      hostId: this.hostId,
      backend: 'sim',
      kernel: `ironlab-sim model ${SIM_MODEL_VERSION} (profile ${p.name})`,
      cpuModel: p.cpuModel,
      cores: p.coreCount,
      nic: { name: p.nicName, driver: p.nicDriver, speedMbps: p.linkGbps * 1000 },
      cgroupVersion: 2,
      extra: { profile: p.name, simMaxAdvanceUs: p.simMaxAdvanceUs, irqModerationUs: p.irqModerationUs },
    };
  }

  async capabilities(): Promise<EnforcementSupport[]> {
    return ENFORCEMENTS.map((mode) => ({ mode, available: true }));
  }

  async setup(run: RunSpec, signal: AbortSignal): Promise<void> {
    throwIfAborted(signal);
    const parsed = RunSpec.safeParse(run);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new FatalError(`invalid run spec: ${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`, 'INVALID_RUN');
    }
    const spec = parsed.data;
    // The workload modules say what the simulated kernel models; anything else is refused, naming the workload.
    const refused = simRefusal([victimWorkloadOf(spec), spec.workload]);
    if (refused) throw new FatalError(refused, 'UNSUPPORTED');
    if (spec.peer.hostId === this.hostId) return void this.peerRuns.set(spec.runId, spec);
    const existing = this.runs.get(spec.runId);
    if (existing) {
      if (JSON.stringify(existing.spec) !== JSON.stringify(spec)) {
        throw new FatalError(`run ${spec.runId} is already set up with a different spec`, 'RUN_CONFLICT');
      }
      return;
    }
    let kernel: HostKernel;
    try {
      kernel = new HostKernel(spec, loadProfile(spec.profile));
    } catch (err) {
      throw new FatalError(`run ${spec.runId}: ${err instanceof Error ? err.message : String(err)}`, 'INVALID_RUN');
    }
    this.runs.set(spec.runId, { spec, kernel, phase: 'setup' });
  }

  async warmup(runId: string, signal: AbortSignal, progress: ProgressFn): Promise<void> {
    if (this.peerRuns.has(runId)) return;
    const run = this.get(runId);
    if (run.phase !== 'setup') return;
    await this.simulate(run, run.spec.warmupS * 1e9, 'warmup', signal, progress);
    run.phase = 'warmed';
  }

  async measure(runId: string, signal: AbortSignal, progress: ProgressFn): Promise<void> {
    if (this.peerRuns.has(runId)) return;
    const run = this.get(runId);
    if (run.phase === 'measured') return;
    if (run.phase === 'setup') throw new FatalError(`run ${runId}: measure before warmup`, 'BAD_ORDER');
    // A measure interrupted half-way restarts its window (the snapshot is taken again).
    run.start = run.kernel.snapshot();
    await this.simulate(run, run.spec.durationS * 1e9, 'measure', signal, progress);
    run.end = run.kernel.snapshot();
    run.phase = 'measured';
  }

  async collect(runId: string): Promise<RunResult> {
    if (this.peerRuns.has(runId)) return { runId, samples: [], provenance: { backend: 'sim', role: 'peer' } };
    const run = this.get(runId);
    if (run.phase !== 'measured' || !run.start || !run.end) throw new FatalError(`run ${runId}: collect before measure`, 'BAD_ORDER');
    const p = run.kernel.prof;
    return {
      runId,
      samples: samplesFromSim(run.spec, run.start, run.end, run.kernel.cores),
      provenance: {
        backend: 'sim',
        simModelVersion: SIM_MODEL_VERSION,
        profile: p.name,
        kernel: `ironlab-sim model ${SIM_MODEL_VERSION}`,
        cpuModel: p.cpuModel,
        nic: `${p.nicName} (${p.nicDriver})`,
        enforcement: run.spec.enforcement,
        enforcementVersion: run.spec.enforcement === 'none' ? null : `sim-${SIM_MODEL_VERSION}`,
        seed: run.spec.seed,
        irqAffinity: run.spec.nicCpus.join(','),
      },
    };
  }

  async teardown(runId: string): Promise<void> {
    this.runs.delete(runId);
    this.peerRuns.delete(runId);
  }

  async reap(campaignId?: string): Promise<string[]> {
    const removed: string[] = [];
    for (const [id, run] of this.runs) {
      if (campaignId !== undefined && run.spec.campaignId !== campaignId) continue;
      this.runs.delete(id);
      removed.push(`sim-run:${id}`);
    }
    for (const [id, spec] of this.peerRuns) if (campaignId === undefined || spec.campaignId === campaignId) this.peerRuns.delete(id);
    return removed;
  }

  private get(runId: string): SimRun {
    const run = this.runs.get(runId);
    if (!run) throw new FatalError(`unknown run '${runId}' on sim host ${this.hostId} (not set up, or torn down)`, 'UNKNOWN_RUN');
    return run;
  }

  /** Advance the run's kernel by `ns`, in chunks, yielding and checking the signal between chunks. */
  private async simulate(run: SimRun, ns: number, phase: string, signal: AbortSignal, progress: ProgressFn): Promise<void> {
    const end = run.kernel.nowNs + ns;
    const startNs = run.kernel.nowNs;
    let chunkNs = 10e6; // adapted so each chunk takes about yieldEveryMs of wall time
    // Progress every progressEveryMs of wall time, not every chunk and not at the phase's end: each event is a
    // sealed frame the orchestrator opens and validates, and nothing there reads them (the run's response says
    // the phase ended); a lab's short runs sent ~9 a run per side, then 2 (one at each phase's end), now none.
    let reportedAt = performance.now();
    while (run.kernel.nowNs < end - 1) {
      throwIfAborted(signal);
      const t0 = performance.now();
      run.kernel.runTo(Math.min(run.kernel.nowNs + chunkNs, end), end); // pauses only at events: results do not depend on chunks
      const t1 = performance.now();
      chunkNs = Math.max(1e6, Math.min(1e9, chunkNs * Math.min(4, this.yieldEveryMs / Math.max(0.1, t1 - t0))));
      if (t1 - reportedAt >= this.progressEveryMs) {
        reportedAt = t1;
        progress(phase, ns > 0 ? (run.kernel.nowNs - startNs) / ns : 1);
      }
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    throwIfAborted(signal);
  }
}

function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) {
    throw new RetryableError(
      `sim run aborted${signal.reason ? `: ${String(signal.reason instanceof Error ? signal.reason.message : signal.reason)}` : ''}`,
      'ABORTED',
    );
  }
}
