// The authenticated channel between an orchestrator and one agent. Each host has its own key, derived from the
// campaign's or testbed's token with HKDF over the host id (a host can be given only its key: it then cannot
// speak for another host). The handshake is mutual: the agent proves the key over both nonces, the host id and
// the protocol version, and the orchestrator answers with its own proof over the same, so an agent obeys no
// one who does not hold its key. After it, every frame is `SEQ MAC JSON`: a sequence number counting up from 0
// per direction and an HMAC-SHA256 over `SEQ JSON` with that direction's key (derived from the host key and both
// nonces), so a frame cannot be forged, replayed into another connection, replayed, dropped or reordered.
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { PROTOCOL_VERSION } from './protocol.ts';

/** A key file holding one host's key instead of the shared token: `ironlab-host-key:HOST:HEX`. */
const HOST_KEY_PREFIX = 'ironlab-host-key:';

export type Role = 'agent' | 'orchestrator';

/** What both proofs bind: who, which two fresh nonces, which protocol. */
export interface Transcript {
  hostId: string;
  serverNonce: string;
  agentNonce: string;
}

/** The host's key: derived from the shared token, or read as is from a per-host key file's contents. */
export function hostKey(secret: string, hostId: string): Buffer {
  if (secret.startsWith(HOST_KEY_PREFIX)) {
    const [owner, hex] = secret.slice(HOST_KEY_PREFIX.length).split(':');
    if (owner !== hostId) throw new Error(`this key is host ${owner}'s, not ${hostId}'s`);
    if (!/^[0-9a-f]{64}$/.test(hex ?? '')) throw new Error('malformed host key (expected 64 hex digits)');
    return Buffer.from(hex, 'hex');
  }
  return Buffer.from(hkdfSync('sha256', secret, 'ironlab host key', `ironlab/host/${hostId}`, 32));
}

/** The contents of a key file for one host (what a lab host is given instead of the token). */
export function hostKeyFile(secret: string, hostId: string): string {
  return `${HOST_KEY_PREFIX}${hostId}:${hostKey(secret, hostId).toString('hex')}`;
}

export function handshakeProof(key: Buffer, role: Role, t: Transcript, protocol = PROTOCOL_VERSION): string {
  return createHmac('sha256', key).update(`ironlab/${protocol}/${role}\0${t.hostId}\0${t.serverNonce}\0${t.agentNonce}`).digest('hex');
}

export function verifyHandshakeProof(key: Buffer, role: Role, t: Transcript, proof: string): boolean {
  return equalHex(handshakeProof(key, role, t), proof);
}

export type Opened = { ok: true; json: string } | { ok: false; reason: string };

/** One side's end of an established channel: seals what it sends, opens (checks) what it receives. */
export class SecureChannel {
  private readonly sendKey: Buffer;
  private readonly recvKey: Buffer;
  private sendSeq = 0;
  private recvSeq = 0;

  constructor(key: Buffer, role: Role, t: Transcript) {
    const salt = `${t.serverNonce}${t.agentNonce}`;
    const dir = (from: Role) =>
      Buffer.from(hkdfSync('sha256', key, salt, `ironlab/${PROTOCOL_VERSION}/frames-from-${from}/${t.hostId}`, 32));
    this.sendKey = dir(role);
    this.recvKey = dir(role === 'agent' ? 'orchestrator' : 'agent');
  }

  seal(msg: unknown): string {
    const json = JSON.stringify(msg);
    const seq = this.sendSeq++;
    return `${seq} ${mac(this.sendKey, seq, json)} ${json}`;
  }

  /** Checks the MAC and that the frame is the next one; a frame that fails is never parsed. */
  open(raw: unknown): Opened {
    const frame =
      typeof raw === 'string'
        ? raw
        : Buffer.isBuffer(raw)
          ? raw.toString('utf8')
          : Array.isArray(raw)
            ? Buffer.concat(raw).toString('utf8')
            : Buffer.from(raw as ArrayBuffer).toString('utf8');
    const m = /^(\d{1,15}) ([0-9a-f]{64}) /.exec(frame);
    if (!m) return { ok: false, reason: 'frame without sequence number and MAC' };
    const seq = Number(m[1]);
    const json = frame.slice(m[0].length);
    if (!equalHex(mac(this.recvKey, seq, json), m[2])) return { ok: false, reason: 'frame MAC does not verify' };
    if (seq !== this.recvSeq) return { ok: false, reason: `frame ${seq} out of order (expected ${this.recvSeq})` };
    this.recvSeq++;
    return { ok: true, json };
  }
}

function mac(key: Buffer, seq: number, json: string): string {
  return createHmac('sha256', key).update(`${seq} ${json}`).digest('hex');
}

function equalHex(expectedHex: string, given: string): boolean {
  const a = Buffer.from(expectedHex, 'hex');
  const b = /^[0-9a-f]*$/.test(given) ? Buffer.from(given, 'hex') : Buffer.alloc(0);
  return a.length === b.length && timingSafeEqual(a, b);
}
