// The run and campaign machines with fake agents (the real dispatcher over a fake backend) and, where time
// matters, XState's simulated clock.
import { describe, expect, it } from 'vitest';
import { SimulatedClock, createActor, fromPromise, waitFor } from 'xstate';
import { runMachine, type RunRecorder } from '../../orchestrator/machines/run-machine.ts';
import { campaignMachine, type LedgerOps } from '../../orchestrator/machines/campaign-machine.ts';
import { agentSessionMachine } from '../../orchestrator/hub/agent-session.ts';
import type { RunResult } from '../../agents/backend.ts';
import type { RunSpec } from '../../agents/run-spec.ts';
import { FakeBackend, testRun } from '../fakes/fake-backend.ts';
import { FakeAgent } from '../fakes/fake-agent.ts';

function recorder() {
  const results: RunResult[] = [];
  return { results, complete: (r: RunResult) => void results.push(r) };
}

/** A run whose backend fails in each phase in turn (phase by phase, or in one request): it is torn down, records
 *  nothing, and names the phase and whether to retry. */
async function failInEachPhase(agentFor: (backend: FakeBackend) => FakeAgent) {
  for (const phase of ['setup', 'warmup', 'measure']) {
    const backend = new FakeBackend();
    backend.failIn = { phase, retryable: phase !== 'setup' };
    const rec = recorder();
    const actor = createActor(runMachine, { input: { run: testRun(), agent: agentFor(backend), attempt: 1, recorder: rec } }).start();
    const snap = await waitFor(actor, (s) => s.status === 'done');
    expect(snap.output).toMatchObject({ outcome: 'failed', phase, retryable: phase !== 'setup' });
    expect(backend.calls.at(-1)).toBe('teardown r1');
    expect(rec.results).toHaveLength(0);
  }
}

describe('run machine', () => {
  it('goes setup -> warmup -> measure -> collect -> teardown -> record', async () => {
    const backend = new FakeBackend();
    const rec = recorder();
    const actor = createActor(runMachine, {
      input: { run: testRun(), agent: new FakeAgent('h1', backend), attempt: 1, recorder: rec },
    }).start();
    const snap = await waitFor(actor, (s) => s.status === 'done');
    expect(snap.output).toEqual({ runId: 'r1', hostId: 'h1', outcome: 'done' });
    expect(backend.calls).toEqual(['setup r1', 'warmup r1', 'measure r1', 'collect r1', 'teardown r1']);
    expect(rec.results).toHaveLength(1);
  });

  it('reaches teardown from a failure in any phase, records nothing, and says whether to retry', async () => {
    await failInEachPhase((backend) => new FakeAgent('h1', backend));
  });

  it('tears down on ABORT and reports the run aborted', async () => {
    const backend = new FakeBackend();
    backend.phaseMs = 10_000;
    const actor = createActor(runMachine, {
      input: { run: testRun(), agent: new FakeAgent('h1', backend), attempt: 1, recorder: recorder() },
    }).start();
    await waitFor(actor, (s) => s.matches('warmup'));
    actor.send({ type: 'ABORT' });
    const snap = await waitFor(actor, (s) => s.status === 'done');
    expect(snap.output?.outcome).toBe('aborted');
    expect(backend.calls.at(-1)).toBe('teardown r1');
  });

  it('phases are named actors that tests can replace', async () => {
    const machine = runMachine.provide({
      actors: {
        measureRun: fromPromise<void, any>(async () => {
          throw new Error('replaced');
        }),
      },
    });
    const actor = createActor(machine, {
      input: { run: testRun(), agent: new FakeAgent('h1', new FakeBackend()), attempt: 1, recorder: recorder() },
    }).start();
    const snap = await waitFor(actor, (s) => s.status === 'done');
    expect(snap.output).toMatchObject({ outcome: 'failed', phase: 'measure', error: 'replaced' });
  });
});

