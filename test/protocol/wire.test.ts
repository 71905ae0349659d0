// The wire, end to end over real WebSockets on loopback: who gets in, what is refused and how, and that
// neither side crashes on bad input.
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Agent } from '../../agents/agent.ts';
import { CLOSE, MAX_MESSAGE_BYTES } from '../../agents/protocol.ts';
import { AgentHub } from '../../orchestrator/hub/hub.ts';
import { AgentConnection } from '../../orchestrator/hub/agent-connection.ts';
import { FatalError, RetryableError } from '../../workloads/common/errors.ts';
import { FakeBackend, testRun } from '../fakes/fake-backend.ts';
import { hostKeyFile } from '../../agents/channel.ts';
import { Frames, keyFor, proofOf, rawAgent, rawClient, rawOrchestrator, until } from '../hostile/raw-peer.ts';

const TOKEN = 'a'.repeat(64);
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function startHub(opts: Partial<ConstructorParameters<typeof AgentHub>[0]> = {}) {
  const hub = new AgentHub({ token: TOKEN, expectedHosts: new Set(['h1', 'h2']), ...opts });
  const url = await hub.listen();
  cleanups.push(() => hub.close());
  return { hub, url };
}

function startAgent(url: string, over: Partial<ConstructorParameters<typeof Agent>[0]> = {}) {
  const backend = new FakeBackend('h1');
  const logs: string[] = [];
  const agent = new Agent({
    url,
    token: TOKEN,
    hostId: 'h1',
    backend,
    version: 'test',
    log: (l) => logs.push(l),
    minBackoffMs: 20,
    maxBackoffMs: 100,
    ...over,
  });
  cleanups.push(() => agent.stop());
  return { agent, backend, logs };
}

const nextReady = (hub: AgentHub) => new Promise<AgentConnection>((r) => hub.once('ready', r));

describe('authentication', () => {
  it('admits an agent that proves the token and serves its ops', async () => {
    const { hub, url } = await startHub();
    const ready = nextReady(hub);
    startAgent(url).agent.start();
    const conn = await ready;
    expect(conn.hostId).toBe('h1');
    const facts = await conn.request('facts', {}, { id: 'f1', timeoutMs: 2000 });
    expect(facts.cpuModel).toBe('fake cpu');
  });

  it('refuses a wrong token with 4401, and the agent stops instead of retrying', async () => {
    const { hub, url } = await startHub();
    const refused = new Promise<string>((r) => hub.once('refused', r));
    const { agent } = startAgent(url, { token: 'b'.repeat(64) });
    await agent.start();
    expect(await refused).toBe('wrong token');
    expect(await agent.exited).toEqual({ reason: 'refused', message: 'wrong token' });
    expect(hub.readyHosts).toEqual([]);
  });

  it('refuses a host the campaign does not know, naming it', async () => {
    const { url } = await startHub();
    const { agent } = startAgent(url, { hostId: 'intruder' });
    await agent.start();
    const exit = await agent.exited;
    expect(exit.reason).toBe('refused');
    expect((exit as { message: string }).message).toContain("unknown host 'intruder'");
  });

  it('refuses a request sent before hello and never runs it', async () => {
    const { hub, url } = await startHub();
    const { closed, messages } = await rawClient(url, (ws) =>
      ws.send(JSON.stringify({ type: 'response', id: 'x', ok: true, result: null })),
    );
    expect((await closed).code).toBe(CLOSE.unauthenticated);
    expect(messages.find((m) => m.type === 'error')?.error.message).toMatch(/expected a hello first/);
    expect(hub.readyHosts).toEqual([]);
  });

  it('closes a connection that never says hello', async () => {
    const { url } = await startHub({ helloTimeoutMs: 100 });
    const { closed } = await rawClient(url, () => {});
    expect(await closed).toMatchObject({ code: CLOSE.unauthenticated, reason: expect.stringContaining('no hello') });
  });

  it('refuses invalid JSON before hello', async () => {
    const { url } = await startHub();
    const { closed } = await rawClient(url, (ws) => ws.send('{not json'));
    expect((await closed).code).toBe(CLOSE.unauthenticated);
  });
});

