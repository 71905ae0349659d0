// One run of the ledger on its server host, and on its peer host when the campaign leased one:
// setup -> warmup -> measure -> collect -> teardown -> record. With a peer agent every phase drives both:
// setup the server, then the peer (every iperf3 server listens before any client starts in the warm-up);
// warm-up, measure, collect and teardown on both at once; the peer's samples join the server's.
// An agent that takes a run in one request (a simulated host, no peer: AgentClient.runsInOneRequest) gets
// it as one run.execute, setup to collect and the teardown: one round trip instead of five. Only when that
// request fails without the agent's answer (timeout, lost agent, abort) does a teardown request follow. On that
// path one actor (runInOneRequest) books the attempt, sends the request and books the run done: a simulated
// run's bookings were most of the machine's work per run as actors of their own. A failure in each of its
// three steps goes where the phase-by-phase states would send it, and an abort is honoured as there: while
// booking, the run is released once booked; while the request is out, it is aborted, torn down and released;
// once measured, the measurement is kept.
// Every failure and an abort lead through teardown (of both), so nothing a run created outlives it. Each phase
// is a named actor (tests swap them with `.provide()`); each request carries an operation id derived from the
// run, attempt and side, so a re-issued request is answered from the agent's memory instead of running twice.
// The run machine books its run in the ledger through its recorder, awaiting each write: the attempt before
// the first op (so an attempt number is durable before any op id is built from it), and the outcome (done,
// out of guard, failed, aborted) before it ends.
import { assign, fromPromise, setup } from 'xstate';
import type { RunSpec } from '../../agents/run-spec.ts';
import { PHASE_ALLOWANCE_MS } from '../../agents/phase-allowance.ts';
import type { RunResult } from '../../agents/backend.ts';
import type { AgentClient } from '../hub/agent-connection.ts';
import { isRetryable, messageOf } from '../../workloads/common/errors.ts';

export type Awaitable<T> = T | Promise<T>;

export interface RunRecorder {
  /** Mark the run running and count the attempt; returns the attempt number. Absent: `attempt` is given. */
  start?(): Awaitable<number>;
  /** Write the run's samples and mark it done, in one transaction. */
  complete(result: RunResult, hostId: string): Awaitable<void>;
  /** A run out of guard: 'todo' = queued again, 'done' = kept with the reason (attempts used up). Absent = recorded as any run. */
  guard?(result: RunResult, hostId: string, reason: string): Awaitable<'todo' | 'done'>;
  /** A failed attempt: 'todo' = to be retried, 'failed' = for good. Absent: the outcome is not booked. */
  fail?(error: string, retryable: boolean): Awaitable<'todo' | 'failed'>;
  /** An aborted attempt goes back to todo. Absent: not booked. */
  release?(): Awaitable<void>;
}

export interface RunInput {
  run: RunSpec;
  /** The server host's agent: the victim and the neighbours. */
  agent: AgentClient;
  /** The peer host's agent (run.peer.hostId): the traffic peers. Absent when they run on the server host. */
  peerAgent?: AgentClient;
  /** The attempt, when the caller booked it; absent: `recorder.start()` books it first. */
  attempt?: number;
  recorder: RunRecorder;
  /** Extra wall-clock allowance per op beyond the run's own durations (ms). */
  slackMs?: number;
  onPhase?: (phase: string, fraction: number) => void;
  /** Why a collected run is out of guard (empty = in guard); absent = no guards. */
  guardCheck?: (result: RunResult, run: RunSpec) => string[];
}

export type RunOutcome = { runId: string; hostId: string; peerHostId?: string } & (
  | { outcome: 'done' }
  /** `status`: what the ledger made of it (absent when the recorder does not book failures, or could not). */
  | { outcome: 'failed'; error: string; retryable: boolean; phase: string; status?: 'todo' | 'failed' }
  | { outcome: 'aborted' }
  /** Out of guard: repeated (`retry`) or, its attempts used up, kept with the reason. */
  | { outcome: 'guarded'; reason: string; retry: boolean }
);