describe('run machine with an agent that takes a run in one request (a simulated host)', () => {
  /** A fake agent that says it takes run.execute, and the op ids it was sent. */
  function oneRequestAgent(backend: FakeBackend) {
    const ids: string[] = [];
    const agent = Object.assign(new FakeAgent('h1', backend), { runsInOneRequest: true });
    const request = agent.request.bind(agent);
    agent.request = (op, args, opts) => (ids.push(`${op} ${opts.id}`), request(op, args, opts));
    return { agent, ids };
  }

  it('sends the run as one run.execute (setup to teardown) and records the same result', async () => {
    const backend = new FakeBackend();
    const rec = recorder();
    const { agent, ids } = oneRequestAgent(backend);
    const snap = await waitFor(
      createActor(runMachine, { input: { run: testRun(), agent, attempt: 1, recorder: rec } }).start(),
      (s) => s.status === 'done',
    );
    expect(snap.output).toEqual({ runId: 'r1', hostId: 'h1', outcome: 'done' });
    expect(ids).toEqual(['run.execute c1/r1/a1/execute']);
    expect(backend.calls).toEqual(['setup r1', 'warmup r1', 'measure r1', 'collect r1', 'teardown r1']);
    expect(rec.results.map((r) => r.runId)).toEqual(['r1']);
  });

  it('names the phase that failed, tears down, and says whether to retry', async () => {
    await failInEachPhase((backend) => oneRequestAgent(backend).agent);
  });

  it('tears down on ABORT and reports the run aborted', async () => {
    const backend = new FakeBackend();
    backend.phaseMs = 10_000;
    const { agent, ids } = oneRequestAgent(backend);
    const actor = createActor(runMachine, { input: { run: testRun(), agent, attempt: 1, recorder: recorder() } }).start();
    await waitFor(actor, (s) => s.matches('executing'));
    actor.send({ type: 'ABORT' });
    const snap = await waitFor(actor, (s) => s.status === 'done');
    expect(snap.output?.outcome).toBe('aborted');
    expect(ids).toEqual(['run.execute c1/r1/a1/execute', 'run.teardown c1/r1/a1/teardown']);
    expect(backend.calls).toContain('teardown r1');
  });

  it('goes phase by phase when the run has a peer host', async () => {
    const backend = new FakeBackend();
    const { agent, ids } = oneRequestAgent(backend);
    const peerAgent = new FakeAgent('p1', new FakeBackend('p1'));
    const run = testRun({ workload: 'udp-receiver', scenarioId: 'udp-receiver', peer: { cpus: [1], hostId: 'p1' } });
    const snap = await waitFor(
      createActor(runMachine, { input: { run, agent, peerAgent, attempt: 1, recorder: recorder() } }).start(),
      (s) => s.status === 'done',
    );
    expect(snap.output).toMatchObject({ outcome: 'done' });
    expect(ids.map((i) => i.split(' ')[0])).toEqual(['run.setup', 'run.warmup', 'run.measure', 'run.collect', 'run.teardown']);
  });

  /** A ledger recorder whose bookings are written down and, when `hold` names one, wait to be let go. */
  function bookings(hold?: 'start' | 'complete') {
    const booked: string[] = [];
    let release: () => void = () => {};
    let reach: () => void = () => {};
    const held = new Promise<void>((r) => (release = r));
    const reached = new Promise<void>((r) => (reach = r));
    const wait = async (what: string) => {
      booked.push(what);
      if (hold === what) await (reach(), held);
    };
    const rec: RunRecorder = {
      start: async () => (await wait('start'), 7),
      complete: (r) => wait('complete').then(() => void booked.push(`done ${r.runId}`)),
      fail: async (error, retryable) => (booked.push(`fail ${error}`), retryable ? 'todo' : 'failed'),
      release: async () => void booked.push('release'),
    };
    return { booked, rec, reached, letGo: () => release() };
  }

  it('books the attempt before the request (its op id carries it) and the run done after, in one actor', async () => {
    const { agent, ids } = oneRequestAgent(new FakeBackend());
    const { booked, rec } = bookings();
    const snap = await waitFor(
      createActor(runMachine, { input: { run: testRun(), agent, recorder: rec } }).start(),
      (s) => s.status === 'done',
    );
    expect(snap.output).toEqual({ runId: 'r1', hostId: 'h1', outcome: 'done' });
    expect(ids).toEqual(['run.execute c1/r1/a7/execute']);
    expect(booked).toEqual(['start', 'complete', 'done r1']);
  });

  it('a failure in each booking: refused start sends nothing; a failed done mark books the measured run failed', async () => {
    const refused = oneRequestAgent(new FakeBackend());
    const start: RunRecorder = { start: () => Promise.reject(new Error('store gone')), complete: () => {}, fail: () => 'todo' };
    const unbooked = await waitFor(
      createActor(runMachine, { input: { run: testRun(), agent: refused.agent, recorder: start } }).start(),
      (s) => s.status === 'done',
    );
    expect(unbooked.output).toMatchObject({ outcome: 'failed', phase: 'start', error: 'store gone' });
    expect(refused.ids).toEqual([]);

    const { agent, ids } = oneRequestAgent(new FakeBackend());
    const { booked, rec } = bookings();
    rec.complete = () => Promise.reject(new Error('disk full'));
    const snap = await waitFor(
      createActor(runMachine, { input: { run: testRun(), agent, recorder: rec } }).start(),
      (s) => s.status === 'done',
    );
    expect(snap.output).toMatchObject({ outcome: 'failed', phase: 'record', error: 'disk full', status: 'failed' });
    expect(ids).toEqual(['run.execute c1/r1/a7/execute']); // the agent tore the run down itself
    expect(booked).toEqual(['start', 'fail record: disk full']);
  });

  /** Ctrl-C (ABORT) while `hold` is being booked: the run's outcome, the requests sent and the bookings. */
  async function abortWhileBooking(hold: 'start' | 'complete') {
    const { agent, ids } = oneRequestAgent(new FakeBackend());
    const { booked, rec, reached, letGo } = bookings(hold);
    const actor = createActor(runMachine, { input: { run: testRun(), agent, recorder: rec } }).start();
    await reached;
    actor.send({ type: 'ABORT' });
    letGo();
    const snap = await waitFor(actor, (s) => s.status === 'done');
    return { outcome: snap.output?.outcome, ids, booked };
  }

  it('Ctrl-C while booking: nothing is sent and the run is released once booked', async () => {
    expect(await abortWhileBooking('start')).toEqual({ outcome: 'aborted', ids: [], booked: ['start', 'release'] });
  });

  it('Ctrl-C while the done mark is written: the measured run is kept, once, and not released', async () => {
    expect(await abortWhileBooking('complete')).toEqual({
      outcome: 'done',
      ids: ['run.execute c1/r1/a7/execute'],
      booked: ['start', 'complete', 'done r1'],
    });
  });

  it('a run out of guard goes to the guard booking, not the done mark', async () => {
    const { agent } = oneRequestAgent(new FakeBackend());
    const { booked, rec } = bookings();
    rec.guard = async (r, _h, reason) => (booked.push(`guard ${r.runId} ${reason}`), 'todo' as const);
    const snap = await waitFor(
      createActor(runMachine, { input: { run: testRun(), agent, recorder: rec, guardCheck: () => ['too hot'] } }).start(),
      (s) => s.status === 'done',
    );
    expect(snap.output).toMatchObject({ outcome: 'guarded', reason: 'too hot', retry: true });
    expect(booked).toEqual(['start', 'guard r1 too hot']);
  });
});

