// Turns validated requests into backend calls. Ops are idempotent by operation id: a request whose id was
// seen before gets the same outcome (in flight: the same promise), so an orchestrator that re-issues its
// in-flight work after a reconnect or a restart never runs anything twice.
import { z } from 'zod';
import type { Backend } from './backend.ts';
import { OPS, isOpName, describeZodError, type ErrorBody, type OpName } from './protocol.ts';
import type { RunSpec } from './run-spec.ts';
import { isRetryable, messageOf } from '../workloads/common/errors.ts';

export type Outcome = { ok: true; result: unknown } | { ok: false; error: ErrorBody };
export type EventSink = (opId: string, event: 'progress' | 'log', data: Record<string, unknown>) => void;

const REMEMBERED_OPS = 2000;

export class OpDispatcher {
  private readonly outcomes = new Map<string, Promise<Outcome>>();
  /** One AbortController per run: teardown aborts whatever that run still has in flight. */
  private readonly runAborts = new Map<string, AbortController>();
  /** This host's facts, asked once: a run's cores and addresses are checked against them. */
  private facts: ReturnType<Backend['facts']> | null = null;

  constructor(
    private readonly backend: Backend,
    private readonly emit: EventSink,
  ) {}

  handle(id: string, op: string, args: unknown): Promise<Outcome> {
    const seen = this.outcomes.get(id);
    if (seen) return seen;
    const outcome = this.execute(id, op, args);
    this.outcomes.set(id, outcome);
    if (this.outcomes.size > REMEMBERED_OPS) this.outcomes.delete(this.outcomes.keys().next().value as string);
    return outcome;
  }

  /** Abort every run in flight (the orchestrator is gone for good, or the agent is stopping). */
  abortAll(): void {
    for (const ctl of this.runAborts.values()) ctl.abort();
  }

  private async execute(id: string, op: string, rawArgs: unknown): Promise<Outcome> {
    if (!isOpName(op)) return fail('UNKNOWN_OP', `unknown op '${op}'; this agent answers ${Object.keys(OPS).join(', ')}`, false);
    const parsed = (OPS[op].args as z.ZodType).safeParse(rawArgs ?? {});
    if (!parsed.success) return fail('INVALID_ARGS', `${op}: ${describeZodError(parsed.error)}`, false);
    const args = parsed.data as Record<string, any>;
    const progress = (phase: string, fraction: number) => this.emit(id, 'progress', { phase, fraction });
    try {
      switch (op) {
        case 'facts':
          return ok(await this.backend.facts());
        case 'capabilities':
          return ok(await this.backend.capabilities());
        case 'run.setup': {
          const misfit = await this.misfit(args.run);
          if (misfit) return fail('INVALID_ARGS', `run.setup: ${misfit}`, false);
          const ctl = this.controllerFor(args.run.runId, true);
          await this.backend.setup(args.run, ctl.signal);
          return ok(null);
        }
        case 'run.warmup':
          await this.backend.warmup(args.runId, this.controllerFor(args.runId).signal, progress);
          return ok(null);
        case 'run.measure':
          await this.backend.measure(args.runId, this.controllerFor(args.runId).signal, progress);
          return ok(null);
        case 'run.collect':
          return ok(await this.backend.collect(args.runId));
        case 'run.execute':
          return await this.executeRun(id, args.run);
        case 'run.teardown':
          this.runAborts.get(args.runId)?.abort();
          this.runAborts.delete(args.runId);
          await this.backend.teardown(args.runId);
          return ok(null);
        case 'reap':
          return ok(await this.backend.reap(args.campaignId));
      }
    } catch (err) {
      const code = typeof (err as { code?: unknown })?.code === 'string' ? (err as { code: string }).code : 'BACKEND_ERROR';
      return fail(code, `${op}: ${messageOf(err)}`, isRetryable(err));
    }
  }

  /**
   * A run's phases up to its samples, each as its own op would run it (same checks, same outcome), then its
   * teardown whatever happened, as the orchestrator's would be (a failed teardown does not change the outcome).
   */
  private async executeRun(id: string, run: RunSpec): Promise<Outcome> {
    const phases: [OpName, unknown][] = [
      ['run.setup', { run }],
      ['run.warmup', { runId: run.runId }],
      ['run.measure', { runId: run.runId }],
      ['run.collect', { runId: run.runId }],
    ];
    let outcome: Outcome = ok(null);
    for (const [op, args] of phases) {
      outcome = await this.execute(id, op, args);
      if (!outcome.ok) {
        outcome = { ok: false, error: { ...outcome.error, op } };
        break;
      }
    }
    await this.execute(id, 'run.teardown', { runId: run.runId });
    return outcome;
  }

  /** Why a run cannot be this host's (cores it does not have, traffic addresses that are not its NIC's), or null. */
  private async misfit(run: RunSpec): Promise<string | null> {
    this.facts ??= this.backend.facts().catch((err) => {
      this.facts = null;
      throw err;
    });
    const facts = await this.facts;
    const lists: [string, number[]][] = [
      ['victim.cpus', run.victim.cpus],
      ['neighbour.cpus', run.neighbour.cpus],
      ['peer.cpus', run.peer.cpus],
      ['nicCpus', run.nicCpus],
    ];
    for (const [where, cpus] of lists) {
      const missing = cpus.find((c) => c >= facts.cores);
      if (missing !== undefined)
        return `run.${where}: core ${missing} does not exist on this host (${facts.cores} cores: 0-${facts.cores - 1})`;
    }
    const nic = facts.extra.nicAddress;
    const addresses = [run.peer.address, run.peer.serverAddress].filter((a): a is string => a !== undefined);
    if (addresses.length && typeof nic === 'string' && !addresses.includes(nic))
      return `run.peer: traffic addresses ${addresses.join(', ')} do not include this host's (${nic})`;
    return null;
  }

  private controllerFor(runId: string, fresh = false): AbortController {
    let ctl = this.runAborts.get(runId);
    if (!ctl || fresh) {
      ctl = new AbortController();
      this.runAborts.set(runId, ctl);
    }
    return ctl;
  }
}

function ok(result: unknown): Outcome {
  return { ok: true, result };
}

function fail(code: string, message: string, retryable: boolean): Outcome {
  return { ok: false, error: { code, message: message.slice(0, 4000), retryable } };
}
