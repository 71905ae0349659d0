// The orchestrator's handle on one authenticated agent: typed requests with deadlines, correlated by
// operation id, results validated against the op's schema. When the agent is lost, every pending request
// fails with a retryable error, so the run machine tears down and the ledger retries the run elsewhere.
import { OPS, isExactRunResult, type ErrorBody, type OpArgs, type OpName, type OpResult, describeZodError } from '../../agents/protocol.ts';
import { FatalError, RetryableError } from '../../workloads/common/errors.ts';
import type { BackendKind } from '../../agents/backends/registry.ts';

export interface RequestOptions {
  /** Operation id: re-sending the same id returns the agent's remembered outcome instead of running twice. */
  id: string;
  timeoutMs: number;
  signal?: AbortSignal;
  onProgress?: (data: Record<string, unknown>) => void;
}

/** What the run and campaign machines need from an agent (tests implement it with fakes). */
export interface AgentClient {
  readonly hostId: string;
  readonly backend: BackendKind;
  /**
   * Runs go to this agent as one run.execute (setup to collect) and a teardown, not an op per phase: a simulated
   * host's phases take no wall time, and their round trips (sealed frames, syscalls, parsing) were most of the
   * orchestrator's work per run. Absent: phase by phase.
   */
  readonly runsInOneRequest?: boolean;
  request<O extends OpName>(op: O, args: OpArgs<O>, opts: RequestOptions): Promise<OpResult<O>>;
}

interface Pending {
  op: OpName;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  onProgress?: (data: Record<string, unknown>) => void;
}

export class AgentConnection implements AgentClient {
  private readonly pending = new Map<string, Pending>();
  private lostReason: string | null = null;
  /** Cleared when the agent refuses run.execute as unknown (an older ironlab): its runs then go phase by phase. */
  private knowsExecute = true;

  constructor(
    readonly hostId: string,
    readonly backend: BackendKind,
    readonly version: string,
    /** Sends one message on the host's sealed channel. */
    private readonly link: { send(msg: unknown): void },
  ) {}

  get runsInOneRequest(): boolean {
    return this.backend === 'sim' && this.knowsExecute;
  }

  get alive(): boolean {
    return this.lostReason === null;
  }

  request<O extends OpName>(op: O, args: OpArgs<O>, opts: RequestOptions): Promise<OpResult<O>> {
    if (this.lostReason) return Promise.reject(new RetryableError(`agent ${this.hostId} is lost: ${this.lostReason}`, 'AGENT_LOST'));
    if (opts.signal?.aborted) return Promise.reject(new RetryableError(`${op} aborted`, 'ABORTED'));
    return new Promise<OpResult<O>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(opts.id);
        reject(new RetryableError(`agent ${this.hostId} did not answer ${op} within ${Math.round(opts.timeoutMs / 1000)} s`, 'TIMEOUT'));
      }, opts.timeoutMs);
      opts.signal?.addEventListener(
        'abort',
        () => {
          clearTimeout(timer);
          this.pending.delete(opts.id);
          reject(new RetryableError(`${op} aborted`, 'ABORTED'));
        },
        { once: true },
      );
      this.pending.set(opts.id, { op, resolve: resolve as (v: unknown) => void, reject, timer, onProgress: opts.onProgress });
      this.link.send({ type: 'request', id: opts.id, op, args });
    });
  }

  /** A response arrived: validate the result against the op's schema and settle the request. */
  settle(id: string, outcome: { ok: true; result: unknown } | { ok: false; error: ErrorBody }): void {
    const p = this.pending.get(id);
    if (!p) return; // late answer to a request that timed out or was aborted
    this.pending.delete(id);
    clearTimeout(p.timer);
    if (!outcome.ok) {
      const { code, message, retryable, op } = outcome.error;
      if (p.op === 'run.execute' && code === 'UNKNOWN_OP') {
        this.knowsExecute = false; // the run goes back to the queue, and from now on this agent's runs go phase by phase
        p.reject(new RetryableError(`${this.hostId}: ${message}; its runs go phase by phase from now on`, code));
      } else
        p.reject(
          retryable ? new RetryableError(`${this.hostId}: ${message}`, code, op) : new FatalError(`${this.hostId}: ${message}`, code, op),
        );
      return;
    }
    // a run's result as the agent sent it when it is exactly what the schema would return (see isExactRunResult)
    if ((p.op === 'run.execute' || p.op === 'run.collect') && isExactRunResult(outcome.result)) return void p.resolve(outcome.result);
    const parsed = OPS[p.op].result.safeParse(outcome.result);
    if (!parsed.success)
      p.reject(new FatalError(`${this.hostId}: invalid ${p.op} result: ${describeZodError(parsed.error)}`, 'INVALID_RESULT'));
    else p.resolve(parsed.data);
  }

  progress(id: string, data: Record<string, unknown>): void {
    this.pending.get(id)?.onProgress?.(data);
  }

  /** The agent is gone: fail everything pending, retryably. */
  lost(reason: string): void {
    this.lostReason = reason;
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new RetryableError(`agent ${this.hostId} lost during ${p.op}: ${reason}`, 'AGENT_LOST'));
      this.pending.delete(id);
    }
  }
}