describe('after authentication', () => {
  async function authenticated() {
    const { hub, url } = await startHub();
    const ready = nextReady(hub);
    const raw = await rawAgent(url, 'h2', keyFor(TOKEN, 'h2'));
    const conn = await ready;
    return { hub, conn, ...raw };
  }

  it('answers an invalid message with an error and keeps the session', async () => {
    const { messages, conn, sendSealed } = await authenticated();
    sendSealed({ type: 'response', id: 42 });
    await new Promise((r) => setTimeout(r, 50));
    expect(messages.at(-1)).toMatchObject({ type: 'error', error: { code: 'INVALID_MESSAGE' } });
    expect(conn.alive).toBe(true);
  });

  it('refuses an oversized message by closing the socket, and declares the agent lost with the reason', async () => {
    const { hub, sendSealed } = await authenticated();
    const lost = new Promise<[string, string]>((r) => hub.once('lost', (h, reason) => r([h, reason])));
    sendSealed({ type: 'event', id: 'x', event: 'log', data: { blob: 'x'.repeat(MAX_MESSAGE_BYTES + 10) } });
    const [host, reason] = await lost;
    expect(host).toBe('h2');
    expect(reason).toMatch(/Max payload size exceeded/);
  });

  it('rejects a result that does not match the op schema', async () => {
    const { ws, conn, messages, sendSealed } = await authenticated();
    ws.on('message', () => {
      const m = messages.at(-1); // opened by rawClient's own listener, registered first
      if (m.type === 'request') sendSealed({ type: 'response', id: m.id, ok: true, result: { nonsense: true } });
    });
    await expect(conn.request('facts', {}, { id: 'f', timeoutMs: 2000 })).rejects.toThrow(/invalid facts result/);
  });
});

