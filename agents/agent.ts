// The host agent: dials the orchestrator, proves the shared token, then answers ops with its backend.
// It reconnects with backoff while the orchestrator is away; after a grace period without one it reaps
// everything it created, so a crashed orchestrator never leaves containers, qdiscs or pins behind.
import WebSocket from 'ws';
import type { Backend } from './backend.ts';
import { OpDispatcher } from './dispatcher.ts';
import { CLOSE, MAX_MESSAGE_BYTES, PROTOCOL_VERSION, ServerMessage, parseMessage, proofFor, type AgentMessage } from './protocol.ts';

export interface AgentOptions {
  url: string;
  token: string;
  hostId: string;
  backend: Backend;
  version: string;
  /** Reap everything after the orchestrator has been gone this long. */
  reapGraceMs?: number;
  /** Declare the orchestrator gone when it has not pinged for this long. */
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
  private reapTimer: NodeJS.Timeout | null = null;
  private silenceTimer: NodeJS.Timeout | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private resolveExit!: (exit: AgentExit) => void;
  /** Resolves when the agent stops for good: stop() was called, or the orchestrator refused our credentials. */
  readonly exited: Promise<AgentExit> = new Promise((r) => (this.resolveExit = r));

  constructor(private readonly opts: AgentOptions) {
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
    ws.on('ping', () => this.heardFromServer());
    ws.on('message', (raw) => this.onMessage(raw));
    ws.on('error', (err) => this.log(`connection error: ${err.message}`));
    ws.on('close', (code, reason) => this.onClose(code, reason.toString()));
  }

  private onMessage(raw: WebSocket.RawData): void {
    this.heardFromServer();
    const parsed = parseMessage(ServerMessage, raw);
    if (!parsed.ok) {
      this.send({ type: 'error', error: { code: 'INVALID_MESSAGE', message: parsed.reason, retryable: false } });
      return;
    }
    const msg = parsed.value;
    switch (msg.type) {
      case 'challenge': {
        const proof = proofFor(this.opts.token, msg.nonce);
        this.send({ type: 'hello', hostId: this.opts.hostId, backend: this.opts.backend.kind, version: this.opts.version, protocol: PROTOCOL_VERSION, proof });
        return;
      }
      case 'welcome':
        this.authenticated = true;
        this.attempt = 0;
        if (this.reapTimer) clearTimeout(this.reapTimer);
        this.reapTimer = null;
        this.log(`connected to ${this.opts.url} as ${this.opts.hostId}`);
        return;
      case 'error':
        this.log(`orchestrator says: ${msg.error.code}: ${msg.error.message}`);
        return;
      case 'request':
        if (!this.authenticated) return; // never reached: the server sends no request before welcome
        void this.dispatcher.handle(msg.id, msg.op, msg.args).then((outcome) =>
          this.send(outcome.ok ? { type: 'response', id: msg.id, ok: true, result: outcome.result } : { type: 'response', id: msg.id, ok: false, error: outcome.error }),
        );
        return;
    }
  }

  private onClose(code: number, reason: string): void {
    const wasAuthenticated = this.authenticated;
    this.authenticated = false;
    this.ws = null;
    if (this.silenceTimer) clearTimeout(this.silenceTimer);
    if (this.stopped) return;
    if (code === CLOSE.unauthenticated || code === CLOSE.forbidden) {
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

  private send(msg: AgentMessage): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  private clearTimers(): void {
    for (const t of [this.reapTimer, this.silenceTimer, this.reconnectTimer]) if (t) clearTimeout(t);
    this.reapTimer = this.silenceTimer = this.reconnectTimer = null;
  }

  private log(line: string): void {
    (this.opts.log ?? ((l) => process.stderr.write(`[agent ${this.opts.hostId}] ${l}\n`)))(line);
  }
}
