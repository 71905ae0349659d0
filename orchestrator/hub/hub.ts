// The agent hub: a WebSocket server that admits only agents proving the campaign's token, keeps one session
// actor per connection, and tells the campaign when a host becomes ready or is lost.
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { createActor, type ActorRefFrom } from 'xstate';
import { AgentMessage, CLOSE, MAX_MESSAGE_BYTES, PROTOCOL_VERSION, parseMessage, verifyProof } from '../../agents/protocol.ts';
import { agentSessionMachine } from '../machines/agent-session.ts';
import { AgentConnection } from './agent-connection.ts';

export interface HubOptions {
  token: string;
  /** Host ids allowed to connect; an agent with another id is refused (null = any id). */
  expectedHosts: ReadonlySet<string> | null;
  bindHost?: string;
  port?: number;
  helloTimeoutMs?: number;
  heartbeatMs?: number;
  maxMissedBeats?: number;
}

export interface HubEvents {
  ready: [AgentConnection];
  lost: [hostId: string, reason: string];
  refused: [reason: string];
}

export class AgentHub extends EventEmitter<HubEvents> {
  private wss: WebSocketServer | null = null;
  private readonly connections = new Map<string, AgentConnection>();
  private readonly sessions = new Set<ActorRefFrom<typeof agentSessionMachine>>();

  constructor(private readonly opts: HubOptions) {
    super();
  }

  /** Start listening; resolves with the ws:// URL agents dial. */
  async listen(): Promise<string> {
    const wss = new WebSocketServer({ host: this.opts.bindHost ?? '127.0.0.1', port: this.opts.port ?? 0, maxPayload: MAX_MESSAGE_BYTES });
    this.wss = wss;
    wss.on('connection', (ws) => this.admit(ws));
    await new Promise<void>((resolve, reject) => {
      wss.once('listening', resolve);
      wss.once('error', reject);
    });
    const addr = wss.address() as AddressInfo;
    return `ws://${addr.address.includes(':') ? `[${addr.address}]` : addr.address}:${addr.port}`;
  }

  connection(hostId: string): AgentConnection | undefined {
    const c = this.connections.get(hostId);
    return c?.alive ? c : undefined;
  }

  get readyHosts(): string[] {
    return [...this.connections.values()].filter((c) => c.alive).map((c) => c.hostId);
  }

  async close(): Promise<void> {
    for (const s of this.sessions) s.stop();
    for (const c of this.connections.values()) c.lost('orchestrator shutting down');
    if (!this.wss) return;
    for (const client of this.wss.clients) client.terminate();
    await new Promise<void>((resolve) => this.wss!.close(() => resolve()));
    this.wss = null;
  }

  private admit(ws: WebSocket): void {
    const nonce = randomBytes(32).toString('hex');
    let connection: AgentConnection | null = null;
    const send = (msg: unknown) => ws.readyState === ws.OPEN && ws.send(JSON.stringify(msg));

    const session = createActor(
      agentSessionMachine.provide({
        actions: {
          sendChallenge: () => send({ type: 'challenge', nonce, protocol: PROTOCOL_VERSION }),
          sendPing: () => ws.readyState === ws.OPEN && ws.ping(),
          refuse: (_, { code, reason }) => {
            send({ type: 'error', error: { code: code === CLOSE.forbidden ? 'FORBIDDEN' : 'UNAUTHENTICATED', message: reason, retryable: false } });
            ws.close(code, reason.slice(0, 120));
            this.emit('refused', reason);
          },
          terminate: () => {
            if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.terminate();
          },
          announceReady: (_, { hostId }) => {
            this.connections.get(hostId)?.lost('replaced by a new connection');
            this.connections.set(hostId, connection!);
            send({ type: 'welcome', hostId });
            this.emit('ready', connection!);
          },
          announceLost: (_, { hostId, reason }) => {
            connection?.lost(reason);
            if (this.connections.get(hostId) === connection) this.connections.delete(hostId);
            this.emit('lost', hostId, reason);
          },
        },
      }),
      { input: { helloTimeoutMs: this.opts.helloTimeoutMs ?? 5000, heartbeatMs: this.opts.heartbeatMs ?? 2000, maxMissedBeats: this.opts.maxMissedBeats ?? 3 } },
    );
    this.sessions.add(session);
    session.subscribe({ complete: () => this.sessions.delete(session) });

    ws.on('pong', () => session.send({ type: 'PONG' }));
    // An oversized or malformed frame surfaces as an 'error' (ws then closes with 1009/1002): keep its text.
    let socketError = '';
    ws.on('error', (err) => (socketError = err.message));
    ws.on('close', (code, reason) => session.send({ type: 'SOCKET_CLOSED', code, reason: reason.toString() || socketError }));
    ws.on('message', (raw) => {
      const parsed = parseMessage(AgentMessage, raw);
      const authenticated = connection !== null;
      if (!parsed.ok) {
        if (!authenticated) return session.send({ type: 'AUTH_FAILED', code: CLOSE.unauthenticated, reason: `expected a hello first: ${parsed.reason}` });
        send({ type: 'error', error: { code: 'INVALID_MESSAGE', message: parsed.reason, retryable: false } });
        return;
      }
      const msg = parsed.value;
      if (!authenticated) {
        if (msg.type !== 'hello') return session.send({ type: 'AUTH_FAILED', code: CLOSE.unauthenticated, reason: `expected a hello first, got '${msg.type}'` });
        if (msg.protocol !== PROTOCOL_VERSION)
          return session.send({ type: 'AUTH_FAILED', code: CLOSE.forbidden, reason: `protocol ${msg.protocol} is not ${PROTOCOL_VERSION}: upgrade the agent` });
        if (!verifyProof(this.opts.token, nonce, msg.proof)) return session.send({ type: 'AUTH_FAILED', code: CLOSE.unauthenticated, reason: 'wrong token' });
        if (this.opts.expectedHosts && !this.opts.expectedHosts.has(msg.hostId))
          return session.send({ type: 'AUTH_FAILED', code: CLOSE.forbidden, reason: `unknown host '${msg.hostId}': the campaign expects ${[...this.opts.expectedHosts].join(', ')}` });
        connection = new AgentConnection(msg.hostId, msg.backend, msg.version, ws);
        session.send({ type: 'AUTHENTICATED', hostId: msg.hostId });
        return;
      }
      switch (msg.type) {
        case 'hello':
          send({ type: 'error', error: { code: 'INVALID_MESSAGE', message: 'already authenticated', retryable: false } });
          return;
        case 'response':
          connection!.settle(msg.id, msg.ok ? { ok: true, result: msg.result } : { ok: false, error: msg.error });
          return;
        case 'event':
          if (msg.event === 'progress') connection!.progress(msg.id, msg.data);
          return;
        case 'error':
          return; // the agent refused something we sent; the pending request's own response says more
      }
    });
    session.start();
  }
}
