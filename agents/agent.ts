// The host agent: dials the orchestrator, and answers ops with its backend only once the orchestrator has
// proved the host's key in return (mutual handshake, channel.ts); every frame after that is sealed.
// It reconnects with backoff while the orchestrator is away; after a grace period without one it reaps
// everything it created, so a crashed orchestrator never leaves containers, qdiscs or pins behind.
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import type { Backend } from './backend.ts';
import { SecureChannel, handshakeProof, hostKey, verifyHandshakeProof, type Transcript } from './channel.ts';
import { OpDispatcher } from './dispatcher.ts';
import { CLOSE, MAX_MESSAGE_BYTES, PROTOCOL_VERSION, ProtocolProbe, ServerMessage, parseMessage, type AgentMessage } from './protocol.ts';

export interface AgentOptions {
  url: string;
  /** The campaign's or testbed's token, or this host's own key file contents (channel.ts). */
  token: string;
  hostId: string;
  backend: Backend;
  version: string;
  /** Reap everything after the orchestrator has been gone this long. */
  reapGraceMs?: number;
  /** Declare the orchestrator gone when it has sent no authentic frame (a sealed beat at least) for this long. */
  silenceTimeoutMs?: number;
  /** Backoff between reconnect attempts: starts here, doubles, capped at maxBackoffMs. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  log?: (line: string) => void;
}

export type AgentExit = { reason: 'stopped' } | { reason: 'refused'; message: string };

export class Agent {
  private ws: WebSocket | null = null;
  private readonly dispatcher: OpDispatcher;
  private attempt = 0;
  private stopped = false;
  private authenticated = false;
  private readonly key: Buffer;
  /** This connection's handshake so far (set when our hello is sent), and its channel once both proved. */
  private transcript: Transcript | null = null;
  private channel: SecureChannel | null = null;
  /** We closed this connection ourselves: its close code is ours echoed back, not a refusal. */
  private droppedByUs = false;
  private reapTimer: NodeJS.Timeout | null = null;
  private silenceTimer: NodeJS.Timeout | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private resolveExit!: (exit: AgentExit) => void;
  /** Resolves when the agent stops for good: stop() was called, or the orchestrator refused our credentials. */
  readonly exited: Promise<AgentExit> = new Promise((r) => (this.resolveExit = r));

  constructor(private readonly opts: AgentOptions) {
    this.key = hostKey(opts.token, opts.hostId);
    this.dispatcher = new OpDispatcher(opts.backend, (id, event, data) => this.send({ type: 'event', id, event, data }));
  }

  get connected(): boolean {
    return this.authenticated;
  }

  /** Remove leftovers of earlier runs on this host (after a crash), then connect. */
  async start(): Promise<void> {
    const removed = await this.opts.backend.reap();
    if (removed.length) this.log(`reaped ${removed.length} leftover(s) of earlier runs: ${removed.join(', ')}`);
    this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.clearTimers();
    this.dispatcher.abortAll();
    this.ws?.close(1000, 'agent stopping');
    this.resolveExit({ reason: 'stopped' });
  }

  private connect(): void {
    if (this.stopped) return;
    const ws = new WebSocket(this.opts.url, { maxPayload: MAX_MESSAGE_BYTES, handshakeTimeout: 5000 });
    this.ws = ws;
    ws.on('open', () => this.heardFromServer());
    ws.on('message', (raw) => this.onMessage(raw));
    ws.on('error', (err) => this.log(`connection error: ${err.message}`));
    ws.on('close', (code, reason) => this.onClose(code, reason.toString()));
  }

  private onMessage(raw: WebSocket.RawData): void {
    if (this.channel) return this.onSealed(raw);
    const probe = parseMessage(ProtocolProbe, raw);
    if (probe.ok && probe.value.type === 'challenge' && probe.value.protocol !== PROTOCOL_VERSION) {
      const upgrade = probe.value.protocol < PROTOCOL_VERSION ? 'the orchestrator' : 'this agent';
      return this.refused(
        `the orchestrator speaks protocol ${probe.value.protocol}, this agent ${PROTOCOL_VERSION}: upgrade ${upgrade} to the same ironlab version`,
      );
    }
    const parsed = parseMessage(ServerMessage, raw);
    if (!parsed.ok) return this.drop(`unauthenticated orchestrator sent an invalid message (${parsed.reason})`);
    const msg = parsed.value;
    switch (msg.type) {
      case 'challenge': {
        if (this.transcript) return this.drop('second challenge');
        this.transcript = { hostId: this.opts.hostId, serverNonce: msg.nonce, agentNonce: randomBytes(32).toString('hex') };
        const proof = handshakeProof(this.key, 'agent', this.transcript);
        this.ws?.send(
          JSON.stringify({
            type: 'hello',
            hostId: this.opts.hostId,
            backend: this.opts.backend.kind,
            version: this.opts.version,
            protocol: PROTOCOL_VERSION,
            nonce: this.transcript.agentNonce,
            proof,
          } satisfies AgentMessage),
        );
        return;
      }
      case 'welcome':
        // Obey only an orchestrator that holds this host's key: it proves it over both nonces.
        if (
          !this.transcript ||
          msg.hostId !== this.opts.hostId ||
          !verifyHandshakeProof(this.key, 'orchestrator', this.transcript, msg.proof)
        )
          return this.drop('the orchestrator did not prove the token; not obeying it');
        this.channel = new SecureChannel(this.key, 'agent', this.transcript);
        this.authenticated = true;
        this.attempt = 0;
        this.heardFromServer();
        if (this.reapTimer) clearTimeout(this.reapTimer);
        this.reapTimer = null;
        this.log(`connected to ${this.opts.url} as ${this.opts.hostId}`);
        return;
      case 'error':
        this.log(`orchestrator says: ${msg.error.code}: ${msg.error.message}`);
        return;
      case 'request':
        return this.drop(`request '${msg.op}' from an orchestrator that has not proved the token; not run`);
    }
  }

