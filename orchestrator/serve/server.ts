// The dashboard's HTTP server (node:http, no framework): the page (a static HTML file and an ES module), a
// JSON API, each campaign's HTML report, and a server-sent event stream that pushes the campaign list and the
// watched campaign whenever they change. Every request passes the access check first (access.ts).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { Access } from './access.ts';
import { LiveFeed, type FeedEvent } from './live-feed.ts';
import type { DashboardStore } from './dashboard-store.ts';
import type { ReadQueue } from './scheduler-queue.ts';

const PAGE_DIR = join(import.meta.dirname, 'page');
const STATIC: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/dashboard.js': { file: 'dashboard.js', type: 'text/javascript; charset=utf-8' },
  '/dashboard.css': { file: 'dashboard.css', type: 'text/css; charset=utf-8' },
};
/** The page loads nothing but its own files and talks only to this server. */
const PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
/** The report is one self-contained file (inline script and styles, echarts inlined): it may fetch nothing. */
const REPORT_CSP =
  "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: blob:; font-src data:; base-uri 'none'; form-action 'none'";
/** A comment line keeps idle event streams open through proxies. */
const KEEPALIVE_MS = 15_000;

export interface DashboardServerOptions {
  store: DashboardStore;
  host: string;
  port: number;
  /** null: no token (loopback only). */
  token: string | null;
  tickMs?: number;
  /** The lab's batch scheduler queue (Slurm's `squeue`), when there is one: shown on the page. */
  queue?: ReadQueue;
  queueEveryMs?: number;
}

export class DashboardServer {
  private readonly server: Server;
  private readonly feed: LiveFeed;
  private readonly streams = new Set<ServerResponse>();
  private access: Access | null = null;

  constructor(private readonly opts: DashboardServerOptions) {
    this.feed = new LiveFeed(opts.store, { tickMs: opts.tickMs, queue: opts.queue, queueEveryMs: opts.queueEveryMs });
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  /** Listen; resolves with the address it is reachable at (`http://HOST:PORT`). */
  async listen(): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port, this.opts.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const { port } = this.server.address() as AddressInfo;
    this.access = new Access(this.opts.token, port);
    const host = this.opts.host.includes(':') ? `[${this.opts.host}]` : this.opts.host;
    return `http://${host}:${port}`;
  }

  /** End every event stream and stop listening. */
  async close(): Promise<void> {
    this.feed.stop();
    for (const res of this.streams) res.end();
    this.streams.clear();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('Cache-Control', 'no-store');
    const verdict = this.access!.check(req);
    if (!verdict.ok) {
      if (verdict.status === 401) res.setHeader('WWW-Authenticate', 'Bearer realm="ironlab"');
      return text(res, verdict.status, `${verdict.status}: ${verdict.message}\n`);
    }
    if (verdict.setCookie) {
      res.setHeader('Set-Cookie', verdict.setCookie);
      res.writeHead(303, { Location: verdict.strippedUrl! }).end();
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return text(res.setHeader('Allow', 'GET, HEAD'), 405, 'only GET\n');
    const url = new URL(req.url ?? '/', 'http://dashboard');
    try {
      await this.route(url, req, res);
    } catch (err) {
      if (!res.headersSent) text(res, 500, `500: ${(err as Error).message}\n`);
      else res.end();
    }
  }

  private async route(url: URL, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = url.pathname;
    const page = STATIC[path];
    if (page) {
      res.writeHead(200, { 'Content-Type': page.type, 'Content-Security-Policy': PAGE_CSP });
      return void res.end(readFileSync(join(PAGE_DIR, page.file)));
    }
    if (path === '/api/campaigns') return json(res, 200, { store: this.opts.store.description, campaigns: await this.feed.list() });
    if (path === '/api/queue') {
      const queue = await this.feed.queue();
      return queue ? json(res, 200, queue) : json(res, 404, { error: 'no batch scheduler here (ironlab serve found no Slurm)' });
    }
    let m = /^\/api\/campaigns\/([^/]+)$/.exec(path);
    if (m) {
      const detail = await this.feed.detail(decodeURIComponent(m[1]));
      return detail
        ? json(res, 200, detail)
        : json(res, 404, { error: `no campaign '${decodeURIComponent(m[1])}' in ${this.opts.store.description}` });
    }
    m = /^\/campaigns\/([^/]+)\/report\.html$/.exec(path);
    if (m) {
      const id = decodeURIComponent(m[1]);
      if (!(await this.opts.store.campaigns()).some((c) => c.id === id))
        return text(res, 404, `no campaign '${id}' in ${this.opts.store.description}\n`);
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Security-Policy': REPORT_CSP });
      return void res.end(await this.opts.store.reportHtml(id));
    }
    if (path === '/api/events') return this.stream(url.searchParams.get('campaign'), req, res);
    text(res, 404, `404: nothing at ${path}\n`);
  }

  /** Server-sent events: `campaigns`, `campaign` (when ?campaign=ID), `queue` (with a scheduler) and `trouble`, each a JSON object. */
  private stream(campaignId: string | null, req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', Connection: 'keep-alive' });
    res.write('retry: 1000\n\n');
    this.streams.add(res);
    const send = (e: FeedEvent) => res.write(`event: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`);
    const unwatch = this.feed.watch(campaignId, send);
    const keepalive = setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS);
    req.on('close', () => {
      clearInterval(keepalive);
      unwatch();
      this.streams.delete(res);
    });
  }
}

function text(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' }).end(body);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
}
