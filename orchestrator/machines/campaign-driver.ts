// What the campaign machine does, against a hub and a store: its five actors (provision, prepare, open the
// ledger, extend it, analyse) and its ledger operations, with the facts the hosts reported in between. The
// command (`ironlab run`) composes it with the testbed that starts the agents; nothing here knows one.
import { fromPromise } from 'xstate';
import type { EnforcementSupport, HostFacts } from '../../agents/backend.ts';
import type { RunSpec } from '../../agents/run-spec.ts';
import { PrerequisiteError } from '../../workloads/common/errors.ts';
import { repetitionPlan } from '../analysis/adaptive.ts';
import { blockOf, expandExtraRepetitions } from '../campaign/matrix.ts';
import { isDedicatedPeer, isServer } from '../campaign/model.ts';
import { hashSpec, type CampaignSpec } from '../campaign/spec.ts';
import { guardViolations } from '../analysis/guards.ts';
import { campaignSummary } from '../commands/summary.ts';
import { startHeartbeat } from '../heartbeat.ts';
import type { AgentHub } from '../hub/hub.ts';
import { orchestratorProvenance } from '../provenance.ts';
import type { Store } from '../store/store.ts';
import { campaignMachine, type CampaignInput, type LedgerOpened } from './campaign-machine.ts';

export interface DriverOptions {
  campaignId: string;
  spec: CampaignSpec;
  store: Store;
  hub: AgentHub;
  /** The runs of a new campaign; null when resuming (the ledger has them). */
  plan: RunSpec[] | null;
  source: { path: string; text: string };
  /** Start the agents this command runs itself (local processes, Slurm job steps); the hub sees them dial in. */
  startAgents: () => void;
  /** How long the wait for hosts may go without one more host connecting. */
  hostStallMs: number;
  hostWaitMs?: number;
  /** Where the orchestrator's log is, for error messages. */
  logPath: string;
  say: (line: string) => void;
}

export type HostReport = { facts: HostFacts; capabilities: EnforcementSupport[] };