describe('run machine with a peer host', () => {
  /** Server h1 and peer p1 sharing one journal; the requests' op ids as each agent saw them. */
  function pair() {
    const journal: string[] = [];
    const server = new FakeBackend('h1');
    const peer = new FakeBackend('p1');
    server.journal = peer.journal = journal;
    const ids: string[] = [];
    const agent = (a: FakeAgent): FakeAgent => {
      const request = a.request.bind(a);
      a.request = (op, args, opts) => (ids.push(`${a.hostId} ${opts.id}`), request(op, args, opts));
      return a;
    };
    const run = testRun({
      workload: 'udp-receiver',
      scenarioId: 'udp-receiver',
      peer: { cpus: [1], hostId: 'p1', address: '169.254.0.12', serverAddress: '169.254.0.11' },
    });
    return {
      journal,
      server,
      peer,
      ids,
      run,
      input: { run, agent: agent(new FakeAgent('h1', server)), peerAgent: agent(new FakeAgent('p1', peer)), attempt: 1 },
    };
  }

  it('sets up the server then the peer, drives both through every phase, and merges their samples', async () => {
    const { journal, ids, input } = pair();
    const rec = recorder();
    const snap = await waitFor(createActor(runMachine, { input: { ...input, recorder: rec } }).start(), (s) => s.status === 'done');
    expect(snap.output).toEqual({ runId: 'r1', hostId: 'h1', peerHostId: 'p1', outcome: 'done' });
    expect(journal.slice(0, 2)).toEqual(['h1 setup r1', 'p1 setup r1']);
    for (const phase of ['warmup', 'measure', 'collect', 'teardown']) {
      expect(journal).toContain(`h1 ${phase} r1`);
      expect(journal).toContain(`p1 ${phase} r1`);
    }
    // each phase on both before the next one starts anywhere
    const at = (call: string) => Math.max(journal.indexOf(`h1 ${call}`), journal.indexOf(`p1 ${call}`));
    expect(at('setup r1')).toBeLessThan(Math.min(journal.indexOf('h1 warmup r1'), journal.indexOf('p1 warmup r1')));
    expect(at('measure r1')).toBeLessThan(Math.min(journal.indexOf('h1 collect r1'), journal.indexOf('p1 collect r1')));
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toContain('p1 c1/r1/a1/peer-setup');
    expect(ids).toContain('h1 c1/r1/a1/setup');
    const [result] = rec.results;
    expect(result.samples.map((x) => `${x.metric} ${x.labels.container ?? ''}`)).toEqual([
      'victim_events_per_sec victim',
      'window_s ',
      'packets_sent peer-0',
    ]);
    expect(result.provenance).toMatchObject({ backend: 'fake', peerHostId: 'p1', 'peer.role': 'peer' });
  });

  it('tears down both hosts after a failure on either, and a lost peer fails the run retryably', async () => {
    for (const side of ['server', 'peer'] as const) {
      for (const phase of ['setup', 'warmup', 'measure']) {
        const { journal, server, peer, input } = pair();
        (side === 'server' ? server : peer).failIn = { phase, retryable: false };
        const snap = await waitFor(
          createActor(runMachine, { input: { ...input, recorder: recorder() } }).start(),
          (s) => s.status === 'done',
        );
        expect(snap.output, `${side} ${phase}`).toMatchObject({ outcome: 'failed', phase, retryable: false });
        expect(journal, `${side} ${phase}`).toEqual(expect.arrayContaining(['h1 teardown r1', 'p1 teardown r1']));
        if (side === 'server' && phase === 'setup') expect(journal).not.toContain('p1 setup r1');
      }
    }
    const { journal, input } = pair();
    (input.peerAgent as FakeAgent).lost = true;
    const snap = await waitFor(createActor(runMachine, { input: { ...input, recorder: recorder() } }).start(), (s) => s.status === 'done');
    expect(snap.output).toMatchObject({ outcome: 'failed', phase: 'setup', retryable: true, peerHostId: 'p1' });
    expect(journal).toContain('h1 teardown r1');
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

function campaignWith(
  agents: FakeAgent[],
  runs = [0, 1, 2, 3, 4, 5].map((i) => testRun({ runId: `r${i}`, repetition: i })),
  hostWaitMs = 30_000,
) {
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
  return {
    machine,
    ledger,
    input: {
      campaignId: 'c1',
      serverHosts: agents.map((a) => a.hostId),
      agentFor: (h: string) => (byId.get(h)?.lost ? undefined : byId.get(h)),
      ledger: ledger.ops,
      hostWaitMs,
    },
  };
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

describe('campaign machine: blocks and guards', () => {
  it('keeps every run of a block on the server host that took its first run', async () => {
    const agents = ['h1', 'h2'].map((h) => new FakeAgent(h, Object.assign(new FakeBackend(h), { phaseMs: 2 })));
    // three blocks of three runs each, queued block after block as the blocked design plans them
    const runs = [0, 1, 2].flatMap((b) => ['a', 'b', 'c'].map((x) => testRun({ runId: `${x}${b}`, repetition: b })));
    const { machine, input } = campaignWith(agents, runs);
    const snap = await waitFor(
      createActor(machine, { input: { ...input, blockOf: (r: RunSpec) => `block-${r.repetition}` } }).start(),
      (s) => s.status === 'done',
    );
    expect(snap.context.counts).toMatchObject({ done: 9, failed: 0 });
    const hostOf = new Map<string, string>();
    for (const a of agents) for (const c of (a.impl as FakeBackend).calls) if (c.startsWith('setup ')) hostOf.set(c.slice(6), a.hostId);
    for (const b of [0, 1, 2]) expect(new Set(['a', 'b', 'c'].map((x) => hostOf.get(`${x}${b}`))).size).toBe(1);
    // both hosts ran blocks: blocks run in parallel, each whole on one host
    expect(new Set(hostOf.values()).size).toBe(2);
  });

  it('repeats a run out of guard, first in line, up to maxAttempts, then keeps it with the reason', async () => {
    const backend = new FakeBackend('h1');
    const { machine, ledger, input } = campaignWith([new FakeAgent('h1', backend)], [testRun({ runId: 'g' }), testRun({ runId: 'ok' })]);
    const guarded: string[] = [];
    const guardRun = (r: RunResult, _h: string, reason: string) => {
      guarded.push(`${r.runId}: ${reason}`);
      return (ledger.attempts.get(r.runId) ?? 0) < 3 ? ('todo' as const) : ('done' as const);
    };
    const guardCheck = (_r: RunResult, run: RunSpec) => (run.runId === 'g' ? ['steal 12% on core 0'] : []);
    const snap = await waitFor(
      createActor(machine, { input: { ...input, guardCheck, ledger: { ...input.ledger, guardRun } } }).start(),
      (s) => s.status === 'done',
    );
    expect(guarded).toEqual(['g: steal 12% on core 0', 'g: steal 12% on core 0', 'g: steal 12% on core 0']);
    expect(snap.context.counts).toMatchObject({ total: 2, done: 2, failed: 0, retried: 2, guarded: 3 });
    // the repeated run went first in line, before the run queued after it
    expect(backend.calls.filter((c) => c.startsWith('setup'))).toEqual(['setup g', 'setup g', 'setup g', 'setup ok']);
    expect(ledger.done).toEqual(['ok']); // g was kept by guardRun, not recorded as a run in guard
  });
});

describe('campaign machine with peer hosts', () => {
  function lab(runs: ReturnType<typeof testRun>[]) {
    const journal: string[] = [];
    const backends = ['s1', 'p1'].map((h) => Object.assign(new FakeBackend(h), { journal }));
    const agents = backends.map((b) => new FakeAgent(b.hostId, b));
    const c = campaignWith(agents, runs);
    const addresses: Record<string, string> = { s1: '169.254.0.11', p1: '169.254.0.12' };
    const blocks: Record<string, string> = { s1: '169.254.8.0/24', p1: '169.254.9.64/26' };
    return {
      ...c,
      journal,
      backends,
      agents,
      input: {
        ...c.input,
        serverHosts: ['s1'],
        peerHosts: ['p1'],
        addressOf: (h: string) => addresses[h],
        containerBlockOf: (h: string) => blocks[h],
      },
    };
  }
  const network = (i: number) => testRun({ runId: `n${i}`, workload: 'tcp-receiver', scenarioId: 'tcp-receiver', repetition: i });
  const control = (i: number) => testRun({ runId: `s${i}`, repetition: i });

  it('leases a peer host with the server for network runs only, tells both hosts where the other is, and frees both', async () => {
    const { machine, ledger, input, backends } = lab([network(0), control(0), network(1), control(1)]);
    const seen: RunSpec[] = [];
    const setup = backends[0].setup.bind(backends[0]);
    backends[0].setup = (run) => (seen.push(run), setup(run));
    const snap = await waitFor(createActor(machine, { input }).start(), (s) => s.status === 'done');
    expect(snap.value).toBe('done');
    expect(ledger.done.sort()).toEqual(['n0', 'n1', 's0', 's1']);
    expect(backends[1].calls.filter((c) => c.startsWith('setup'))).toEqual(['setup n0', 'setup n1']);
    expect(seen.find((r) => r.runId === 'n0')?.peer).toEqual({
      cpus: [1],
      hostId: 'p1',
      address: '169.254.0.12',
      serverAddress: '169.254.0.11',
      block: '169.254.9.64/26',
      serverBlock: '169.254.8.0/24',
    });
    expect(seen.find((r) => r.runId === 's0')?.peer).toEqual({ cpus: [1] });
    expect(snap.context.busy).toEqual({});
  });

  it('lets a control run go ahead while no peer host is free, and waits for one for network runs', async () => {
    const clock = new SimulatedClock();
    const { machine, ledger, input, agents } = lab([network(0), control(0)]);
    agents[1].lost = true;
    const actor = createActor(machine, { input, clock }).start();
    actor.send({ type: 'HOST_LOST', hostId: 'p1', reason: 'killed' });
    await waitFor(actor, (s) => s.matches({ running: 'starved' }));
    expect(ledger.done).toEqual(['s0']);
    agents[1].lost = false;
    actor.send({ type: 'HOST_READY', hostId: 'p1' });
    const snap = await waitFor(actor, (s) => s.status === 'done');
    expect(snap.value).toBe('done');
    expect(ledger.done).toEqual(['s0', 'n0']);
  });

  it('fails a run whose peer host is lost retryably, and runs it again once the peer is back', async () => {
    const { machine, ledger, input, agents, backends } = lab([network(0)]);
    backends[1].phaseMs = 50;
    const actor = createActor(machine, { input }).start();
    while (!backends[1].calls.includes('warmup n0')) await new Promise((r) => setTimeout(r, 5));
    agents[1].lost = true;
    actor.send({ type: 'HOST_LOST', hostId: 'p1', reason: 'killed' });
    await waitFor(actor, (s) => ledger.attempts.get('n0') === 1 && s.matches({ running: 'starved' }));
    expect(ledger.status.get('n0')).toBe('todo');
    expect(backends[0].calls).toContain('teardown n0');
    agents[1].lost = false;
    actor.send({ type: 'HOST_READY', hostId: 'p1' });
    const snap = await waitFor(actor, (s) => s.status === 'done');
    expect(snap.context.counts).toMatchObject({ done: 1, failed: 0, retried: 1 });
    expect(ledger.attempts.get('n0')).toBe(2);
  });
});

describe('agent session machine', () => {
  function session(clock: SimulatedClock, traffic = () => false) {
    const log: string[] = [];
    const machine = agentSessionMachine.provide({
      guards: { trafficBothWays: traffic },
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

  it('sends no beat while frames go both ways, and counts missed beats again once they stop', () => {
    const clock = new SimulatedClock();
    let busy = true;
    const { actor, log } = session(clock, () => busy);
    actor.send({ type: 'AUTHENTICATED', hostId: 'h1' });
    for (let i = 0; i < 10; i++) clock.increment(2000);
    expect(log.filter((l) => l === 'ping')).toHaveLength(0);
    expect(actor.getSnapshot().value).toEqual({ ready: 'beating' });
    busy = false; // the agent went silent mid-run: pinged, then lost after 3 missed beats
    for (let i = 0; i < 3; i++) clock.increment(2000);
    expect(log.filter((l) => l === 'ping')).toHaveLength(3);
    expect(actor.getSnapshot().value).toEqual({ ready: 'beating' });
    clock.increment(2000);
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
