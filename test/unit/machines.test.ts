// The run and campaign machines with fake agents (the real dispatcher over a fake backend) and, where time
// matters, XState's simulated clock.
import { describe, expect, it } from 'vitest';
import { SimulatedClock, createActor, fromPromise, waitFor } from 'xstate';
import { runMachine } from '../../orchestrator/machines/run-machine.ts';
import { campaignMachine, type LedgerOps } from '../../orchestrator/machines/campaign-machine.ts';
import { agentSessionMachine } from '../../orchestrator/machines/agent-session.ts';
import type { RunResult } from '../../agents/backend.ts';
import { FakeBackend, testRun } from '../fakes/fake-backend.ts';
import { FakeAgent } from '../fakes/fake-agent.ts';

function recorder() {
  const results: RunResult[] = [];
  return { results, complete: (r: RunResult) => void results.push(r) };
}

describe('run machine', () => {
  it('goes setup -> warmup -> measure -> collect -> teardown -> record', async () => {
    const backend = new FakeBackend();
    const rec = recorder();
    const actor = createActor(runMachine, { input: { run: testRun(), agent: new FakeAgent('h1', backend), attempt: 1, recorder: rec } }).start();
    const snap = await waitFor(actor, (s) => s.status === 'done');
    expect(snap.output).toEqual({ runId: 'r1', hostId: 'h1', outcome: 'done' });
    expect(backend.calls).toEqual(['setup r1', 'warmup r1', 'measure r1', 'collect r1', 'teardown r1']);
    expect(rec.results).toHaveLength(1);
  });

  it('reaches teardown from a failure in any phase, records nothing, and says whether to retry', async () => {
    for (const phase of ['setup', 'warmup', 'measure']) {
      const backend = new FakeBackend();
      backend.failIn = { phase, retryable: phase !== 'setup' };
      const rec = recorder();
      const actor = createActor(runMachine, { input: { run: testRun(), agent: new FakeAgent('h1', backend), attempt: 1, recorder: rec } }).start();
      const snap = await waitFor(actor, (s) => s.status === 'done');
      expect(snap.output).toMatchObject({ outcome: 'failed', phase, retryable: phase !== 'setup' });
      expect(backend.calls.at(-1)).toBe('teardown r1');
      expect(rec.results).toHaveLength(0);
    }
  });

  it('tears down on ABORT and reports the run aborted', async () => {
    const backend = new FakeBackend();
    backend.phaseMs = 10_000;
    const actor = createActor(runMachine, { input: { run: testRun(), agent: new FakeAgent('h1', backend), attempt: 1, recorder: recorder() } }).start();
    await waitFor(actor, (s) => s.matches('warmup'));
    actor.send({ type: 'ABORT' });
    const snap = await waitFor(actor, (s) => s.status === 'done');
    expect(snap.output?.outcome).toBe('aborted');
    expect(backend.calls.at(-1)).toBe('teardown r1');
  });

  it('phases are named actors that tests can replace', async () => {
    const machine = runMachine.provide({ actors: { measureRun: fromPromise<void, any>(async () => { throw new Error('replaced'); }) } });
    const actor = createActor(machine, { input: { run: testRun(), agent: new FakeAgent('h1', new FakeBackend()), attempt: 1, recorder: recorder() } }).start();
    const snap = await waitFor(actor, (s) => s.status === 'done');
    expect(snap.output).toMatchObject({ outcome: 'failed', phase: 'measure', error: 'replaced' });
  });
});

/** A ledger in memory with the store's semantics. */
function memoryLedger(maxAttempts = 3) {
  const attempts = new Map<string, number>();
  const status = new Map<string, string>();
  const done: string[] = [];
  const ops: LedgerOps = {
    startRun: (runId) => {
      attempts.set(runId, (attempts.get(runId) ?? 0) + 1);
      status.set(runId, 'running');
      return attempts.get(runId)!;
    },
    completeRun: (r) => {
      done.push(r.runId);
      status.set(r.runId, 'done');
    },
    failRun: (runId, _e, retryable) => {
      const s = retryable && (attempts.get(runId) ?? 0) < maxAttempts ? 'todo' : 'failed';
      status.set(runId, s);
      return s;
    },
    releaseRun: (runId) => void status.set(runId, 'todo'),
  };
  return { ops, attempts, status, done };
}

function campaignWith(agents: FakeAgent[], runs = [0, 1, 2, 3, 4, 5].map((i) => testRun({ runId: `r${i}`, repetition: i })), hostWaitMs = 30_000) {
  const ledger = memoryLedger();
  const byId = new Map(agents.map((a) => [a.hostId, a]));
  const machine = campaignMachine.provide({
    actors: {
      provisionHosts: fromPromise(async () => agents.map((a) => a.hostId)),
      prepareHosts: fromPromise(async () => {}),
      openLedger: fromPromise(async () => ({ todo: runs, total: runs.length, done: 0, failed: 0 })),
      analyse: fromPromise<unknown, { campaignId: string }>(async () => ({ analysed: true })),
    },
  });
  return { machine, ledger, input: { campaignId: 'c1', serverHosts: agents.map((a) => a.hostId), agentFor: (h: string) => (byId.get(h)?.lost ? undefined : byId.get(h)), ledger: ledger.ops, hostWaitMs } };
}