describe('ops', () => {
  async function connected() {
    const { hub, url } = await startHub();
    const ready = nextReady(hub);
    const a = startAgent(url);
    await a.agent.start();
    return { hub, conn: await ready, ...a };
  }

  it('refuses an unknown op with a clear, non-retryable error', async () => {
    const { conn } = await connected();
    const err = await conn.request('rm -rf' as 'facts', {}, { id: 'u1', timeoutMs: 2000 }).catch((e) => e);
    expect(err).toBeInstanceOf(FatalError);
    expect(err.code).toBe('UNKNOWN_OP');
    expect(err.message).toContain("unknown op 'rm -rf'");
  });

  it('refuses invalid arguments naming the field', async () => {
    const { conn } = await connected();
    const err = await conn.request('run.setup', { run: { ...testRun(), durationS: -1 } }, { id: 's0', timeoutMs: 2000 }).catch((e) => e);
    expect(err.code).toBe('INVALID_ARGS');
    expect(err.message).toContain('run.durationS');
  });

  it('bounds core lists by the schema and by the host, and parses traffic addresses as IPv4 inside the link-local traffic range', async () => {
    const { conn, backend } = await connected();
    const setup = (run: object, id: string) =>
      conn.request('run.setup', { run: { ...testRun(), ...run } as never }, { id, timeoutMs: 2000 }).catch((e) => e);
    const huge = await setup({ victim: { ...testRun().victim, cpus: [2 ** 31] } }, 'c1');
    expect(huge.code).toBe('INVALID_ARGS');
    expect(huge.message).toMatch(/run\.victim\.cpus\.0: .*1023/);
    const long = await setup({ nicCpus: Array.from({ length: 5000 }, (_, i) => i % 2) }, 'c2');
    expect(long.message).toMatch(/run\.nicCpus: /);
    const absent = await setup({ neighbour: { ...testRun().neighbour, cpus: [0, 5] } }, 'c3');
    expect(absent.message).toBe('h1: run.setup: run.neighbour.cpus: core 5 does not exist on this host (2 cores: 0-1)');
    for (const [address, why] of [
      ['169.254.1.300', /IPv4/],
      ['localhost', /IPv4/],
      ['127.0.0.1', /unicast/],
      ['0x7f.1.1.1', /IPv4/],
      ['224.0.0.1', /unicast/],
      ['10.0.0.5', /169\.254\.0\.0\/16/],
      ['192.168.1.20', /traffic range/],
    ] as const) {
      const err = await setup({ peer: { ...testRun().peer, hostId: 'h2', address, serverAddress: '169.254.1.10' } }, `a-${address}`);
      expect(err.message, address).toMatch(why);
    }
    expect(backend.calls.filter((c) => c.startsWith('setup'))).toEqual([]);
  });

  it('runs an op once per operation id, however often it is sent', async () => {
    const { conn, backend } = await connected();
    const run = testRun();
    await conn.request('run.setup', { run }, { id: 'op-1', timeoutMs: 2000 });
    await conn.request('run.setup', { run }, { id: 'op-1', timeoutMs: 2000 });
    await conn.request('run.setup', { run }, { id: 'op-2', timeoutMs: 2000 });
    expect(backend.calls.filter((c) => c.startsWith('setup'))).toHaveLength(2);
  });

  it('reports backend failures with their retryability', async () => {
    const { conn, backend } = await connected();
    backend.failIn = { phase: 'setup', retryable: true };
    const err = await conn.request('run.setup', { run: testRun() }, { id: 's1', timeoutMs: 2000 }).catch((e) => e);
    expect(err.name).toBe('RetryableError');
    expect(err.message).toContain('injected setup failure');
  });

  it('runs a run to its samples and tears it down in one run.execute, and names the op that failed', async () => {
    const { conn, backend } = await connected();
    const result = await conn.request('run.execute', { run: testRun({ runId: 'x1' }) }, { id: 'e1', timeoutMs: 2000 });
    expect(result.runId).toBe('x1');
    expect(backend.calls).toContain('collect x1');
    expect(backend.calls.filter((c) => c.endsWith(' x1'))).toEqual(['setup x1', 'warmup x1', 'measure x1', 'collect x1', 'teardown x1']);
    backend.failIn = { phase: 'measure', retryable: true };
    const err = await conn.request('run.execute', { run: testRun({ runId: 'x2' }) }, { id: 'e2', timeoutMs: 2000 }).catch((e) => e);
    expect(err).toBeInstanceOf(RetryableError);
    expect(err.op).toBe('run.measure');
    expect(err.message).toContain('run.measure: injected measure failure');
    expect(backend.calls.filter((c) => c.endsWith(' x2'))).toEqual(['setup x2', 'warmup x2', 'measure x2', 'teardown x2']);
  });

  it('sends a simulated agent that does not know run.execute (an older ironlab) its runs phase by phase', async () => {
    const sent: { id: string }[] = [];
    const conn = new AgentConnection('h1', 'sim', '0.0.1', { send: (m) => sent.push(m as { id: string }) });
    expect(conn.runsInOneRequest).toBe(true);
    const pending = conn.request('run.execute', { run: testRun() }, { id: 'e1', timeoutMs: 2000 }).catch((e) => e);
    conn.settle(sent[0].id, { ok: false, error: { code: 'UNKNOWN_OP', message: "unknown op 'run.execute'", retryable: false } });
    const err = await pending;
    expect(err).toBeInstanceOf(RetryableError);
    expect(err.message).toContain('phase by phase');
    expect(conn.runsInOneRequest).toBe(false);
    expect(new AgentConnection('h2', 'docker', '0.0.1', { send: () => {} }).runsInOneRequest).toBe(false);
  });
});

describe('reconnection and the reaper', () => {
  it('reconnects with backoff when the orchestrator comes back, and reaps after the grace period', async () => {
    const first = await startHub();
    const port = Number(new URL(first.url).port);
    const ready1 = nextReady(first.hub);
    const { agent, backend, logs } = startAgent(first.url, { reapGraceMs: 150 });
    await agent.start();
    const conn = await ready1;
    await conn.request('run.setup', { run: testRun() }, { id: 's', timeoutMs: 2000 });
    await first.hub.close();
    await new Promise((r) => setTimeout(r, 400));
    expect(backend.reaped).toBeGreaterThanOrEqual(2); // once at start, once after the grace period
    expect(backend.runs.size).toBe(0);
    expect(logs.join('\n')).toMatch(/reaped 1 resource/);
    const second = await startHub({ port });
    const conn2 = await nextReady(second.hub);
    expect(conn2.hostId).toBe('h1');
  });
});