  /** A frame on an established channel: only an authentic, in-order one reaches the dispatcher. */
  private onSealed(raw: WebSocket.RawData): void {
    const opened = this.channel!.open(raw);
    if (!opened.ok) return this.drop(`${opened.reason}; closing the connection`, CLOSE.protocol);
    this.heardFromServer();
    const parsed = parseMessage(ServerMessage, opened.json);
    if (!parsed.ok) return this.send({ type: 'error', error: { code: 'INVALID_MESSAGE', message: parsed.reason, retryable: false } });
    const msg = parsed.value;
    if (msg.type === 'error') return this.log(`orchestrator says: ${msg.error.code}: ${msg.error.message}`);
    if (msg.type === 'beat') return this.send({ type: 'beat', n: msg.n });
    if (msg.type !== 'request')
      return this.send({
        type: 'error',
        error: { code: 'INVALID_MESSAGE', message: `unexpected '${msg.type}' after the handshake`, retryable: false },
      });
    void this.dispatcher
      .handle(msg.id, msg.op, msg.args)
      .then((outcome) =>
        this.send(
          outcome.ok
            ? { type: 'response', id: msg.id, ok: true, result: outcome.result }
            : { type: 'response', id: msg.id, ok: false, error: outcome.error },
        ),
      );
  }

  /** Not our orchestrator (or a broken one): close and dial again with backoff; the reaper keeps counting. */
  private drop(why: string, code: number = CLOSE.forbidden): void {
    this.log(why);
    this.droppedByUs = true;
    this.ws?.close(code, why.slice(0, 120));
  }

  /** A version mismatch: retrying cannot help. */
  private refused(message: string): void {
    this.log(message);
    this.stopped = true;
    this.clearTimers();
    this.ws?.close(CLOSE.protocol, message.slice(0, 120));
    this.resolveExit({ reason: 'refused', message });
  }

  private onClose(code: number, reason: string): void {
    const wasAuthenticated = this.authenticated;
    this.authenticated = false;
    const droppedByUs = this.droppedByUs;
    this.transcript = null;
    this.channel = null;
    this.droppedByUs = false;
    this.ws = null;
    if (this.silenceTimer) clearTimeout(this.silenceTimer);
    if (this.stopped) return;
    if (!droppedByUs && (code === CLOSE.unauthenticated || code === CLOSE.forbidden)) {
      // Wrong token or unknown host: retrying cannot help, and looping would hide the mistake.
      this.stopped = true;
      this.clearTimers();
      this.resolveExit({ reason: 'refused', message: reason || `refused by the orchestrator (close code ${code})` });
      return;
    }
    if (wasAuthenticated) this.log(`orchestrator went away (${code}${reason ? `: ${reason}` : ''}); reconnecting`);
    this.armReaper();
    const base = Math.min(this.opts.maxBackoffMs ?? 10_000, (this.opts.minBackoffMs ?? 250) * 2 ** this.attempt++);
    const delay = base / 2 + Math.random() * (base / 2);
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  /** After the grace period without an orchestrator, remove what our runs created. */
  private armReaper(): void {
    if (this.reapTimer) return;
    this.reapTimer = setTimeout(async () => {
      this.reapTimer = null;
      this.dispatcher.abortAll();
      try {
        const removed = await this.opts.backend.reap();
        this.log(`orchestrator gone for ${this.opts.reapGraceMs ?? 30_000} ms: reaped ${removed.length} resource(s)`);
      } catch (err) {
        this.log(`reaper failed: ${(err as Error).message}`);
      }
    }, this.opts.reapGraceMs ?? 30_000);
    this.reapTimer.unref();
  }

  private heardFromServer(): void {
    if (this.silenceTimer) clearTimeout(this.silenceTimer);
    this.silenceTimer = setTimeout(() => {
      this.log('no heartbeat from the orchestrator; reconnecting');
      this.ws?.terminate();
    }, this.opts.silenceTimeoutMs ?? 15_000);
  }

  /** After the handshake only: sealed. A response whose connection is gone is dropped (the op id is remembered). */
  private send(msg: AgentMessage): void {
    if (this.channel && this.ws?.readyState === WebSocket.OPEN) this.ws.send(this.channel.seal(msg));
  }

  private clearTimers(): void {
    for (const t of [this.reapTimer, this.silenceTimer, this.reconnectTimer]) if (t) clearTimeout(t);
    this.reapTimer = this.silenceTimer = this.reconnectTimer = null;
  }

  private log(line: string): void {
    (this.opts.log ?? ((l) => process.stderr.write(`[agent ${this.opts.hostId}] ${l}\n`)))(line);
  }
}