type Ctx = Omit<RunInput, 'attempt'> & {
  /** 0 until booked. */
  attempt: number;
  result: RunResult | null;
  error: { message: string; retryable: boolean; phase: string } | null;
  aborted: boolean;
  recorded: boolean;
  /** Why the collected run is out of guard; null = in guard (or not checked). */
  guardReason: string | null;
  /** What the ledger did with a run out of guard. */
  guarded: 'todo' | 'done' | null;
  /** What the ledger did with a failed run. */
  failStatus: 'todo' | 'failed' | null;
  /** How far the one-request path's actor is (it changes this in place, the machine's ABORT reads it); null:
   *  phase by phase. */
  inOneRequest: OneRequestStep | null;
};
type PhaseInput = { ctx: Ctx };

type Side = { agent: AgentClient; op: (name: string) => string };
const opId = (ctx: Ctx, op: string) => `${ctx.run.campaignId}/${ctx.run.runId}/a${ctx.attempt}/${op}`;
const deadline = (ctx: Ctx, seconds: number) => seconds * 1000 + (ctx.slackMs ?? PHASE_ALLOWANCE_MS);
/** The agents of the run, server first; the peer's op ids are its own (`.../peer-setup`). */
/** A phase that lasts `seconds` on every side at once; the first side's progress is the run's. */
async function timedPhase(ctx: Ctx, phase: 'warmup' | 'measure', seconds: number, signal: AbortSignal): Promise<void> {
  await Promise.all(
    sides(ctx).map((s, i) =>
      s.agent.request(
        `run.${phase}`,
        { runId: ctx.run.runId },
        {
          id: s.op(phase),
          timeoutMs: deadline(ctx, seconds),
          signal,
          onProgress: i === 0 ? (d) => ctx.onPhase?.(phase, Number(d.fraction) || 0) : undefined,
        },
      ),
    ),
  );
}

const sides = (ctx: Ctx): Side[] => [
  { agent: ctx.agent, op: (name) => opId(ctx, name) },
  ...(ctx.peerAgent ? [{ agent: ctx.peerAgent, op: (name: string) => opId(ctx, `peer-${name}`) }] : []),
];

/** A collected result, checked to be this run's. */
function ofRun(ctx: Ctx, agent: AgentClient, result: RunResult): RunResult {
  if (result.runId !== ctx.run.runId) throw new Error(`agent ${agent.hostId} answered collect for ${result.runId}, not ${ctx.run.runId}`);
  return result;
}

/** One result for the run: the peer's samples (labelled peer-* as they come) and provenance (under `peer.`). */
export function mergeResults(server: RunResult, peer: RunResult | undefined, peerHostId: string | undefined): RunResult {
  if (!peer) return server;
  const provenance: RunResult['provenance'] = { ...server.provenance, peerHostId: peerHostId ?? null };
  for (const [k, v] of Object.entries(peer.provenance)) provenance[`peer.${k}`] = v;
  return { runId: server.runId, samples: [...server.samples, ...peer.samples], provenance };
}

/** The one-request path's step and the attempt it booked; `aborted`: an ABORT came while it was booking. */
interface OneRequestStep {
  step: 'start' | 'execute' | 'record';
  attempt: number;
  aborted: boolean;
}

/** How the one-request path ended when it did not throw: measured (and booked done, unless out of guard and
 *  left to the guard's booking), or aborted while its attempt was being booked. */
type InOneRequest =
  | { attempt: number; aborted: true }
  | { attempt: number; aborted: false; result: RunResult; guardReason: string | null; recorded: boolean };

/** A failure of the one-request path and the step it happened in: booking the attempt (`start`), the request
 *  (`execute`: `error.op` names the phase the agent tore the run down after) or booking it done (`record`). */
class InOneRequestFailure {
  constructor(
    readonly step: 'start' | 'execute' | 'record',
    readonly error: unknown,
    readonly attempt: number,
    readonly result: RunResult | null,
  ) {}
}

/** Why a collected run is out of guard, or null (in guard, or not checked). */
const guardReasonOf = (ctx: Ctx, result: RunResult) => ctx.guardCheck?.(result, ctx.run).join('; ') || null;

/** The run as one run.execute, setup to collect and the agent's teardown. */
async function execute(ctx: Ctx, signal: AbortSignal): Promise<RunResult> {
  const seconds = [120, ctx.run.warmupS, ctx.run.durationS, 30, 60]; // setup's, the windows, collect's, teardown's
  const result = await ctx.agent.request(
    'run.execute',
    { run: ctx.run },
    {
      id: opId(ctx, 'execute'),
      timeoutMs: seconds.reduce((a, x) => a + deadline(ctx, x), 0),
      signal,
      onProgress: (d) => ctx.onPhase?.(String(d.phase), Number(d.fraction) || 0),
    },
  );
  return ofRun(ctx, ctx.agent, result);
}

