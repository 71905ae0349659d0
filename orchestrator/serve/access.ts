// Who may read the dashboard. Bound to loopback (the default), anyone on this machine may, but only through a
// loopback host name (a web page elsewhere cannot reach it by pointing a name of its own at 127.0.0.1: DNS
// rebinding). Bound to any other address, every request needs the token: `Authorization: Bearer TOKEN`, or a
// cookie the page gets when it is opened once with `?token=TOKEN` (then redirected without it, so the token
// does not stay in the address bar, the history or a Referer).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export const LOOPBACK_ADDRESSES = new Set(['127.0.0.1', '::1', 'localhost']);
const LOOPBACK_NAMES = new Set(['127.0.0.1', 'localhost', '[::1]']);
export const MIN_TOKEN_LENGTH = 16;

export function generateToken(): string {
  return randomBytes(24).toString('base64url');
}

export type Verdict = { ok: true; setCookie?: string; strippedUrl?: string } | { ok: false; status: 401 | 403; message: string };

export class Access {
  private readonly digest: Buffer | null;
  readonly cookieName: string;

  /** token null: loopback only, no token asked. */
  constructor(
    readonly token: string | null,
    port: number,
  ) {
    this.digest = token === null ? null : sha256(token);
    // cookies are per host, not per port: two dashboards on one machine must not read each other's
    this.cookieName = `ironlab_token_${port}`;
  }

  check(req: IncomingMessage): Verdict {
    if (this.digest === null) {
      const host = (req.headers.host ?? '').replace(/:\d+$/, '').toLowerCase();
      return LOOPBACK_NAMES.has(host)
        ? { ok: true }
        : { ok: false, status: 403, message: `this dashboard answers only to 127.0.0.1, localhost or [::1], not '${host}'` };
    }
    const url = new URL(req.url ?? '/', 'http://dashboard');
    const fromQuery = url.searchParams.get('token');
    const given = bearer(req) ?? fromQuery ?? cookie(req, this.cookieName);
    if (given === null)
      return {
        ok: false,
        status: 401,
        message:
          'this dashboard needs its token: open the address `ironlab serve` printed (it ends in ?token=...), or send Authorization: Bearer TOKEN',
      };
    if (!timingSafeEqual(sha256(given), this.digest)) return { ok: false, status: 401, message: 'wrong token' };
    if (fromQuery === null) return { ok: true };
    url.searchParams.delete('token');
    return {
      ok: true,
      setCookie: `${this.cookieName}=${encodeURIComponent(given)}; HttpOnly; SameSite=Strict; Path=/`,
      strippedUrl: url.pathname + url.search,
    };
  }
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

function bearer(req: IncomingMessage): string | null {
  const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  return m ? m[1] : null;
}

function cookie(req: IncomingMessage, name: string): string | null {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return decodeURIComponent(part.slice(i + 1).trim());
  }
  return null;
}