describe('campaign machine', () => {
  it('runs the whole ledger across hosts and analyses', async () => {
    const agents = [new FakeAgent('h1', new FakeBackend('h1')), new FakeAgent('h2', new FakeBackend('h2'))];
    const { machine, ledger, input } = campaignWith(agents);
    const actor = createActor(machine, { input }).start();
    const snap = await waitFor(actor, (s) => s.status === 'done');
    expect(snap.value).toBe('done');
    expect(snap.context.counts).toMatchObject({ total: 6, done: 6, failed: 0 });
    expect(ledger.done.sort()).toEqual(['r0', 'r1', 'r2', 'r3', 'r4', 'r5']);
    expect(snap.context.summary).toEqual({ analysed: true });
    // both hosts took work
    expect((agents[0].impl as FakeBackend).calls.some((c) => c.startsWith('setup'))).toBe(true);
    expect((agents[1].impl as FakeBackend).calls.some((c) => c.startsWith('setup'))).toBe(true);
  });

  it('retries a retryable failure up to maxAttempts, then books it failed and goes on', async () => {
    const backend = new FakeBackend('h1');
    backend.failIn = { phase: 'measure', retryable: true, always: true };
    const { machine, ledger, input } = campaignWith([new FakeAgent('h1', backend)], [testRun({ runId: 'bad' })]);
    const snap = await waitFor(createActor(machine, { input }).start(), (s) => s.status === 'done');
    expect(ledger.attempts.get('bad')).toBe(3);
    expect(snap.context.counts).toMatchObject({ done: 0, failed: 1, retried: 2 });
    expect(snap.context.failures[0].error).toMatch(/measure: .*injected measure failure/);
    expect(snap.value).toBe('done');
  });

  it('gives up with a clear error when no host is ready for the wait period (simulated clock)', async () => {
    const clock = new SimulatedClock();
    const agent = new FakeAgent('h1', new FakeBackend('h1'));
    agent.lost = true;
    const { machine, input } = campaignWith([agent], undefined, 60_000);
    const actor = createActor(machine, { input, clock }).start();
    actor.send({ type: 'HOST_LOST', hostId: 'h1', reason: 'killed' });
    await waitFor(actor, (s) => s.matches({ running: 'starved' }));
    clock.increment(59_000);
    expect(actor.getSnapshot().matches({ running: 'starved' })).toBe(true);
    clock.increment(2_000);
    const snap = await waitFor(actor, (s) => s.status === 'done');
    expect(snap.value).toBe('failed');
    expect(snap.context.error).toMatch(/no host was ready for 60 s with 6 run\(s\) left/);
  });

  it('aborts: runs in flight are torn down and released, nothing else starts', async () => {
    const backend = new FakeBackend('h1');
    backend.phaseMs = 10_000;
    const { machine, ledger, input } = campaignWith([new FakeAgent('h1', backend)]);
    const actor = createActor(machine, { input }).start();
    while (!backend.calls.includes('warmup r0')) await new Promise((r) => setTimeout(r, 5));
    actor.send({ type: 'ABORT' });
    const snap = await waitFor(actor, (s) => s.status === 'done');
    expect(snap.value).toBe('aborted');
    expect(backend.calls).toContain('teardown r0');
    expect(ledger.status.get('r0')).toBe('todo');
    expect(backend.calls.filter((c) => c.startsWith('setup'))).toHaveLength(1);
  });
});

describe('agent session machine', () => {
  function session(clock: SimulatedClock) {
    const log: string[] = [];
    const machine = agentSessionMachine.provide({
      actions: {
        sendChallenge: () => void log.push('challenge'),
        sendPing: () => void log.push('ping'),
        refuse: (_, p) => void log.push(`refuse ${p.code} ${p.reason}`),
        terminate: () => void log.push('terminate'),
        announceReady: (_, p) => void log.push(`ready ${p.hostId}`),
        announceLost: (_, p) => void log.push(`lost ${p.hostId}: ${p.reason}`),
      },
    });
    const actor = createActor(machine, { input: { helloTimeoutMs: 5000, heartbeatMs: 2000, maxMissedBeats: 3 }, clock }).start();
    return { actor, log };
  }

  it('closes a connection that does not say hello in time', () => {
    const clock = new SimulatedClock();
    const { actor, log } = session(clock);
    clock.increment(5001);
    expect(actor.getSnapshot().value).toBe('closed');
    expect(log).toContain('refuse 4401 no hello within the time allowed');
  });

  it('declares an agent that stops answering pings lost within 10 s, and not before 3 missed beats', () => {
    const clock = new SimulatedClock();
    const { actor, log } = session(clock);
    actor.send({ type: 'AUTHENTICATED', hostId: 'h1' });
    for (let i = 0; i < 3; i++) {
      clock.increment(2000);
      actor.send({ type: 'PONG' });
    }
    expect(actor.getSnapshot().value).toEqual({ ready: 'beating' });
    for (let i = 0; i < 3; i++) clock.increment(2000);
    expect(actor.getSnapshot().value).toEqual({ ready: 'beating' });
    clock.increment(2000);
    expect(actor.getSnapshot().value).toBe('lost');
    expect(log.at(-1)).toBe('lost h1: 3 heartbeats missed');
  });

  it('declares the agent lost at once when its socket closes', () => {
    const clock = new SimulatedClock();
    const { actor, log } = session(clock);
    actor.send({ type: 'AUTHENTICATED', hostId: 'h1' });
    actor.send({ type: 'SOCKET_CLOSED', code: 1006, reason: '' });
    expect(actor.getSnapshot().value).toBe('lost');
    expect(log.at(-1)).toBe('lost h1: connection closed (1006)');
  });
});