/** The campaign machine with its actors provided, and the input that binds it to this campaign's hub and store. */
export function campaignDriver(o: DriverOptions): {
  machine: typeof campaignMachine;
  input: CampaignInput;
  stop: () => void;
  end: () => Promise<void>;
} {
  const { campaignId, spec, store, hub, say } = o;
  const hostIds = spec.hosts.map((h) => h.id);
  const facts = new Map<string, HostReport>();
  let rounds = 0;
  let stopHeartbeat = () => {};
  const machine = campaignMachine.provide({
    actors: {
      provisionHosts: fromPromise(async () => {
        o.startAgents();
        return await waitForHosts(hub, hostIds, o.hostStallMs, o.logPath);
      }),
      prepareHosts: fromPromise(async () => {
        for (const hostId of hostIds) {
          const agent = hub.connection(hostId);
          if (!agent) throw new Error(`host ${hostId} went away while being prepared`);
          const f = await agent.request('facts', {}, { id: `${campaignId}/${hostId}/facts`, timeoutMs: 30_000 });
          const caps = await agent.request('capabilities', {}, { id: `${campaignId}/${hostId}/capabilities`, timeoutMs: 30_000 });
          facts.set(hostId, { facts: f, capabilities: caps });
        }
        checkEnforcement(spec, facts);
      }),
      openLedger: fromPromise(async (): Promise<LedgerOpened> => {
        if (o.plan) {
          // what the agents are, not what the file says: a testbed may serve a docker campaign with sim agents
          const mode = [...new Set(spec.hosts.map((h) => facts.get(h.id)?.facts.backend ?? h.backend))].join('+');
          await store.createCampaign(
            {
              id: campaignId,
              name: spec.name,
              mode,
              createdAt: new Date().toISOString(),
              spec,
              specHash: hashSpec(spec),
              sourcePath: o.source.path,
              sourceText: o.source.text,
              seed: spec.seed,
              provenance: orchestratorProvenance(),
            },
            o.plan,
          );
        } else {
          const reset = await store.resetInProgress(campaignId, true);
          if (reset) say(`resume: ${reset} run(s) left in progress or failed went back to todo`);
        }
        for (const { facts: f, capabilities } of facts.values()) await store.recordHost(campaignId, f, capabilities);
        stopHeartbeat = startHeartbeat(store, campaignId); // the dashboard tells a live campaign from a stale one
        const ledger = await store.ledger(campaignId);
        return {
          todo: ledger.filter((r) => r.status === 'todo').map((r) => r.spec),
          total: ledger.length,
          done: ledger.filter((r) => r.status === 'done').length,
          failed: ledger.filter((r) => r.status === 'failed').length,
        };
      }),
      extendLedger: fromPromise<RunSpec[], { campaignId: string }>(async () => {
        if (!spec.until) return [];
        const runs = await extraRepetitions(store, spec, campaignId, ++rounds);
        if (runs.length) say(`until ${JSON.stringify(spec.until)}: round ${rounds} adds ${runs.length} run(s)`);
        return runs;
      }),
      // what `ironlab run` prints and judges: the summaries, not every sample (CSV and HTML come from `report`)
      analyse: fromPromise<unknown, { campaignId: string }>(async () => campaignSummary(store, campaignId, { analysisSamples: true })),
    },
  });
  const input: CampaignInput = {
    campaignId,
    serverHosts: spec.hosts.filter(isServer).map((h) => h.id),
    peerHosts: spec.hosts.filter(isDedicatedPeer).map((h) => h.id),
    addressOf: (h) => {
      const a = facts.get(h)?.facts.extra.nicAddress;
      return typeof a === 'string' ? a : undefined;
    },
    containerBlockOf: (h) => {
      const b = facts.get(h)?.facts.extra.containerBlock;
      return typeof b === 'string' ? b : undefined;
    },
    agentFor: (h) => hub.connection(h),
    hostWaitMs: o.hostWaitMs ?? 60_000,
    ...(spec.design === 'blocked' ? { blockOf } : {}),
    guardCheck: (result, run) => guardViolations(result.samples, run, spec.guards),
    ledger: {
      startRun: (runId, hostId) => store.startRun(campaignId, runId, hostId),
      completeRun: async (result, hostId) =>
        void (await store.completeRun(campaignId, result.runId, result.samples, { ...result.provenance, hostId })),
      failRun: async (runId, error, retryable) => {
        say(`run ${runId} failed (${retryable ? 'retryable' : 'fatal'}): ${error}`);
        return (await store.failRun(campaignId, runId, error, retryable, spec.maxAttempts)) === 'todo' ? 'todo' : 'failed';
      },
      releaseRun: (runId) => store.releaseRun(campaignId, runId),
      guardRun: (result, hostId, reason) => {
        say(`run ${result.runId} out of guard: ${reason}`);
        // a simulated run repeated with its seed gives the same numbers: marked and kept at once
        const attempts = facts.get(hostId)?.facts.backend === 'sim' ? 1 : spec.maxAttempts;
        return store.guardRun(campaignId, result.runId, reason, attempts, result.samples, { ...result.provenance, hostId });
      },
    },
  };
  return { machine, input, stop: () => stopHeartbeat(), end: () => endCampaign(hub, campaignId, hostIds, say) };
}

/** Ends told in this process (with the time, a new op id each time). */
let campaignEnds = 0;

/**
 * Tells every connected host the campaign is over: `reap` with the campaign's id, so a host's campaign-lived
 * containers and networks go now, not after the pool's idle timeout (a testbed's agents outlive the run). A
 * host that does not answer within a few seconds is left to that timeout and its reaper; the run goes on.
 */
