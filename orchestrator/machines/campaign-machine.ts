// A campaign: provision hosts -> prepare them -> open the ledger -> run it -> analyse -> done | failed | aborted.
// Running the ledger leases each ready server host to one run machine at a time, and with it, for a network
// run of a campaign that has peer hosts, one free peer host that carries the run's traffic peers (a sysbench
// run needs none, and may go ahead of network runs waiting for a peer). A run that fails retryably, also
// because its peer host was lost, goes back to the queue (to any hosts) until its attempts are used up. Hosts
// come and go through HOST_READY / HOST_LOST events from the agent hub. The provisioning, preparation, ledger and analysis steps are named actors that the
// driver provides (`.provide()`), so tests run this machine with fake agents and a simulated clock.
import { assign, createActor, enqueueActions, fromPromise, setup, type ActorRefFrom, type DoneActorEvent } from 'xstate';
import type { RunSpec } from '../../agents/run-spec.ts';
import type { RunResult } from '../../agents/backend.ts';
import type { AgentClient } from '../hub/agent-connection.ts';
import { runMachine, type Awaitable, type RunInput, type RunOutcome } from './run-machine.ts';
import { UserInputError, messageOf } from '../../workloads/common/errors.ts';
import { LeasePlanner } from './lease-planner.ts';

/**
 * What the campaign needs from the ledger (the store implements it). Each op may answer later (a store on a
 * server): the run machine that leased the run awaits it, so a run starts only once its attempt is booked.
 */
export interface LedgerOps {
  startRun(runId: string, hostId: string): Awaitable<number>;
  completeRun(result: RunResult, hostId: string): Awaitable<void>;
  /** Returns the run's new status: back to 'todo' (retry) or 'failed' (attempts used up or fatal). */
  failRun(runId: string, error: string, retryable: boolean): Awaitable<'todo' | 'failed'>;
  releaseRun(runId: string): Awaitable<void>;
  /**
   * A run out of guard (its conditions would bias the penalty): 'todo' = marked and queued again (attempts
   * left), 'done' = kept with the reason (attempts used up: the condition is systematic; counted and marked).
   */
  guardRun?(result: RunResult, hostId: string, reason: string): Awaitable<'todo' | 'done'>;
}

export interface CampaignInput {
  campaignId: string;
  /** Hosts a run may be leased to (role `server`). */
  serverHosts: string[];
  /** Hosts that carry the traffic peers of network runs (role `peer`, not `server`); none = peers on the server. */
  peerHosts?: string[];
  /** A host's IPv4 address on the traffic network, when its agent reported one (cross-host addressing). */
  addressOf?: (hostId: string) => string | undefined;
  /** A host's container address block on the traffic network (CIDR), when its agent reported one. */
  containerBlockOf?: (hostId: string) => string | undefined;
  agentFor: (hostId: string) => AgentClient | undefined;
  ledger: LedgerOps;
  /** How long to wait with work queued and no host ready before giving up. */
  hostWaitMs: number;
  slackMs?: number;
  /** Blocked designs: the block of a run; every run of a block goes to the server host that took its first run. */
  blockOf?: (run: RunSpec) => string | undefined;
  /** Why a collected run is out of guard (empty = in guard); absent = no guards. */
  guardCheck?: (result: RunResult, run: RunSpec) => string[];
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
  /** Attempts found out of guard (repeated or, on the last attempt, kept with the reason). */
  guarded: number;
}