describe('the agent facing a broken orchestrator', () => {
  it('answers invalid and unknown messages on an authentic channel with an error and keeps serving', async () => {
    const key = keyFor(TOKEN, 'h1');
    let frames: Frames | null = null;
    const got: any[] = [];
    let resolveServed!: () => void;
    const served = new Promise<void>((r) => (resolveServed = r));
    const rogue = await rawOrchestrator((ws, hello, nonce) => {
      ws.send(JSON.stringify({ type: 'welcome', hostId: 'h1', proof: proofOf(key, 'orchestrator', 'h1', nonce, hello.nonce) }));
      frames = new Frames(key, 'orchestrator', 'h1', nonce, hello.nonce);
      ws.send(frames.seal('not json at all'));
      ws.send(frames.seal({ type: 'request', id: 7 }));
      ws.send(frames.seal({ type: 'request', id: 'q1', op: 'facts', args: {} }));
      ws.on('message', (raw) => {
        const m = frames!.open(raw.toString());
        got.push(m);
        if (m.type === 'response') resolveServed();
      });
    });
    cleanups.push(() => rogue.close());
    const { agent } = startAgent(rogue.url);
    await agent.start();
    await served;
    const errors = got.filter((m) => m.type === 'error').map((m) => m.error.message);
    expect(errors).toEqual(['message is not valid JSON', expect.stringMatching(/^id: /)]);
    expect(got.at(-1)).toMatchObject({ type: 'response', id: 'q1', ok: true });
    expect(agent.connected).toBe(true);
  });
});

describe('heartbeats are sealed frames', () => {
  it('keeps a quiet agent admitted with beats it echoes, sealed', async () => {
    const { hub, url } = await startHub({ heartbeatMs: 50, maxMissedBeats: 2 });
    const lost: string[] = [];
    hub.on('lost', (host: string, why: string) => lost.push(`${host}: ${why}`));
    const ready = nextReady(hub);
    startAgent(url).agent.start();
    await ready;
    await new Promise((r) => setTimeout(r, 600)); // a dozen beats, no requests
    expect(lost).toEqual([]);
    expect(hub.readyHosts).toEqual(['h1']);
  });

  it('does not take a WebSocket ping (which anyone on the path could send) as a sign the orchestrator is alive', async () => {
    const key = keyFor(TOKEN, 'h1');
    let sockets = 0;
    const rogue = await rawOrchestrator((ws, hello, nonce) => {
      sockets++;
      ws.send(JSON.stringify({ type: 'welcome', hostId: 'h1', proof: proofOf(key, 'orchestrator', 'h1', nonce, hello.nonce) }));
      const pinger = setInterval(() => ws.readyState === ws.OPEN && ws.ping(), 20);
      ws.on('close', () => clearInterval(pinger));
    });
    cleanups.push(() => rogue.close());
    const { agent, logs } = startAgent(rogue.url, { silenceTimeoutMs: 200 });
    await agent.start();
    await until(() => sockets >= 2); // the pings did not hold it: it declared the link silent and dialed again
    expect(logs).toContain('no heartbeat from the orchestrator; reconnecting');
  });
});

describe('an orchestrator that does not hold the token', () => {
  it('gets nothing executed: not with a forged welcome, not with requests plain or sealed with a guessed key', async () => {
    const guessed = keyFor('not the token'.repeat(4), 'h1');
    const rogue = await rawOrchestrator((ws, hello, nonce) => {
      ws.send(JSON.stringify({ type: 'request', id: 'r0', op: 'reap', args: {} }));
      ws.send(JSON.stringify({ type: 'welcome', hostId: 'h1', proof: proofOf(guessed, 'orchestrator', 'h1', nonce, hello.nonce) }));
      ws.send(JSON.stringify({ type: 'request', id: 'r1', op: 'reap', args: {} }));
      ws.send(
        new Frames(guessed, 'orchestrator', 'h1', nonce, hello.nonce).seal({
          type: 'request',
          id: 'r2',
          op: 'run.setup',
          args: { run: testRun() },
        }),
      );
    });
    cleanups.push(() => rogue.close());
    const { agent, backend, logs } = startAgent(rogue.url, { reapGraceMs: 60_000 });
    await agent.start();
    const callsAtStart = backend.calls.length; // the start-up reap of leftovers
    await until(() => rogue.received.filter((m) => m?.type === 'hello').length >= 2); // dropped, and dialed again
    expect(backend.calls.length).toBe(callsAtStart);
    expect(backend.runs.size).toBe(0);
    expect(agent.connected).toBe(false);
    expect(rogue.received.some((m) => m?.type === 'response')).toBe(false);
    expect(logs.join('\n')).toMatch(/did not prove the token; not obeying it|has not proved the token/);
  });

  it('an orchestrator of the old protocol is refused with a message that says to upgrade it', async () => {
    const { WebSocketServer } = await import('ws');
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    cleanups.push(() => new Promise<void>((r) => wss.close(() => r())));
    await new Promise((r) => wss.once('listening', r));
    wss.on('connection', (ws) => ws.send(JSON.stringify({ type: 'challenge', nonce: 'a'.repeat(64), protocol: 2 })));
    const { agent } = startAgent(`ws://127.0.0.1:${(wss.address() as { port: number }).port}`);
    await agent.start();
    const exit = await agent.exited;
    expect(exit).toEqual({ reason: 'refused', message: expect.stringContaining('protocol 2, this agent 3: upgrade the orchestrator') });
  });
});