export async function endCampaign(
  hub: Pick<AgentHub, 'connection'>,
  campaignId: string,
  hostIds: string[],
  say: (line: string) => void,
): Promise<void> {
  await Promise.all(
    hostIds.map(async (hostId) => {
      const agent = hub.connection(hostId);
      if (!agent) return;
      try {
        // a resumed campaign ends again under the same id: the op id must be new each time (agents answer a known id from cache)
        const removed = await agent.request(
          'reap',
          { campaignId },
          { id: `${campaignId}/${hostId}/end-${Date.now()}-${++campaignEnds}`, timeoutMs: 15_000 },
        );
        if (removed.length) say(`campaign end: ${hostId} removed ${removed.length}: ${removed.join(', ')}`);
      } catch (err) {
        say(`campaign end: ${hostId} did not reap (${(err as Error).message}); its pool goes after its idle timeout`);
      }
    }),
  );
}

/**
 * Resolves when every host's agent is connected, on the hub's `ready` events; fails naming the hosts that are
 * not when none has connected for `stallMs` (agents of a large lab start a few at a time, each taking a second
 * or two of CPU: the wait is for progress, not for all of them at once).
 */
export function waitForHosts(hub: AgentHub, hostIds: string[], stallMs: number, logPath: string): Promise<string[]> {
  const missing = () => hostIds.filter((h) => !hub.connection(h));
  return new Promise((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const settle = () => {
      clearTimeout(timer);
      hub.off('ready', progress);
    };
    const progress = () => {
      if (missing().length === 0) return void (settle(), resolve(hostIds));
      clearTimeout(timer);
      timer = setTimeout(
        () => (settle(), reject(new Error(`no agent connected for ${missing().join(', ')} within ${stallMs / 1000} s (see ${logPath})`))),
        stallMs,
      );
    };
    hub.on('ready', progress);
    progress();
  });
}

/** Every server host must be able to run every enforcement mode the campaign asks for. */
function checkEnforcement(spec: CampaignSpec, hosts: Map<string, { capabilities: EnforcementSupport[] }>): void {
  for (const h of spec.hosts.filter(isServer)) {
    const caps = hosts.get(h.id)?.capabilities ?? [];
    for (const mode of spec.enforcement) {
      const c = caps.find((x) => x.mode === mode);
      const why = c?.reason ?? 'not supported by this agent';
      if (!c?.available)
        throw new PrerequisiteError(mode === 'none' ? `not ready: ${why}` : `cannot run enforcement '${mode}': ${why}`, `host ${h.id}`);
    }
  }
}

/**
 * Adaptive repetitions: the runs that bring every scenario's interval to the campaign's `until` target (or its
 * repetitions to the cap), appended to the ledger as todo. None when every scenario is there.
 */
async function extraRepetitions(store: Store, spec: CampaignSpec, campaignId: string, round: number): Promise<RunSpec[]> {
  const paired = spec.design === 'blocked';
  const plan = repetitionPlan((await campaignSummary(store, campaignId, { analysisSamples: true })).summaries, spec.until!, { paired });
  if (plan.length === 0) return [];
  const ledger = await store.ledger(campaignId);
  // blocked: new blocks after the last one (a control and its scenarios share a repetition number)
  const lastBlock = Math.max(-1, ...ledger.map((x) => x.spec.repetition));
  const requests = plan.map((r) => {
    const taken = ledger
      .filter((x) => x.spec.scenarioId === r.scenarioId && x.spec.enforcement === r.enforcement)
      .map((x) => x.spec.repetition);
    const next = paired ? lastBlock + 1 : Math.max(-1, ...taken) + 1;
    return { scenarioId: r.scenarioId, enforcement: r.enforcement, repetitions: Array.from({ length: r.extra }, (_, i) => next + i) };
  });
  const runs = expandExtraRepetitions(spec, campaignId, requests, ledger.length + 1, round);
  await store.appendRuns(campaignId, runs);
  return runs;
}
