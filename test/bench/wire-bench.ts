// The agent channel's cost: how long a connection takes from dial to authenticated both ways (challenge, hello
// with the agent's proof, welcome with the orchestrator's), against a bare WebSocket connect on the same
// loopback; the crypto of one handshake (key derivation, two proofs, the channel keys, both sides); and the
// cost of sealing and opening one frame (a 40-sample result, and a progress event: the most frequent frame).
import { randomBytes } from 'node:crypto';
import { WebSocket, WebSocketServer } from 'ws';
import { Agent } from '../../agents/agent.ts';
import { SecureChannel, handshakeProof, hostKey, verifyHandshakeProof } from '../../agents/channel.ts';
import { AgentHub } from '../../orchestrator/hub/hub.ts';
import { FakeBackend } from '../fakes/fake-backend.ts';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

export async function benchWire(connections = 200): Promise<Record<string, number>> {
  const token = randomBytes(32).toString('hex');
  const hub = new AgentHub({ token, expectedHosts: new Set(['h1']) });
  const url = await hub.listen();
  const plain = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((r) => plain.once('listening', r));
  const plainUrl = `ws://127.0.0.1:${(plain.address() as { port: number }).port}`;
  const handshake: number[] = [];
  const bare: number[] = [];
  try {
    for (let i = 0; i < connections; i++) {
      let t0 = process.hrtime.bigint();
      const ws = new WebSocket(plainUrl);
      await new Promise((r) => ws.once('open', r));
      bare.push(ms(t0));
      ws.terminate();
      const agent = new Agent({ url, token, hostId: 'h1', backend: new FakeBackend('h1'), version: 'bench', log: () => {} });
      const ready = new Promise((r) => hub.once('ready', r));
      t0 = process.hrtime.bigint();
      (agent as unknown as { connect(): void }).connect(); // the dial alone (start() first reaps)
      await ready;
      while (!agent.connected) await new Promise((r) => setImmediate(r)); // the agent checked the welcome
      handshake.push(ms(t0));
      await agent.stop();
    }
  } finally {
    await hub.close();
    await new Promise((r) => plain.close(r));
  }
  // the crypto alone, both sides of one handshake
  const n = 2000;
  const t = { hostId: 'h1', serverNonce: randomBytes(32).toString('hex'), agentNonce: randomBytes(32).toString('hex') };
  let t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const ka = hostKey(token, 'h1');
    const kh = hostKey(token, 'h1');
    verifyHandshakeProof(kh, 'agent', t, handshakeProof(ka, 'agent', t));
    verifyHandshakeProof(ka, 'orchestrator', t, handshakeProof(kh, 'orchestrator', t));
    new SecureChannel(ka, 'agent', t);
    new SecureChannel(kh, 'orchestrator', t);
  }
  const cryptoUs = (ms(t0) * 1000) / n;
  const a = new SecureChannel(hostKey(token, 'h1'), 'agent', t);
  const h = new SecureChannel(hostKey(token, 'h1'), 'orchestrator', t);
  const frame = {
    type: 'response',
    id: 'c/r/a1/run.collect',
    ok: true,
    result: { samples: Array.from({ length: 40 }, (_, i) => ({ metric: 'm', value: i, unit: 's', labels: {} })) },
  };
  t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) if (!h.open(a.seal(frame)).ok) throw new Error('frame did not open');
  const frameUs = (ms(t0) * 1000) / n;
  const progress = { type: 'event', id: 'c/r/a1/run.measure', event: 'progress', data: { phase: 'measure', fraction: 0.4213 } };
  t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) if (!h.open(a.seal(progress)).ok) throw new Error('frame did not open');
  const progressUs = (ms(t0) * 1000) / n;
  const r = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;
  return {
    handshakeMs: r(median(handshake)),
    bareWsConnectMs: r(median(bare)),
    handshakeAddedMs: r(median(handshake) - median(bare)),
    handshakeCryptoUs: r(cryptoUs, 1),
    frameSealOpenUs: r(frameUs, 1),
    progressFrameSealOpenUs: r(progressUs, 1),
  };
}
