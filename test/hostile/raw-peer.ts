// The agent protocol written again from its description (agents/protocol.ts, agents/channel.ts), with node:crypto
// and ws only: none of the project's agent or hub code. Tests use it as an independent, scriptable peer: a
// hostile client of the hub, a rogue orchestrator, or an honest one that then misbehaves on purpose.
import { createHmac, hkdfSync, randomBytes } from 'node:crypto';
import WebSocket, { WebSocketServer } from 'ws';

export const PROTOCOL = 3;

export function keyFor(token: string, hostId: string): Buffer {
  return Buffer.from(hkdfSync('sha256', token, 'ironlab host key', `ironlab/host/${hostId}`, 32));
}

export function proofOf(
  key: Buffer,
  role: 'agent' | 'orchestrator',
  hostId: string,
  serverNonce: string,
  agentNonce: string,
  protocol = PROTOCOL,
): string {
  return createHmac('sha256', key).update(`ironlab/${protocol}/${role}\0${hostId}\0${serverNonce}\0${agentNonce}`).digest('hex');
}

/** Frame sealing as both sides do it; `me` is who sends with `seal`. */
export class Frames {
  sendSeq = 0;
  recvSeq = 0;
  readonly sendKey: Buffer;
  readonly recvKey: Buffer;
  constructor(key: Buffer, me: 'agent' | 'orchestrator', hostId: string, serverNonce: string, agentNonce: string) {
    const dir = (from: string) =>
      Buffer.from(hkdfSync('sha256', key, serverNonce + agentNonce, `ironlab/${PROTOCOL}/frames-from-${from}/${hostId}`, 32));
    this.sendKey = dir(me);
    this.recvKey = dir(me === 'agent' ? 'orchestrator' : 'agent');
  }
  seal(msg: unknown, seq = this.sendSeq++): string {
    const json = typeof msg === 'string' ? msg : JSON.stringify(msg);
    return `${seq} ${createHmac('sha256', this.sendKey).update(`${seq} ${json}`).digest('hex')} ${json}`;
  }
  open(frame: string): any {
    const m = /^(\d+) ([0-9a-f]{64}) /.exec(frame);
    if (!m) throw new Error(`not a sealed frame: ${frame.slice(0, 80)}`);
    const json = frame.slice(m[0].length);
    if (createHmac('sha256', this.recvKey).update(`${m[1]} ${json}`).digest('hex') !== m[2]) throw new Error('bad MAC');
    if (Number(m[1]) !== this.recvSeq++) throw new Error('out of order');
    return JSON.parse(json);
  }
}

export interface RawClient {
  ws: WebSocket;
  /** Plain messages before the handshake, opened ones after. */
  messages: any[];
  closed: Promise<{ code: number; reason: string }>;
  frames: Frames | null;
  challenge: { nonce: string; protocol: number };
}

/** Dial the hub, wait for its challenge, then let `act` speak (raw). */
export async function rawClient(
  url: string,
  act: (ws: WebSocket, challenge: { nonce: string; protocol: number }) => void,
): Promise<RawClient> {
  const ws = new WebSocket(url, { maxPayload: 64 << 20 });
  const client = { ws, messages: [] as any[], frames: null as Frames | null } as RawClient;
  client.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  ws.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    ws.once('close', () => reject(new Error('closed before the challenge')));
    ws.on('message', (raw) => {
      const text = raw.toString();
      if (client.frames) {
        const opened = client.frames.open(text);
        // an honest agent echoes each sealed beat, sealed (protocol 3); otherwise the hub declares it lost
        if (opened?.type === 'beat') return void ws.send(client.frames.seal(opened));
        return void client.messages.push(opened);
      }
      const msg = JSON.parse(text);
      client.messages.push(msg);
      if (msg.type === 'challenge') {
        client.challenge = msg;
        act(ws, msg);
        resolve();
      }
    });
  });
  return client;
}

/** An honest handshake as `hostId` with `key`; resolves once the hub's welcome proved the key back. */
export async function rawAgent(url: string, hostId: string, key: Buffer): Promise<RawClient & { sendSealed(msg: unknown): void }> {
  const agentNonce = randomBytes(32).toString('hex');
  let serverNonce = '';
  const client = await rawClient(url, (ws, ch) => {
    serverNonce = ch.nonce;
    ws.send(
      JSON.stringify({
        type: 'hello',
        hostId,
        backend: 'sim',
        version: 'raw',
        protocol: PROTOCOL,
        nonce: agentNonce,
        proof: proofOf(key, 'agent', hostId, ch.nonce, agentNonce),
      }),
    );
  });
  await until(() => client.messages.some((m) => m.type === 'welcome') || client.ws.readyState !== WebSocket.OPEN);
  const welcome = client.messages.find((m) => m.type === 'welcome');
  if (!welcome) throw new Error(`not welcomed: ${JSON.stringify(client.messages.at(-1))}`);
  if (welcome.proof !== proofOf(key, 'orchestrator', hostId, serverNonce, agentNonce)) throw new Error('the hub did not prove the key');
  client.frames = new Frames(key, 'agent', hostId, serverNonce, agentNonce);
  return Object.assign(client, { sendSealed: (msg: unknown) => client.ws.send(client.frames!.seal(msg)) });
}

/** A WebSocket server that plays orchestrator: `onConnection` gets each socket and the hello it received. */
export async function rawOrchestrator(
  onHello: (ws: WebSocket, hello: any, challengeNonce: string) => void,
): Promise<{ url: string; port: number; received: any[]; close(): Promise<void> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((r) => wss.once('listening', r));
  const received: any[] = [];
  wss.on('connection', (ws) => {
    const nonce = randomBytes(32).toString('hex');
    ws.on('error', () => {});
    ws.on('message', (raw) => {
      const text = raw.toString();
      let msg: any = text;
      try {
        msg = JSON.parse(text);
      } catch {
        // sealed frames and garbage are recorded as text
      }
      received.push(msg);
      if (msg?.type === 'hello') onHello(ws, msg, nonce);
    });
    ws.send(JSON.stringify({ type: 'challenge', nonce, protocol: PROTOCOL }));
  });
  const port = (wss.address() as { port: number }).port;
  return {
    url: `ws://127.0.0.1:${port}`,
    port,
    received,
    close: () =>
      new Promise<void>((r) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => r());
      }),
  };
}

export async function until(probe: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}
