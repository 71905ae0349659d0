// The agent hub: a WebSocket server that admits only agents proving their host's key (and proves it back),
// keeps one session actor per connection, and tells the campaign when a host becomes ready or is lost.
// Unauthenticated sockets are bounded: a few seconds to send a request line, a few more for the hello, and at
// most `maxPendingSockets` of them at a time (the oldest goes first), so idle or hostile clients cost little.
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { createActor, type ActorRefFrom } from 'xstate';
import { SecureChannel, handshakeProof, hostKey, verifyHandshakeProof, type Transcript } from '../../agents/channel.ts';
import { AgentMessage, CLOSE, Hello, MAX_MESSAGE_BYTES, PROTOCOL_VERSION, ProtocolProbe, parseMessage } from '../../agents/protocol.ts';
import { IRONLAB_VERSION } from '../../workloads/common/version.ts';
import { agentSessionMachine } from './agent-session.ts';
import { AgentConnection } from './agent-connection.ts';

export interface HubOptions {
  token: string;
  /** Host ids allowed to connect; an agent with another id is refused (null = any id). */
  expectedHosts: ReadonlySet<string> | null;
  bindHost?: string;
  port?: number;
  helloTimeoutMs?: number;
  /** Sockets that have not proved a key yet, at most (default 64); a new one closes the oldest. */
  maxPendingSockets?: number;
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
  private http: Server | null = null;
  /** Sockets still in the hello window, oldest first. */
  private readonly pending = new Set<WebSocket>();
  private readonly connections = new Map<string, AgentConnection>();
  private readonly sessions = new Set<ActorRefFrom<typeof agentSessionMachine>>();

  constructor(private readonly opts: HubOptions) {
    super();
  }

  /** Start listening; resolves with the ws:// URL agents dial. */
  async listen(): Promise<string> {
    const deadline = this.opts.helloTimeoutMs ?? 5000;
    // Our own HTTP server, so that a socket that never finishes its upgrade request is dropped within seconds.
    const http = createServer(
      { headersTimeout: deadline, requestTimeout: deadline, connectionsCheckingInterval: Math.min(1000, deadline) },
      (_, res) => res.writeHead(426, { 'content-type': 'text/plain' }).end('ironlab agent hub: WebSocket only\n'),
    );
    // A socket that sends nothing at all never starts a request, so the server's timeouts never see it: one
    // timer per connection, cleared when its upgrade request arrives (a socket's idle timer once did not fire in CI).
    const pending = new WeakMap<object, NodeJS.Timeout>();
    http.on('connection', (socket) => {
      const t = setTimeout(() => socket.destroy(), deadline);
      t.unref();
      pending.set(socket, t);
      socket.once('close', () => clearTimeout(t));
    });
    http.on('upgrade', (_req, socket) => clearTimeout(pending.get(socket)));
    const wss = new WebSocketServer({ server: http, maxPayload: MAX_MESSAGE_BYTES });
    this.http = http;
    this.wss = wss;
    wss.on('connection', (ws) => this.admit(ws));
    await new Promise<void>((resolve, reject) => {
      http.once('listening', resolve);
      http.once('error', reject);
      http.listen(this.opts.port ?? 0, this.opts.bindHost ?? '127.0.0.1');
    });
    const addr = http.address() as AddressInfo;
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
    this.http!.closeAllConnections();
    await new Promise<void>((resolve) => this.http!.close(() => resolve()));
    this.wss = null;
    this.http = null;
  }

