// One run of the ledger on one host: setup -> warmup -> measure -> collect -> teardown -> record.
// Every failure and an abort lead through teardown, so nothing a run created outlives it. Each phase is a
// named actor (tests swap them with `.provide()`); each request carries an operation id derived from the run
// and attempt, so a re-issued request is answered from the agent's memory instead of running twice.
import { assign, fromPromise, setup } from 'xstate';
import type { RunSpec } from '../../agents/run-spec.ts';
import type { RunResult } from '../../agents/backend.ts';
import type { AgentClient } from '../hub/agent-connection.ts';
import { isRetryable, messageOf } from '../errors.ts';

export interface RunRecorder {
  /** Write the run's samples and mark it done, in one transaction. */
  complete(result: RunResult, hostId: string): void;
}

export interface RunInput {
  run: RunSpec;
  agent: AgentClient;
  attempt: number;
  recorder: RunRecorder;
  /** Extra wall-clock allowance per op beyond the run's own durations (ms). */
  slackMs?: number;
  onPhase?: (phase: string, fraction: number) => void;
}

export type RunOutcome =
  | { runId: string; hostId: string; outcome: 'done' }
  | { runId: string; hostId: string; outcome: 'failed'; error: string; retryable: boolean; phase: string }
  | { runId: string; hostId: string; outcome: 'aborted' };

type Ctx = RunInput & { result: RunResult | null; error: { message: string; retryable: boolean; phase: string } | null; aborted: boolean; recorded: boolean };
type PhaseInput = { ctx: Ctx };

const opId = (ctx: Ctx, op: string) => `${ctx.run.campaignId}/${ctx.run.runId}/a${ctx.attempt}/${op}`;
const deadline = (ctx: Ctx, seconds: number) => seconds * 1000 + (ctx.slackMs ?? 60_000);

export const runMachine = setup({
  types: {
    context: {} as Ctx,
    input: {} as RunInput,
    output: {} as RunOutcome,
    events: {} as { type: 'ABORT' },
  },
  actors: {
    setupRun: fromPromise<void, PhaseInput>(async ({ input: { ctx }, signal }) => {
      await ctx.agent.request('run.setup', { run: ctx.run }, { id: opId(ctx, 'setup'), timeoutMs: deadline(ctx, 120), signal });
    }),
    warmupRun: fromPromise<void, PhaseInput>(async ({ input: { ctx }, signal }) => {
      await ctx.agent.request('run.warmup', { runId: ctx.run.runId }, {
        id: opId(ctx, 'warmup'), timeoutMs: deadline(ctx, ctx.run.warmupS), signal,
        onProgress: (d) => ctx.onPhase?.('warmup', Number(d.fraction) || 0),
      });
    }),
    measureRun: fromPromise<void, PhaseInput>(async ({ input: { ctx }, signal }) => {
      await ctx.agent.request('run.measure', { runId: ctx.run.runId }, {
        id: opId(ctx, 'measure'), timeoutMs: deadline(ctx, ctx.run.durationS), signal,
        onProgress: (d) => ctx.onPhase?.('measure', Number(d.fraction) || 0),
      });
    }),
    collectRun: fromPromise<RunResult, PhaseInput>(async ({ input: { ctx }, signal }) => {
      const result = await ctx.agent.request('run.collect', { runId: ctx.run.runId }, { id: opId(ctx, 'collect'), timeoutMs: deadline(ctx, 30), signal });
      if (result.runId !== ctx.run.runId) throw new Error(`agent answered collect for ${result.runId}, not ${ctx.run.runId}`);
      return result;
    }),
    teardownRun: fromPromise<void, PhaseInput>(async ({ input: { ctx } }) => {
      // No abort signal: teardown must run to its end even when the campaign is being aborted.
      await ctx.agent.request('run.teardown', { runId: ctx.run.runId }, { id: opId(ctx, 'teardown'), timeoutMs: deadline(ctx, 60) });
    }),
    recordRun: fromPromise<void, PhaseInput>(async ({ input: { ctx } }) => {
      ctx.recorder.complete(ctx.result!, ctx.agent.hostId);
    }),
  },
  actions: {
    keepError: assign({
      error: ({ context, event }, params: { phase: string }) => context.error ?? phaseError(params.phase, (event as { error?: unknown }).error),
    }),
  },
  guards: {
    failed: ({ context }) => context.error !== null,
    aborted: ({ context }) => context.aborted,
  },
}).createMachine({
  id: 'run',
  context: ({ input }) => ({ ...input, result: null, error: null, aborted: false, recorded: false }),
  initial: 'setup',
  on: {
    ABORT: { target: '.teardown', actions: assign({ aborted: true }) },
  },
  states: {
    setup: {
      invoke: {
        src: 'setupRun',
        input: ({ context }) => ({ ctx: context }),
        onDone: 'warmup',
        onError: { target: 'teardown', actions: { type: 'keepError', params: { phase: 'setup' } } },
      },
    },
    warmup: {
      invoke: {
        src: 'warmupRun',
        input: ({ context }) => ({ ctx: context }),
        onDone: 'measure',
        onError: { target: 'teardown', actions: { type: 'keepError', params: { phase: 'warmup' } } },
      },
    },
    measure: {
      invoke: {
        src: 'measureRun',
        input: ({ context }) => ({ ctx: context }),
        onDone: 'collect',
        onError: { target: 'teardown', actions: { type: 'keepError', params: { phase: 'measure' } } },
      },
    },
    collect: {
      invoke: {
        src: 'collectRun',
        input: ({ context }) => ({ ctx: context }),
        onDone: { target: 'teardown', actions: assign({ result: ({ event }) => event.output }) },
        onError: { target: 'teardown', actions: { type: 'keepError', params: { phase: 'collect' } } },
      },
    },
    teardown: {
      on: { ABORT: {} }, // already tearing down
      invoke: {
        src: 'teardownRun',
        input: ({ context }) => ({ ctx: context }),
        // A failed teardown is logged with the run's outcome; the agent's reaper is the safety net.
        onDone: 'decide',
        onError: 'decide',
      },
    },
    decide: {
      always: [{ guard: 'aborted', target: 'aborted' }, { guard: 'failed', target: 'failed' }, { target: 'record' }],
    },
    record: {
      on: { ABORT: {} }, // the measurement is complete: keep it
      invoke: { src: 'recordRun', input: ({ context }) => ({ ctx: context }), onDone: { target: 'done', actions: assign({ recorded: true }) }, onError: { target: 'failed', actions: { type: 'keepError', params: { phase: 'record' } } } },
    },
    done: { type: 'final' },
    failed: { type: 'final' },
    aborted: { type: 'final' },
  },
  output: ({ context }): RunOutcome => {
    const base = { runId: context.run.runId, hostId: context.agent.hostId };
    if (context.recorded) return { ...base, outcome: 'done' };
    if (context.aborted) return { ...base, outcome: 'aborted' };
    const e = context.error ?? { message: 'unknown failure', retryable: true, phase: 'unknown' };
    return { ...base, outcome: 'failed', error: e.message, retryable: e.retryable, phase: e.phase };
  },
});

/** Remember the first failure and the phase it happened in (later ones are consequences). */
export function phaseError(phase: string, err: unknown) {
  return { message: messageOf(err), retryable: isRetryable(err), phase };
}
