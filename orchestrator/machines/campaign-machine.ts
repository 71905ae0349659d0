// A campaign: provision hosts -> prepare them -> open the ledger -> run it -> analyse -> done | failed | aborted.
// Running the ledger leases each ready host to one run machine at a time; a run that fails retryably goes back
// to the queue (to any host) until its attempts are used up. Hosts come and go through HOST_READY / HOST_LOST
// events from the agent hub. The provisioning, preparation, ledger and analysis steps are named actors that the
// driver provides (`.provide()`), so tests run this machine with fake agents and a simulated clock.
import { assign, enqueueActions, fromPromise, setup, stopChild, type DoneActorEvent } from 'xstate';
import type { RunSpec } from '../../agents/run-spec.ts';
import type { RunResult } from '../../agents/backend.ts';
import type { AgentClient } from '../hub/agent-connection.ts';
import { runMachine, type RunOutcome } from './run-machine.ts';
import { UserInputError, messageOf } from '../errors.ts';

/** What the campaign needs from the ledger (the store implements it). */
export interface LedgerOps {
  startRun(runId: string, hostId: string): number;
  completeRun(result: RunResult, hostId: string): void;
  /** Returns the run's new status: back to 'todo' (retry) or 'failed' (attempts used up or fatal). */
  failRun(runId: string, error: string, retryable: boolean): 'todo' | 'failed';
  releaseRun(runId: string): void;
}

export interface CampaignInput {
  campaignId: string;
  /** Hosts a run may be leased to (role `server`). */
  serverHosts: string[];
  agentFor: (hostId: string) => AgentClient | undefined;
  ledger: LedgerOps;
  /** How long to wait with work queued and no host ready before giving up. */
  hostWaitMs: number;
  slackMs?: number;
}

export interface LedgerOpened {
  todo: RunSpec[];
  total: number;
  done: number;
  failed: number;
}

export interface CampaignCounts {
  total: number;
  done: number;
  failed: number;
  retried: number;
}

interface Ctx extends CampaignInput {
  queue: RunSpec[];
  /** Every run still to do or in flight, by id (a retried run goes back to the queue from here). */
  specs: Map<string, RunSpec>;
  ready: string[];
  busy: Record<string, string>; // hostId -> runId
  counts: CampaignCounts;
  failures: { runId: string; error: string }[];
  error: string | null;
  /** 'input' when the error is the user's to fix (exit code 2), else 'internal'. */
  errorKind: 'input' | 'internal' | null;
  summary: unknown;
}

type Events =
  | { type: 'HOST_READY'; hostId: string }
  | { type: 'HOST_LOST'; hostId: string; reason: string }
  | { type: 'ABORT' }
  | (DoneActorEvent<RunOutcome> & { actorId: string });

/** A step the driver must provide with `.provide()`; running without it is a programming error. */
function required<Output>(name: string) {
  return fromPromise<Output, { campaignId: string }>(async () => {
    throw new Error(`campaign actor '${name}' was not provided`);
  });
}