describe('keys per host', () => {
  it("one host's key cannot speak for another", async () => {
    const { hub, url } = await startHub();
    await expect(rawAgent(url, 'h2', keyFor(TOKEN, 'h1'))).rejects.toThrow(/not welcomed.*wrong token/);
    expect(hub.readyHosts).toEqual([]);
    expect(() => startAgent(url, { token: hostKeyFile(TOKEN, 'h1'), hostId: 'h2' })).toThrow(/host h1's, not h2's/);
  });

  it('an agent given only its own key file (not the token) is admitted', async () => {
    const { hub, url } = await startHub();
    const ready = nextReady(hub);
    await startAgent(url, { token: hostKeyFile(TOKEN, 'h1') }).agent.start();
    expect((await ready).hostId).toBe('h1');
  });

  it('an agent of the old protocol is refused with a message that says to upgrade it', async () => {
    const { url } = await startHub();
    const c = await rawClient(url, (ws, ch) =>
      ws.send(JSON.stringify({ type: 'hello', hostId: 'h1', backend: 'sim', version: '0.0.9', protocol: 2, proof: ch.nonce })),
    );
    expect(await c.closed).toMatchObject({ code: CLOSE.forbidden });
    expect(c.messages.find((m) => m.type === 'error')?.error.message).toMatch(
      /agent speaks protocol 2, this orchestrator 3: upgrade the agent to ironlab/,
    );
  });
});

describe('sealed frames', () => {
  it('a replayed, reordered or forged frame closes the connection and never reaches a handler', async () => {
    for (const bad of ['replay', 'skip', 'forge', 'plain', 'other-connection'] as const) {
      const { hub, url } = await startHub();
      const ready = nextReady(hub);
      const a = await rawAgent(url, 'h2', keyFor(TOKEN, 'h2'));
      const conn = await ready;
      const pending = conn.request('facts', {}, { id: 'f', timeoutMs: 5000 }).catch((e: Error) => e);
      await until(() => a.messages.some((m) => m.type === 'request'));
      const answer = { type: 'response', id: 'f', ok: true, result: { nonsense: 1 } };
      if (bad === 'replay') {
        a.sendSealed({ type: 'event', id: 'f', event: 'log', data: {} });
        a.ws.send(a.frames!.seal(answer, 0));
      } else if (bad === 'skip') a.ws.send(a.frames!.seal(answer, 5));
      else if (bad === 'forge') a.ws.send(a.frames!.seal(answer).replace(/ [0-9a-f]{64} /, ` ${'0'.repeat(64)} `));
      else if (bad === 'plain') a.ws.send(JSON.stringify(answer));
      else {
        const b = await rawAgent(url, 'h1', keyFor(TOKEN, 'h1'));
        a.ws.send(b.frames!.seal(answer, 0));
        b.ws.terminate();
      }
      expect((await a.closed).code, bad).toBe(CLOSE.protocol);
      const err = await pending;
      expect(String(err), bad).toMatch(/lost during facts/); // not "invalid facts result": the frame was never read
      await hub.close();
    }
  });
});