interface Ctx extends CampaignInput {
  /** The queue, the hosts that are ready and the hosts in use: changed in place (see lease-planner.ts). */
  planner: LeasePlanner;
  /** Every run still to do or in flight, by id (a retried run goes back to the queue from here). */
  specs: Map<string, RunSpec>;
  /** The planner's hosts in use, hostId -> runId (server and peer hosts alike). */
  busy: Record<string, string>;
  counts: CampaignCounts;
  failures: { runId: string; error: string }[];
  error: string | null;
  /** 'input' when the error is the user's to fix (exit code 2), else 'internal'. */
  errorKind: 'input' | 'internal' | null;
  summary: unknown;
  /** Run machines spawned so far (their actor ids are run:<runId>:<n>). */
  launched: number;
  /** The run machines in flight, by actor id (changed in place, see `dispatch`). */
  runs: Map<string, ActorRefFrom<typeof runMachine>>;
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
  },
  delays: {
    hostWait: ({ context }) => context.hostWaitMs,
  },
  guards: {
    finished: ({ context }) => context.planner.queued === 0 && context.planner.inFlight === 0,
    starved: ({ context }) => context.planner.queued > 0 && context.planner.inFlight === 0 && !context.planner.canLease(),
    idle: ({ context }) => context.planner.inFlight === 0,
  },
  actions: {
    keepError: assign(({ event }) => {
      const err = (event as { error?: unknown }).error;
      return { error: messageOf(err), errorKind: err instanceof UserInputError ? ('input' as const) : ('internal' as const) };
    }),
    /** Lease every free ready server host (and a free peer host, for a network run) to the next run that fits. */
    dispatch: enqueueActions(({ context, enqueue, self }) => {
      const leases = context.planner.lease();
      if (leases.length === 0) return;
      let launched = context.launched;
      const ledger = context.ledger;
      for (const { run, server, peer } of leases) {
        const id = `run:${run.runId}:${++launched}`;
        const input: RunInput = {
          run: peer ? withPeerHost(run, server, peer, context.addressOf, context.containerBlockOf) : run,
          agent: context.agentFor(server)!,
          peerAgent: peer ? context.agentFor(peer) : undefined,
          slackMs: context.slackMs,
          guardCheck: context.guardCheck,
          // the run machine books its own start and outcome, awaiting each
          recorder: {
            start: () => ledger.startRun(run.runId, server),
            complete: (result: RunResult, host: string) => ledger.completeRun(result, host),
            fail: (error: string, retryable: boolean) => ledger.failRun(run.runId, error, retryable),
            release: () => ledger.releaseRun(run.runId),
            ...(ledger.guardRun ? { guard: ledger.guardRun.bind(ledger) } : {}),
          },
        };
        // A run machine with this machine as its parent (its done event arrives here as a child's would), but
        // not spawned into the snapshot's children: xstate copies that record on every spawn and stop, which
        // with a run per host in flight was the campaign machine's largest cost per run. Created here, started
        // by the action: created inside a custom action, xstate's own initial assign warns on every run.
        const actor = createActor(runMachine, { id, parent: self, input });
        context.runs.set(id, actor);
        enqueue(() => actor.start());
      }
      enqueue.assign({ launched });
    }),
    /** A run machine finished: book its outcome in the ledger and free its host. */
    settleRun: enqueueActions(({ context, event, enqueue }) => {
      const done = event as DoneActorEvent<RunOutcome> & { actorId: string };
      const out = done.output;
      const counts = { ...context.counts };
      const planner = context.planner;
      let failures = context.failures;
      if (out.outcome === 'done') counts.done++;
      else if (out.outcome === 'guarded') {
        counts.guarded++;
        if (out.retry) {
          counts.retried++;
          // first in line: a block's repeated run runs before the block's host moves on
          const spec = findSpec(context, done.actorId);
          if (spec) planner.requeue(spec, true);
        } else counts.done++;
      } else if (out.outcome === 'aborted') {
        // released by the run machine
      } else {
        if (out.status === 'todo') {
          counts.retried++;
          const spec = findSpec(context, done.actorId);
          if (spec) planner.requeue(spec, false);
        } else {
          counts.failed++;
          failures = [...failures, { runId: out.runId, error: `${out.phase}: ${out.error}` }];
        }
      }
      // free the run's server host and its peer host
      planner.release(out.runId);
      if (out.outcome === 'done' || (out.outcome === 'guarded' && !out.retry) || (out.outcome === 'failed' && out.status !== 'todo'))
        context.specs.delete(out.runId);
      context.runs.delete(done.actorId);
      enqueue.assign({ counts, failures });
    }),
    hostReady: ({ context, event }) => context.planner.hostReady((event as { hostId: string }).hostId),
    hostLost: ({ context, event }) => context.planner.hostLost((event as { hostId: string }).hostId),
    abortRuns: ({ context }) => {
      for (const run of context.runs.values()) run.send({ type: 'ABORT' });
    },
  },
}).createMachine({
  id: 'campaign',
  context: ({ input }) => {
    const planner = new LeasePlanner({
      serverHosts: input.serverHosts,
      peerHosts: input.peerHosts,
      isConnected: (h) => input.agentFor(h) !== undefined,
      blockOf: input.blockOf,
    });
    return {
      ...input,
      planner,
      specs: new Map(),
      busy: planner.busy,
      counts: { total: 0, done: 0, failed: 0, retried: 0, guarded: 0 },
      failures: [],
      error: null,
      errorKind: null,
      summary: null,
      launched: 0,
      runs: new Map(),
    };
  },
  initial: 'provisioning',
  on: {
    HOST_READY: { actions: 'hostReady' },
    HOST_LOST: { actions: 'hostLost' },
  },
  states: {
    provisioning: {
      invoke: {
        src: 'provisionHosts',
        input: ({ context }) => ({ campaignId: context.campaignId }),
        onDone: { target: 'preparing', actions: ({ context, event }) => event.output.forEach((h) => context.planner.hostReady(h)) },
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
            specs: ({ context, event }) => queueRuns(context, event.output.todo),
            counts: ({ event }) => ({
              total: event.output.total,
              done: event.output.done,
              failed: event.output.failed,
              retried: 0,
              guarded: 0,
            }),
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
        HOST_READY: { actions: ['hostReady', 'dispatch'], target: '.check' },
        // a lost host may free its block for another host
        HOST_LOST: { actions: ['hostLost', 'dispatch'], target: '.check' },
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
              actions: assign({
                error: ({ context }) =>
                  `no host was ready for ${Math.round(context.hostWaitMs / 1000)} s with ${context.planner.queued} run(s) left`,
              }),
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
              specs: ({ context, event }) => queueRuns(context, event.output),
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

/** A new queue for the planner; returns the runs by id. */
function queueRuns(context: Ctx, runs: RunSpec[]): Map<string, RunSpec> {
  context.planner.replaceQueue(runs);
  return new Map(runs.map((r) => [r.runId, r]));
}

/** The run as its two hosts see it: the peers on `peer`, and both hosts' traffic addresses (when known). */
function withPeerHost(
  run: RunSpec,
  server: string,
  peer: string,
  addressOf?: (hostId: string) => string | undefined,
  blockOf?: (hostId: string) => string | undefined,
): RunSpec {
  const address = addressOf?.(peer);
  const serverAddress = addressOf?.(server);
  const [block, serverBlock] = [blockOf?.(peer), blockOf?.(server)];
  return {
    ...run,
    peer: {
      ...run.peer,
      hostId: peer,
      ...(address ? { address } : {}),
      ...(serverAddress ? { serverAddress } : {}),
      ...(block ? { block } : {}),
      ...(serverBlock ? { serverBlock } : {}),
    },
  };
}

function findSpec(context: Ctx, actorId: string): RunSpec | undefined {
  // actor ids are run:<runId>:<attempt>
  return context.specs.get(actorId.slice(4, actorId.lastIndexOf(':')));
}
