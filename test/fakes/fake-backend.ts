// A backend for protocol and machine tests: it records every call and answers with plain numbers, so those
// tests check the plumbing (auth, idempotency, retries, teardown), not the science.
import type { Backend, EnforcementSupport, HostFacts, RunResult } from '../../agents/backend.ts';
import type { RunSpec } from '../../agents/run-spec.ts';
import { METRIC, sample } from '../../agents/samples.ts';

export class FakeBackend implements Backend {
  readonly kind = 'sim' as const;
  readonly calls: string[] = [];
  readonly runs = new Map<string, RunSpec>();
  reaped = 0;
  /** The campaign each reap named (undefined: every campaign). */
  readonly reapedCampaigns: (string | undefined)[] = [];
  /** Milliseconds each of warmup and measure takes (real time). */
  phaseMs = 0;
  /** Make the named phase throw (once per run id unless `always`). */
  failIn: { phase: string; retryable: boolean; always?: boolean } | null = null;
  private failed = new Set<string>();
  /** Shared by several fakes, to see the order of calls across hosts: `<hostId> <call>`. */
  journal: string[] | null = null;

  constructor(readonly hostId = 'fake-1') {}

  /** Not recorded: a read-only query (the agent asks it to check a run's cores), not a step of a run. */
  async facts(): Promise<HostFacts> {
    return {
      hostId: this.hostId,
      backend: 'sim',
      kernel: 'fake',
      cpuModel: 'fake cpu',
      cores: 2,
      nic: { name: 'fake0', driver: 'fake', speedMbps: 10000 },
      cgroupVersion: null,
      extra: {},
    };
  }

  async capabilities(): Promise<EnforcementSupport[]> {
    return [
      { mode: 'none', available: true },
      { mode: 'ebpf', available: true },
      { mode: 'iron-kernel', available: true },
    ];
  }

  async setup(run: RunSpec): Promise<void> {
    this.record(`setup ${run.runId}`);
    this.maybeFail('setup', run.runId);
    this.runs.set(run.runId, run);
  }

  async warmup(runId: string, signal: AbortSignal): Promise<void> {
    this.record(`warmup ${runId}`);
    this.need(runId);
    await this.wait(signal);
    this.maybeFail('warmup', runId);
  }

  async measure(runId: string, signal: AbortSignal): Promise<void> {
    this.record(`measure ${runId}`);
    this.need(runId);
    await this.wait(signal);
    this.maybeFail('measure', runId);
  }

  async collect(runId: string): Promise<RunResult> {
    this.record(`collect ${runId}`);
    const run = this.need(runId);
    // the peer host of a cross-host run reports its peers' counters only
    if (run.peer.hostId === this.hostId)
      return {
        runId,
        samples: [sample(METRIC.packetsSent, 100, 'packets', { container: 'peer-0' })],
        provenance: { backend: 'fake', role: 'peer' },
      };
    const events = run.workload === 'sysbench' ? 1000 + run.repetition : 500 + run.repetition;
    return {
      runId,
      samples: [sample(METRIC.victimEventsPerSec, events, 'events/s', { container: 'victim' }), sample(METRIC.windowS, run.durationS, 's')],
      provenance: { backend: 'fake' },
    };
  }

  async teardown(runId: string): Promise<void> {
    this.record(`teardown ${runId}`);
    this.runs.delete(runId);
  }

  async reap(campaignId?: string): Promise<string[]> {
    this.reaped++;
    this.reapedCampaigns.push(campaignId);
    const ids = [...this.runs.keys()];
    this.runs.clear();
    return ids;
  }

  private record(call: string): void {
    this.calls.push(call);
    this.journal?.push(`${this.hostId} ${call}`);
  }

  private need(runId: string): RunSpec {
    const run = this.runs.get(runId);
    if (!run) throw new Error(`no run ${runId} on this host`);
    return run;
  }

  private maybeFail(phase: string, runId: string): void {
    const f = this.failIn;
    if (!f || f.phase !== phase || (!f.always && this.failed.has(runId))) return;
    this.failed.add(runId);
    throw Object.assign(new Error(`injected ${phase} failure`), { retryable: f.retryable, code: 'INJECTED' });
  }

  private wait(signal: AbortSignal): Promise<void> {
    if (!this.phaseMs) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(resolve, this.phaseMs);
      signal.addEventListener('abort', () => {
        clearTimeout(t);
        reject(new Error('aborted'));
      });
    });
  }
}

/** A RunSpec for tests. */
export function testRun(over: Partial<RunSpec> = {}): RunSpec {
  return {
    runId: 'r1',
    campaignId: 'c1',
    scenarioId: 'sysbench',
    repetition: 0,
    workload: 'sysbench',
    params: {},
    enforcement: 'none',
    neighbours: 1,
    warmupS: 0.1,
    durationS: 0.2,
    victim: { quotaUs: 50000, periodUs: 100000, cpus: [0] },
    neighbour: { quotaUs: 50000, periodUs: 100000, cpus: [0] },
    peer: { cpus: [1] },
    nicCpus: [0],
    seed: 1,
    profile: 'paper',
    ...over,
  };
}