describe('someone on the path', () => {
  /** A relay between agent and hub that forwards everything, and lets the test inject frames either way. */
  async function relay(hubUrl: string) {
    const { WebSocketServer } = await import('ws');
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((r) => wss.once('listening', r));
    cleanups.push(() => new Promise<void>((r) => wss.close(() => r())));
    const ends: { toAgent?: WebSocket; toHub?: WebSocket } = {};
    wss.on('connection', (agentSide) => {
      const hubSide = new WebSocket(hubUrl);
      ends.toAgent = agentSide;
      ends.toHub = hubSide;
      const queued: string[] = [];
      hubSide.on('open', () => queued.splice(0).forEach((m) => hubSide.send(m)));
      agentSide.on('message', (m) => (hubSide.readyState === hubSide.OPEN ? hubSide.send(m.toString()) : queued.push(m.toString())));
      hubSide.on('message', (m) => agentSide.readyState === agentSide.OPEN && agentSide.send(m.toString()));
      agentSide.on('close', () => hubSide.close());
      hubSide.on('close', () => agentSide.close());
      for (const s of [agentSide, hubSide]) s.on('error', () => {});
    });
    return { url: `ws://127.0.0.1:${(wss.address() as { port: number }).port}`, ends };
  }

  it('can relay the handshake but inject nothing: not results to the hub, not requests to the agent', async () => {
    for (const target of ['hub', 'agent'] as const) {
      const { hub, url } = await startHub();
      const r = await relay(url);
      const ready = nextReady(hub);
      const { agent, backend } = startAgent(r.url, { reapGraceMs: 60_000 });
      await agent.start();
      const conn = await ready;
      await until(() => agent.connected);
      const run = testRun();
      await conn.request('run.setup', { run }, { id: 's1', timeoutMs: 5000 });
      backend.phaseMs = 3000; // the honest answer comes late: the injection is first
      const lost = new Promise((res) => hub.once('lost', res));
      const pending = conn.request('run.warmup', { runId: run.runId }, { id: 'w1', timeoutMs: 10_000 }).catch((e: { code?: string }) => e);
      const callsBefore = backend.calls.length;
      if (target === 'hub') r.ends.toHub!.send(JSON.stringify({ type: 'response', id: 'w1', ok: true, result: null }));
      else r.ends.toAgent!.send(JSON.stringify({ type: 'request', id: 'evil', op: 'reap', args: {} }));
      await lost;
      expect(await pending, target).toMatchObject({ code: 'AGENT_LOST' }); // the injected answer was not taken
      expect(
        backend.calls.slice(callsBefore).filter((c) => c.startsWith('reap')),
        target,
      ).toEqual([]);
      await hub.close();
    }
  });
});

describe('the hub under load of strangers', () => {
  it('keeps at most maxPendingSockets unauthenticated sockets and still admits an agent', async () => {
    const { hub, url } = await startHub({ maxPendingSockets: 5 });
    const idle = await Promise.all(Array.from({ length: 20 }, () => rawClient(url, () => {})));
    await until(() => idle.filter((c) => c.ws.readyState === c.ws.OPEN).length <= 5);
    const ready = nextReady(hub);
    await startAgent(url).agent.start();
    expect((await ready).hostId).toBe('h1');
    expect(idle.filter((c) => c.ws.readyState === c.ws.OPEN).length).toBeLessThanOrEqual(5);
  });

  it('drops a TCP socket that never sends its upgrade request', async () => {
    const { url } = await startHub({ helloTimeoutMs: 300 });
    const { connect } = await import('node:net');
    const u = new URL(url);
    const sock = connect(Number(u.port), u.hostname);
    const closed = new Promise<void>((r) => sock.on('close', () => r()));
    sock.on('error', () => {});
    await closed;
  }, 5000);
});

describe('a host that reconnects', () => {
  it('is not reported lost when its old socket closes after the new one is ready', async () => {
    const { hub, url } = await startHub();
    const lost: string[] = [];
    hub.on('lost', (h, reason) => lost.push(`${h}: ${reason}`));
    const first = await rawAgent(url, 'h2', keyFor(TOKEN, 'h2'));
    const ready = nextReady(hub);
    await rawAgent(url, 'h2', keyFor(TOKEN, 'h2'));
    const second = await ready;
    first.ws.close();
    await first.closed;
    await new Promise((r) => setTimeout(r, 50));
    expect(lost).toEqual([]);
    expect(hub.connection('h2')).toBe(second);
  });
});