export const campaignMachine = setup({
  types: { context: {} as Ctx, input: {} as CampaignInput, events: {} as Events },
  actors: {
    /** Start or reach the hosts' agents; resolves with the hosts that are ready. */
    provisionHosts: required<string[]>('provisionHosts'),
    /** Facts and capabilities of every host; refuses enforcement a host cannot run. */
    prepareHosts: required<void>('prepareHosts'),
    /** Create the ledger (new campaign) or reopen it (resume). */
    openLedger: required<LedgerOpened>('openLedger'),
    analyse: required<unknown>('analyse'),
    /** Adaptive repetitions: runs to add once the ledger is done (none = go on to the analysis). */
    extendLedger: fromPromise<RunSpec[], { campaignId: string }>(async () => []),
    runMachine,
  },
  delays: {
    hostWait: ({ context }) => context.hostWaitMs,
  },
  guards: {
    finished: ({ context }) => context.queue.length === 0 && Object.keys(context.busy).length === 0,
    starved: ({ context }) =>
      context.queue.length > 0 && Object.keys(context.busy).length === 0 && !context.ready.some((h) => context.agentFor(h)),
    idle: ({ context }) => Object.keys(context.busy).length === 0,
  },
  actions: {
    keepError: assign(({ event }) => {
      const err = (event as { error?: unknown }).error;
      return { error: messageOf(err), errorKind: err instanceof UserInputError ? ('input' as const) : ('internal' as const) };
    }),
    /** Lease every free ready host to the next queued run. */
    dispatch: enqueueActions(({ context, enqueue }) => {
      const queue = [...context.queue];
      const busy = { ...context.busy };
      for (const hostId of context.ready) {
        if (queue.length === 0) break;
        if (busy[hostId] || !context.serverHosts.includes(hostId)) continue;
        const agent = context.agentFor(hostId);
        if (!agent) continue;
        const run = queue.shift()!;
        const attempt = context.ledger.startRun(run.runId, hostId);
        busy[hostId] = run.runId;
        enqueue.spawnChild('runMachine', {
          id: `run:${run.runId}:${attempt}`,
          input: {
            run,
            agent,
            attempt,
            slackMs: context.slackMs,
            recorder: { complete: (result: RunResult, host: string) => context.ledger.completeRun(result, host) },
          },
        });
      }
      enqueue.assign({ queue, busy });
    }),
    /** A run machine finished: book its outcome in the ledger and free its host. */
    settleRun: enqueueActions(({ context, event, enqueue }) => {
      const done = event as DoneActorEvent<RunOutcome> & { actorId: string };
      const out = done.output;
      const counts = { ...context.counts };
      const queue = [...context.queue];
      const failures = [...context.failures];
      if (out.outcome === 'done') counts.done++;
      else if (out.outcome === 'aborted') context.ledger.releaseRun(out.runId);
      else {
        const status = context.ledger.failRun(out.runId, `${out.phase}: ${out.error}`, out.retryable);
        if (status === 'todo') {
          counts.retried++;
          const spec = findSpec(context, done.actorId);
          if (spec) queue.push(spec);
        } else {
          counts.failed++;
          failures.push({ runId: out.runId, error: `${out.phase}: ${out.error}` });
        }
      }
      const busy = { ...context.busy };
      delete busy[out.hostId];
      enqueue(stopChild(done.actorId));
      enqueue.assign({ counts, queue, busy, failures });
    }),
    abortRuns: enqueueActions(({ enqueue, self }) => {
      for (const id of Object.keys(self.getSnapshot().children)) if (id.startsWith('run:')) enqueue.sendTo(id, { type: 'ABORT' });
    }),
  },
}).createMachine({
  id: 'campaign',
  context: ({ input }) => ({
    ...input,
    queue: [],
    specs: new Map(),
    ready: [],
    busy: {},
    counts: { total: 0, done: 0, failed: 0, retried: 0 },
    failures: [],
    error: null,
    errorKind: null,
    summary: null,
  }),
  initial: 'provisioning',
  on: {
    HOST_READY: { actions: assign({ ready: ({ context, event }) => [...new Set([...context.ready, event.hostId])] }) },
    HOST_LOST: { actions: assign({ ready: ({ context, event }) => context.ready.filter((h) => h !== event.hostId) }) },
  },
  states: {
    provisioning: {
      invoke: {
        src: 'provisionHosts',
        input: ({ context }) => ({ campaignId: context.campaignId }),
        onDone: { target: 'preparing', actions: assign({ ready: ({ context, event }) => [...new Set([...context.ready, ...event.output])] }) },
        onError: { target: 'failed', actions: 'keepError' },
      },
      on: { ABORT: 'aborted' },
    },
    preparing: {
      invoke: {
        src: 'prepareHosts',
        input: ({ context }) => ({ campaignId: context.campaignId }),
        onDone: 'openingLedger',
        onError: { target: 'failed', actions: 'keepError' },
      },
      on: { ABORT: 'aborted' },
    },
    openingLedger: {
      invoke: {
        src: 'openLedger',
        input: ({ context }) => ({ campaignId: context.campaignId }),
        onDone: {
          target: 'running',
          actions: assign({
            queue: ({ event }) => event.output.todo,
            specs: ({ event }) => new Map(event.output.todo.map((r) => [r.runId, r])),
            counts: ({ event }) => ({ total: event.output.total, done: event.output.done, failed: event.output.failed, retried: 0 }),
          }),
        },
        onError: { target: 'failed', actions: 'keepError' },
      },
      on: { ABORT: 'aborted' },
    },
    running: {
      entry: 'dispatch',
      always: { guard: 'finished', target: 'extending' },
      on: {
        'xstate.done.actor.*': { actions: ['settleRun', 'dispatch'], target: '.check' },
        HOST_READY: { actions: [assign({ ready: ({ context, event }) => [...new Set([...context.ready, event.hostId])] }), 'dispatch'], target: '.check' },
        HOST_LOST: { actions: assign({ ready: ({ context, event }) => context.ready.filter((h) => h !== event.hostId) }), target: '.check' },
        ABORT: 'aborting',
      },
      initial: 'check',
      states: {
        check: { always: [{ guard: 'starved', target: 'starved' }, { target: 'working' }] },
        working: {},
        starved: {
          after: {
            hostWait: {
              target: '#campaign.failed',
              actions: assign({ error: ({ context }) => `no host was ready for ${Math.round(context.hostWaitMs / 1000)} s with ${context.queue.length} run(s) left` }),
            },
          },
        },
      },
    },
    extending: {
      invoke: {
        src: 'extendLedger',
        input: ({ context }) => ({ campaignId: context.campaignId }),
        onDone: [
          {
            guard: ({ event }) => event.output.length > 0,
            target: 'running',
            actions: assign({
              queue: ({ event }) => event.output,
              specs: ({ event }) => new Map(event.output.map((r) => [r.runId, r])),
              counts: ({ context, event }) => ({ ...context.counts, total: context.counts.total + event.output.length }),
            }),
          },
          { target: 'analysing' },
        ],
        onError: { target: 'failed', actions: 'keepError' },
      },
      on: { ABORT: 'aborted' },
    },
    aborting: {
      entry: 'abortRuns',
      always: { guard: 'idle', target: 'aborted' },
      on: { 'xstate.done.actor.*': { actions: 'settleRun' } },
    },
    analysing: {
      invoke: {
        src: 'analyse',
        input: ({ context }) => ({ campaignId: context.campaignId }),
        onDone: { target: 'done', actions: assign({ summary: ({ event }) => event.output }) },
        onError: { target: 'failed', actions: 'keepError' },
      },
    },
    done: { type: 'final' },
    failed: { type: 'final' },
    aborted: { type: 'final' },
  },
});

function findSpec(context: Ctx, actorId: string): RunSpec | undefined {
  // actor ids are run:<runId>:<attempt>
  return context.specs.get(actorId.slice(4, actorId.lastIndexOf(':')));
}
