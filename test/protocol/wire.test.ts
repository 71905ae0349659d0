// The wire, end to end over real WebSockets on loopback: who gets in, what is refused and how, and that
// neither side crashes on bad input.
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Agent } from '../../agents/agent.ts';
import { CLOSE, MAX_MESSAGE_BYTES, PROTOCOL_VERSION, proofFor } from '../../agents/protocol.ts';
import { AgentHub } from '../../orchestrator/hub/hub.ts';
import type { AgentConnection } from '../../orchestrator/hub/agent-connection.ts';
import { FatalError } from '../../orchestrator/errors.ts';
import { FakeBackend, testRun } from '../fakes/fake-backend.ts';

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
  const agent = new Agent({ url, token: TOKEN, hostId: 'h1', backend, version: 'test', log: (l) => logs.push(l), minBackoffMs: 20, maxBackoffMs: 100, ...over });
  cleanups.push(() => agent.stop());
  return { agent, backend, logs };
}

const nextReady = (hub: AgentHub) => new Promise<AgentConnection>((r) => hub.once('ready', r));

/** A raw client: what an attacker or a broken agent could send. Returns the first messages and the close. */
async function rawClient(url: string, act: (ws: WebSocket, challenge: { nonce: string }) => void) {
  const ws = new WebSocket(url, { maxPayload: 8 * MAX_MESSAGE_BYTES });
  const messages: any[] = [];
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  ws.on('error', () => {});
  await new Promise<void>((resolve) => {
    ws.on('message', (raw) => {
      const msg = JSON.parse(raw.toString());
      messages.push(msg);
      if (msg.type === 'challenge') {
        act(ws, msg);
        resolve();
      }
    });
  });
  return { ws, messages, closed };
}

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
    const { closed, messages } = await rawClient(url, (ws) => ws.send(JSON.stringify({ type: 'response', id: 'x', ok: true, result: null })));
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
    const raw = await rawClient(url, (ws, ch) =>
      ws.send(JSON.stringify({ type: 'hello', hostId: 'h2', backend: 'sim', version: 't', protocol: PROTOCOL_VERSION, proof: proofFor(TOKEN, ch.nonce) })),
    );
    const conn = await ready;
    return { hub, conn, ...raw };
  }

  it('answers an invalid message with an error and keeps the session', async () => {
    const { ws, messages, conn } = await authenticated();
    ws.send(JSON.stringify({ type: 'response', id: 42 }));
    await new Promise((r) => setTimeout(r, 50));
    expect(messages.at(-1)).toMatchObject({ type: 'error', error: { code: 'INVALID_MESSAGE' } });
    expect(conn.alive).toBe(true);
  });

  it('refuses an oversized message by closing the socket, and declares the agent lost with the reason', async () => {
    const { ws, hub } = await authenticated();
    const lost = new Promise<[string, string]>((r) => hub.once('lost', (h, reason) => r([h, reason])));
    ws.send(JSON.stringify({ type: 'event', id: 'x', event: 'log', data: { blob: 'x'.repeat(MAX_MESSAGE_BYTES + 10) } }));
    const [host, reason] = await lost;
    expect(host).toBe('h2');
    expect(reason).toMatch(/Max payload size exceeded/);
  });

  it('rejects a result that does not match the op schema', async () => {
    const { ws, conn } = await authenticated();
    ws.on('message', (raw) => {
      const m = JSON.parse(raw.toString());
      if (m.type === 'request') ws.send(JSON.stringify({ type: 'response', id: m.id, ok: true, result: { nonsense: true } }));
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
  it('answers invalid and unknown messages with an error and keeps serving', async () => {
    const { WebSocketServer } = await import('ws');
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    cleanups.push(() => new Promise<void>((r) => wss.close(() => r())));
    await new Promise((r) => wss.once('listening', r));
    const url = `ws://127.0.0.1:${(wss.address() as { port: number }).port}`;
    const got: any[] = [];
    const served = new Promise<void>((resolve) =>
      wss.on('connection', (ws) => {
        ws.on('message', (raw) => {
          const m = JSON.parse(raw.toString());
          got.push(m);
          if (m.type === 'hello') {
            ws.send('not json at all');
            ws.send(JSON.stringify({ type: 'request', id: 7 }));
            ws.send(JSON.stringify({ type: 'welcome', hostId: 'h1' }));
            ws.send(JSON.stringify({ type: 'request', id: 'q1', op: 'facts', args: {} }));
          }
          if (m.type === 'response') resolve();
        });
        ws.send(JSON.stringify({ type: 'challenge', nonce: 'n'.repeat(64), protocol: PROTOCOL_VERSION }));
      }),
    );
    const { agent } = startAgent(url);
    await agent.start();
    await served;
    const errors = got.filter((m) => m.type === 'error').map((m) => m.error.message);
    expect(errors).toEqual(['message is not valid JSON', expect.stringMatching(/^id: /)]);
    expect(got.at(-1)).toMatchObject({ type: 'response', id: 'q1', ok: true });
    expect(agent.connected).toBe(true);
  });
});