/** The one-request path: book the attempt, run it in one request, book it done (see the header). */
async function runInOneRequest(ctx: Ctx, signal: AbortSignal): Promise<InOneRequest> {
  const at = ctx.inOneRequest!;
  if (at.attempt === 0) {
    try {
      at.attempt = await ctx.recorder.start!();
    } catch (err) {
      throw new InOneRequestFailure('start', err, 0, null);
    }
  }
  const attempt = at.attempt;
  if (at.aborted) return { attempt, aborted: true };
  at.step = 'execute'; // an ABORT from here stops this actor (and its request) and tears the run down
  let result: RunResult;
  try {
    result = await execute({ ...ctx, attempt }, signal);
  } catch (err) {
    throw new InOneRequestFailure('execute', err, attempt, null);
  }
  at.step = 'record'; // measured: an ABORT from here keeps it
  const guardReason = guardReasonOf(ctx, result);
  if (guardReason !== null && ctx.recorder.guard) return { attempt, aborted: false, result, guardReason, recorded: false };
  try {
    await ctx.recorder.complete(result, ctx.agent.hostId);
  } catch (err) {
    throw new InOneRequestFailure('record', err, attempt, result);
  }
  return { attempt, aborted: false, result, guardReason, recorded: true };
}

/** The one-request path's failure, from an xstate error event. */
const failureOf = (event: unknown) => (event as { error: InOneRequestFailure }).error;

