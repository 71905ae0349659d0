// An in-process agent client: the real dispatcher (validation, idempotency) over a backend, without a socket.
import { OpDispatcher } from '../../agents/dispatcher.ts';
import type { Backend } from '../../agents/backend.ts';
import { OPS, type OpArgs, type OpName, type OpResult } from '../../agents/protocol.ts';
import type { AgentClient, RequestOptions } from '../../orchestrator/hub/agent-connection.ts';
import { FatalError, RetryableError } from '../../workloads/common/errors.ts';

export class FakeAgent implements AgentClient {
  readonly backend = 'sim' as const;
  private readonly dispatcher: OpDispatcher;
  /** When set, every request fails as if the agent had been lost. */
  lost = false;

  constructor(
    readonly hostId: string,
    readonly impl: Backend,
  ) {
    this.dispatcher = new OpDispatcher(impl, () => {});
  }

  async request<O extends OpName>(op: O, args: OpArgs<O>, opts: RequestOptions): Promise<OpResult<O>> {
    if (this.lost) throw new RetryableError(`agent ${this.hostId} lost`, 'AGENT_LOST');
    const out = await this.dispatcher.handle(opts.id, op, args);
    if (this.lost) throw new RetryableError(`agent ${this.hostId} lost during ${op}`, 'AGENT_LOST');
    if (!out.ok)
      throw out.error.retryable
        ? new RetryableError(out.error.message, out.error.code, out.error.op)
        : new FatalError(out.error.message, out.error.code, out.error.op);
    return OPS[op].result.parse(out.result) as OpResult<O>;
  }
}