  private admit(ws: WebSocket): void {
    const nonce = randomBytes(32).toString('hex');
    let connection: AgentConnection | null = null;
    let channel: SecureChannel | null = null;
    let beats = 0;
    // when an authentic frame last went each way (a busy link needs no beats)
    let sentAt = 0;
    let heardAt = 0;
    const heartbeatMs = this.opts.heartbeatMs ?? 2000;
    /** Plain before the handshake completes, sealed after. */
    const send = (msg: unknown) => {
      if (ws.readyState !== ws.OPEN) return;
      if (channel) sentAt = Date.now();
      ws.send(channel ? channel.seal(msg) : JSON.stringify(msg));
    };
    const max = this.opts.maxPendingSockets ?? 64;
    for (const old of this.pending) {
      if (this.pending.size < max) break;
      this.pending.delete(old);
      old.terminate();
    }
    this.pending.add(ws);

    const session = createActor(
      agentSessionMachine.provide({
        guards: {
          trafficBothWays: () => Date.now() - sentAt < heartbeatMs && Date.now() - heardAt < heartbeatMs,
        },
        actions: {
          sendChallenge: () => send({ type: 'challenge', nonce, protocol: PROTOCOL_VERSION }),
          // sealed like every frame after the handshake: a WebSocket ping would let anyone on the path fake an answer
          sendPing: () => channel && send({ type: 'beat', n: beats++ }),
          refuse: (_, { code, reason }) => {
            send({
              type: 'error',
              error: { code: code === CLOSE.forbidden ? 'FORBIDDEN' : 'UNAUTHENTICATED', message: reason, retryable: false },
            });
            ws.close(code, reason.slice(0, 120));
            this.emit('refused', reason);
          },
          terminate: () => {
            if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.terminate();
          },
          announceReady: (_, { hostId }) => {
            this.connections.get(hostId)?.lost('replaced by a new connection');
            this.connections.set(hostId, connection!);
            this.emit('ready', connection!);
          },
          announceLost: (_, { hostId, reason }) => {
            connection?.lost(reason);
            // A connection already replaced by the host's newer one is not the host: the host is not lost.
            if (this.connections.get(hostId) !== connection) return;
            this.connections.delete(hostId);
            this.emit('lost', hostId, reason);
          },
        },
      }),
      {
        input: {
          helloTimeoutMs: this.opts.helloTimeoutMs ?? 5000,
          heartbeatMs,
          maxMissedBeats: this.opts.maxMissedBeats ?? 3,
        },
      },
    );
    this.sessions.add(session);
    session.subscribe({ complete: () => this.sessions.delete(session) });

    // An oversized or malformed frame surfaces as an 'error' (ws then closes with 1009/1002): keep its text.
    let socketError = '';
    ws.on('error', (err) => (socketError = err.message));
    ws.on('close', (code, reason) => {
      this.pending.delete(ws);
      // a refused socket's session has already ended: nothing left to tell it
      if (session.getSnapshot().status === 'active')
        session.send({ type: 'SOCKET_CLOSED', code, reason: reason.toString() || socketError });
    });
    const hello = (raw: WebSocket.RawData): void => {
      if (session.getSnapshot().status !== 'active') return; // refused or timed out; its close is under way
      const probe = parseMessage(ProtocolProbe, raw);
      if (probe.ok && probe.value.type === 'hello' && probe.value.protocol !== PROTOCOL_VERSION) {
        const upgrade = probe.value.protocol < PROTOCOL_VERSION ? `the agent to ironlab ${IRONLAB_VERSION}` : 'this orchestrator';
        return void session.send({
          type: 'AUTH_FAILED',
          code: CLOSE.forbidden,
          reason: `the agent speaks protocol ${probe.value.protocol}, this orchestrator ${PROTOCOL_VERSION}: upgrade ${upgrade}`,
        });
      }
      const parsed = parseMessage(Hello, raw);
      if (!parsed.ok)
        return void session.send({ type: 'AUTH_FAILED', code: CLOSE.unauthenticated, reason: `expected a hello first: ${parsed.reason}` });
      const msg = parsed.value;
      if (this.opts.expectedHosts && !this.opts.expectedHosts.has(msg.hostId))
        return void session.send({
          type: 'AUTH_FAILED',
          code: CLOSE.forbidden,
          reason: `unknown host '${msg.hostId}': the campaign expects ${[...this.opts.expectedHosts].join(', ')}`,
        });
      const key = hostKey(this.opts.token, msg.hostId);
      const transcript: Transcript = { hostId: msg.hostId, serverNonce: nonce, agentNonce: msg.nonce };
      if (!verifyHandshakeProof(key, 'agent', transcript, msg.proof))
        return void session.send({ type: 'AUTH_FAILED', code: CLOSE.unauthenticated, reason: 'wrong token' });
      this.pending.delete(ws);
      send({ type: 'welcome', hostId: msg.hostId, proof: handshakeProof(key, 'orchestrator', transcript) });
      channel = new SecureChannel(key, 'orchestrator', transcript);
      connection = new AgentConnection(msg.hostId, msg.backend, msg.version, { send: (msg) => send(msg) });
      session.send({ type: 'AUTHENTICATED', hostId: msg.hostId });
    };
    ws.on('message', (raw) => {
      if (!channel) return hello(raw);
      const opened = channel.open(raw);
      // Only the agent holding the key can produce a frame that opens: anything else is an attack on the link.
      if (!opened.ok) return ws.close(CLOSE.protocol, opened.reason.slice(0, 120));
      heardAt = Date.now();
      const parsed = parseMessage(AgentMessage, opened.json);
      if (!parsed.ok) return void send({ type: 'error', error: { code: 'INVALID_MESSAGE', message: parsed.reason, retryable: false } });
      const msg = parsed.value;
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
        case 'beat':
          return void session.send({ type: 'PONG' });
      }
    });
    session.start();
  }
}