export const runMachine = setup({
  types: {
    context: {} as Ctx,
    input: {} as RunInput,
    output: {} as RunOutcome,
    events: {} as { type: 'ABORT' },
  },
  actors: {
    startRun: fromPromise<number, PhaseInput>(async ({ input: { ctx } }) => (ctx.attempt > 0 ? ctx.attempt : ctx.recorder.start!())),
    setupRun: fromPromise<void, PhaseInput>(async ({ input: { ctx }, signal }) => {
      for (const s of sides(ctx))
        await s.agent.request('run.setup', { run: ctx.run }, { id: s.op('setup'), timeoutMs: deadline(ctx, 120), signal });
    }),
    warmupRun: fromPromise<void, PhaseInput>(({ input: { ctx }, signal }) => timedPhase(ctx, 'warmup', ctx.run.warmupS, signal)),
    measureRun: fromPromise<void, PhaseInput>(({ input: { ctx }, signal }) => timedPhase(ctx, 'measure', ctx.run.durationS, signal)),
    collectRun: fromPromise<RunResult, PhaseInput>(async ({ input: { ctx }, signal }) => {
      const [server, peer] = await Promise.all(
        sides(ctx).map(async (s) =>
          ofRun(
            ctx,
            s.agent,
            await s.agent.request('run.collect', { runId: ctx.run.runId }, { id: s.op('collect'), timeoutMs: deadline(ctx, 30), signal }),
          ),
        ),
      );
      return mergeResults(server, peer, ctx.peerAgent?.hostId);
    }),
    runInOneRequest: fromPromise<InOneRequest, PhaseInput>(({ input: { ctx }, signal }) => runInOneRequest(ctx, signal)),
    teardownRun: fromPromise<void, PhaseInput>(async ({ input: { ctx } }) => {
      // No abort signal: teardown must run to its end even when the campaign is being aborted; on both
      // hosts, even when one of them fails (or is lost).
      const done = await Promise.allSettled(
        sides(ctx).map((s) =>
          s.agent.request('run.teardown', { runId: ctx.run.runId }, { id: s.op('teardown'), timeoutMs: deadline(ctx, 60) }),
        ),
      );
      const failed = done.find((d): d is PromiseRejectedResult => d.status === 'rejected');
      if (failed) throw failed.reason;
    }),
    recordRun: fromPromise<void, PhaseInput>(async ({ input: { ctx } }) => {
      await ctx.recorder.complete(ctx.result!, ctx.agent.hostId);
    }),
    recordFailed: fromPromise<'todo' | 'failed' | null, PhaseInput>(async ({ input: { ctx } }) =>
      ctx.recorder.fail ? ctx.recorder.fail(`${ctx.error!.phase}: ${ctx.error!.message}`, ctx.error!.retryable) : null,
    ),
    recordAborted: fromPromise<void, PhaseInput>(async ({ input: { ctx } }) => {
      await ctx.recorder.release?.();
    }),
    recordGuarded: fromPromise<'todo' | 'done', PhaseInput>(async ({ input: { ctx } }) =>
      ctx.recorder.guard!(ctx.result!, ctx.agent.hostId, ctx.guardReason!),
    ),
  },
  actions: {
    /** A collected result (phase by phase) and whether it is out of guard. */
    keepResult: assign(({ context, event }) => {
      const result = (event as unknown as { output: RunResult }).output;
      return { result, guardReason: guardReasonOf(context, result) };
    }),
    /** What the one-request path measured: its attempt, result, whether it is out of guard and booked done. */
    keepMeasured: assign(({ event }) => {
      const out = (event as unknown as { output: InOneRequest & { aborted: false } }).output;
      return { attempt: out.attempt, result: out.result, guardReason: out.guardReason, recorded: out.recorded };
    }),
    /** A failure of the one-request path: its attempt and result so far, whether it was aborted, and its phase. */
    keepFailure: assign(({ context, event }, params: { phase: string }) => {
      const f = failureOf(event);
      return {
        attempt: f.attempt,
        result: f.result,
        aborted: context.inOneRequest!.aborted,
        error: context.error ?? phaseError(params.phase, f.error),
      };
    }),
    keepError: assign({
      error: ({ context, event }, params: { phase: string }) =>
        context.error ?? phaseError(params.phase, (event as { error?: unknown }).error),
    }),
  },
  guards: {
    failed: ({ context }) => context.error !== null,
    aborted: ({ context }) => context.aborted,
    outOfGuard: ({ context }) => context.guardReason !== null && context.recorder.guard !== undefined,
    inOneRequest: ({ context }) => context.inOneRequest !== null,
    requestOut: ({ context }) => context.inOneRequest?.step === 'execute',
    failedIn: ({ event }, step: InOneRequestFailure['step']) => failureOf(event).step === step,
    /** run.execute failed with the agent's answer: it names the phase after which it tore the run down. */
    agentTornDown: ({ event }) => failureOf(event).step === 'execute' && opOf(failureOf(event).error) !== undefined,
    abortedWhileBooking: ({ event }) => (event as unknown as { output: InOneRequest }).output.aborted,
    measuredOutOfGuard: ({ event }) => !(event as unknown as { output: { recorded?: boolean } }).output.recorded,
  },
}).createMachine({
  id: 'run',
  context: ({ input }) => ({
    ...input,
    attempt: input.attempt ?? 0,
    result: null,
    error: null,
    aborted: false,
    recorded: false,
    guardReason: null,
    guarded: null,
    failStatus: null,
    // the one-request path (an agent that takes a run in one request, no peer host)
    inOneRequest:
      input.agent.runsInOneRequest === true && !input.peerAgent ? { step: 'start', attempt: input.attempt ?? 0, aborted: false } : null,
  }),
  initial: 'routing',
  on: {
    ABORT: { target: '.teardown', actions: assign({ aborted: true }) },
  },
  states: {
    routing: {
      always: [{ guard: 'inOneRequest', target: 'executing' }, { target: 'starting' }],
    },
    starting: {
      // nothing is set up yet: an abort waits for the booking, then releases the run
      on: { ABORT: { actions: assign({ aborted: true }) } },
      invoke: {
        src: 'startRun',
        input: ({ context }) => ({ ctx: context }),
        onDone: [
          { guard: 'aborted', target: 'releasing', actions: assign({ attempt: ({ event }) => event.output }) },
          { target: 'setup', actions: assign({ attempt: ({ event }) => event.output }) },
        ],
        // not booked (the store refused or is gone): nothing to undo, nothing to book
        onError: { target: 'unbooked', actions: { type: 'keepError', params: { phase: 'start' } } },
      },
    },
    executing: {
      on: {
        ABORT: [
          // the request is out: stop it, tear the run down and release it, as the phase-by-phase path does
          {
            guard: 'requestOut',
            target: 'teardown',
            actions: assign({ aborted: true, attempt: ({ context }) => context.inOneRequest!.attempt }),
          },
          // booking: released once booked (or, not booked, nothing to release); measured: kept
          { actions: ({ context }) => void (context.inOneRequest!.aborted = context.inOneRequest!.step === 'start') },
        ],
      },
      invoke: {
        src: 'runInOneRequest',
        input: ({ context }) => ({ ctx: context }),
        onDone: [
          {
            guard: 'abortedWhileBooking',
            target: 'releasing',
            actions: assign({ attempt: ({ event }) => event.output.attempt, aborted: true }),
          },
          // out of guard: the guard's booking, as the phase-by-phase path does it
          { guard: 'measuredOutOfGuard', target: 'guarded', actions: 'keepMeasured' },
          { target: 'done', actions: 'keepMeasured' },
        ],
        onError: [
          // not booked (the store refused or is gone): nothing to undo, nothing to book
          {
            guard: { type: 'failedIn', params: 'start' },
            target: 'unbooked',
            actions: { type: 'keepFailure', params: { phase: 'start' } },
          },
          // the agent has torn the run down after the phase it names (run.warmup -> warmup)
          {
            guard: 'agentTornDown',
            target: 'decide',
            actions: { type: 'keepFailure', params: ({ event }) => ({ phase: phaseOfOp(opOf(failureOf(event).error)) }) },
          },
          // the request failed as a whole (timeout, lost agent): the teardown is ours to ask for
          {
            guard: { type: 'failedIn', params: 'execute' },
            target: 'teardown',
            actions: { type: 'keepFailure', params: { phase: 'execute' } },
          },
          { target: 'failing', actions: { type: 'keepFailure', params: { phase: 'record' } } },
        ],
      },
    },
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
        onDone: { target: 'teardown', actions: 'keepResult' },
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
      always: [
        { guard: 'aborted', target: 'releasing' },
        { guard: 'failed', target: 'failing' },
        { guard: 'outOfGuard', target: 'guarded' },
        { target: 'record' },
      ],
    },
    releasing: {
      on: { ABORT: {} },
      invoke: { src: 'recordAborted', input: ({ context }) => ({ ctx: context }), onDone: 'aborted', onError: 'aborted' },
    },
    failing: {
      on: { ABORT: {} },
      invoke: {
        src: 'recordFailed',
        input: ({ context }) => ({ ctx: context }),
        onDone: { target: 'failed', actions: assign({ failStatus: ({ event }) => event.output }) },
        onError: 'failed',
      },
    },
    guarded: {
      on: { ABORT: {} },
      invoke: {
        src: 'recordGuarded',
        input: ({ context }) => ({ ctx: context }),
        onDone: { target: 'done', actions: assign({ guarded: ({ event }) => event.output }) },
        onError: { target: 'failing', actions: { type: 'keepError', params: { phase: 'record' } } },
      },
    },
    record: {
      on: { ABORT: {} }, // the measurement is complete: keep it
      invoke: {
        src: 'recordRun',
        input: ({ context }) => ({ ctx: context }),
        onDone: { target: 'done', actions: assign({ recorded: true }) },
        onError: { target: 'failing', actions: { type: 'keepError', params: { phase: 'record' } } },
      },
    },
    unbooked: { type: 'final' },
    done: { type: 'final' },
    failed: { type: 'final' },
    aborted: { type: 'final' },
  },
  output: ({ context }): RunOutcome => {
    const base = {
      runId: context.run.runId,
      hostId: context.agent.hostId,
      ...(context.peerAgent ? { peerHostId: context.peerAgent.hostId } : {}),
    };
    if (context.guarded) return { ...base, outcome: 'guarded', reason: context.guardReason!, retry: context.guarded === 'todo' };
    if (context.recorded) return { ...base, outcome: 'done' };
    if (context.aborted) return { ...base, outcome: 'aborted' };
    const e = context.error ?? { message: 'unknown failure', retryable: true, phase: 'unknown' };
    return {
      ...base,
      outcome: 'failed',
      error: e.message,
      retryable: e.retryable,
      phase: e.phase,
      ...(context.failStatus ? { status: context.failStatus } : {}),
    };
  },
});

/** Remember the first failure and the phase it happened in (later ones are consequences). */
export function phaseError(phase: string, err: unknown) {
  return { message: messageOf(err), retryable: isRetryable(err), phase };
}

/** The agent op a failure of run.execute names (the phase that failed); undefined when the request failed as a whole. */
function opOf(err: unknown): string | undefined {
  return (err as { op?: string } | null)?.op;
}

/** The run phase of an agent op: run.warmup -> warmup. */
function phaseOfOp(op: string | undefined): string {
  return op?.startsWith('run.') ? op.slice(4) : 'execute';
}
