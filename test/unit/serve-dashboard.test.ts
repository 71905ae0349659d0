// The dashboard's server (orchestrator/serve/): what it serves, to whom, and what it pushes. A real server on
// loopback over a real store; campaigns are written through the Store API while a client listens.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunTimes } from '../../orchestrator/store/store.ts';
import { SqliteStore } from '../../orchestrator/store/sqlite-store.ts';
import { loadCampaign, hashSpec } from '../../orchestrator/campaign/spec.ts';
import { expandCampaign } from '../../orchestrator/campaign/matrix.ts';
import { campaignSummary } from '../../orchestrator/commands/summary.ts';
import { DashboardServer } from '../../orchestrator/serve/server.ts';
import { sqliteDashboardStore } from '../../orchestrator/serve/dashboard-store.ts';
import { progressOf } from '../../orchestrator/serve/progress.ts';
import { orchestratorAlive, MIN_SILENCE_S } from '../../orchestrator/serve/liveness.ts';
import { stateOf } from '../../orchestrator/serve/campaign-view.ts';
import { orchestratorIdentity } from '../../orchestrator/heartbeat.ts';
import { buildReportStore } from '../fixtures/report/build-store.ts';

const TOKEN = 'a-test-token-of-24-chars';

function run(status: RunTimes['status'], startedS: number | null, finishedS: number | null): RunTimes {
  const at = (s: number | null) => (s === null ? null : new Date(s * 1000).toISOString());
  return {
    runId: `r${Math.random()}`,
    scenarioId: 's',
    enforcement: 'none',
    status,
    attempts: startedS === null ? 0 : 1,
    hostId: 'h',
    startedAt: at(startedS),
    finishedAt: at(finishedS),
  };
}

describe('progress and ETA', () => {
  it('counts the runs and projects the end from the recent pace (runs per wall second, hosts in parallel)', () => {
    // two hosts, one run each per 10 s: 4 finished in the 20 s since the first started, 6 left -> 30 s
    const runs = [
      run('done', 0, 10),
      run('done', 0, 10),
      run('done', 10, 20),
      run('failed', 10, 20),
      run('running', 20, null),
      run('running', 20, null),
      ...Array.from({ length: 4 }, () => run('todo', null, null)),
    ];
    const p = progressOf(runs, 20_000, true);
    expect(p).toMatchObject({ total: 10, done: 3, failed: 1, running: 2, todo: 4, startedAt: new Date(0).toISOString(), runsPerMin: 12 });
    expect(p.etaAt).toBe(new Date(20_000 + 30_000).toISOString());
    // a stall (nothing finished for 20 s more) lengthens it: 4 runs in 40 s
    expect(progressOf(runs, 40_000, true).etaAt).toBe(new Date(40_000 + 60_000).toISOString());
    // not running (stale, done): no ETA, and the pace is that of its runs
    expect(progressOf(runs, 99_000, false)).toMatchObject({ etaAt: null, runsPerMin: 12 });
    expect(progressOf([run('todo', null, null)], 1000, true)).toMatchObject({ etaAt: null, runsPerMin: null, startedAt: null });
  });
});

describe('running, queued or stale', () => {
  const beat = { user: 'ana', host: 'lab-orch', pid: 4242, everyS: 2, heartbeatAt: new Date(100_000).toISOString() };
  const elsewhere = { host: 'dashboard-host', pidAlive: () => true };

  it('an orchestrator is gone after a few missed beats, or at once when its pid is gone on this host', () => {
    expect(orchestratorAlive(beat, 100_000 + MIN_SILENCE_S * 1000, elsewhere)).toBe(true);
    expect(orchestratorAlive(beat, 100_000 + MIN_SILENCE_S * 1000 + 1, elsewhere)).toBe(false);
    expect(orchestratorAlive(beat, 100_500, { host: 'lab-orch', pidAlive: (pid) => pid !== 4242 })).toBe(false);
    expect(orchestratorAlive(beat, 100_500, { host: 'lab-orch', pidAlive: () => true })).toBe(true);
    expect(orchestratorAlive(null, 0, elsewhere)).toBeNull();
  });

  it('derives the state from the stored status, the ledger and the orchestrator', () => {
    const activity = (attempts: number) => ({
      campaignId: 'c',
      status: 'running' as const,
      total: 4,
      done: 0,
      failed: 0,
      running: attempts ? 1 : 0,
      attempts,
      lastChangeAt: null,
      orchestrator: null,
    });
    expect(stateOf('running', activity(0), true)).toBe('queued');
    expect(stateOf('running', activity(1), true)).toBe('running');
    expect(stateOf('running', activity(1), null)).toBe('running');
    expect(stateOf('running', activity(1), false)).toBe('stale');
    expect(stateOf('queued', activity(0), false)).toBe('stale');
    for (const s of ['done', 'failed', 'aborted']) expect(stateOf(s, activity(1), false)).toBe(s);
  });
});

/** Server-sent events from a real stream, parsed as a browser's EventSource would. */
function eventStream(url: string, headers: Record<string, string> = {}) {
  const events: { event: string; data: any }[] = [];
  const ctrl = new AbortController();
  const waiters: (() => void)[] = [];
  void (async () => {
    const res = await fetch(url, { headers, signal: ctrl.signal });
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of res.body!) {
        buf += decoder.decode(chunk as Uint8Array, { stream: true });
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data) events.push({ event, data: JSON.parse(data) });
          waiters.splice(0).forEach((w) => w());
        }
      }
    } catch {
      // aborted
    }
  })();
  return {
    events,
    async next(pred: (e: { event: string; data: any }) => boolean, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hit = events.find(pred);
        if (hit) return hit;
        if (Date.now() > deadline) throw new Error(`no such event in ${JSON.stringify(events.map((e) => e.event))}`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 200);
        });
      }
    },
    close: () => ctrl.abort(),
  };
}

describe('the dashboard server on loopback, without a token', () => {
  let built: Awaited<ReturnType<typeof buildReportStore>>;
  let server: DashboardServer;
  let url: string;

  beforeAll(async () => {
    built = await buildReportStore([
      { id: 'c-old', createdAt: '2024-05-01T10:00:00.000Z' },
      { id: 'c-fail', createdAt: '2024-05-02T10:00:00.000Z', failures: [['sysbench', 'none', 0]] },
    ]);
    server = new DashboardServer({ store: sqliteDashboardStore(built.path), host: '127.0.0.1', port: 0, token: null, tickMs: 50 });
    url = await server.listen();
  });
  afterAll(async () => server?.close());

  it('lists the campaigns, newest first, with state, who, hosts and progress', async () => {
    const res = await fetch(`${url}/api/campaigns`);
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.store).toBe(built.path);
    expect(body.campaigns.map((c: any) => [c.id, c.state, c.startedBy])).toEqual([
      ['c-fail', 'failed', 'lab-orchestrator'],
      ['c-old', 'done', 'lab-orchestrator'],
    ]);
    expect(body.campaigns[0].progress).toMatchObject({ total: 135, done: 134, failed: 1, running: 0, todo: 0, etaAt: null });
  });

  it("gives a campaign's penalties from the same analysis as `ironlab report`", async () => {
    const detail = await (await fetch(`${url}/api/campaigns/c-old`)).json();
    const store = SqliteStore.open(built.path);
    const expected = (await campaignSummary(store, 'c-old')).json.scenarios;
    await store.close();
    expect(detail.penalties).toHaveLength(expected.length);
    expect(detail.penalties.map((p: any) => [p.scenario, p.enforcement, p.mean, p.ci95, p.n])).toEqual(
      expected.map((s) => [s.id, s.enforcement, s.penalty.mean, s.penalty.ci95, s.penalty.n]),
    );
    expect(detail.reportUrl).toBe('/campaigns/c-old/report.html');
    expect((await fetch(`${url}/api/campaigns/nope`)).status).toBe(404);
  });

  it('serves the HTML report of `ironlab report --format html`, which may load nothing', async () => {
    const res = await fetch(`${url}/campaigns/c-old/report.html`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    const html = await res.text();
    expect(html).toContain('id="verdict"');
    expect(html).toContain('c-old');
    expect((await fetch(`${url}/campaigns/nope/report.html`)).status).toBe(404);
  });

  it('serves the page and its module with a policy that allows nothing but this server', async () => {
    const page = await fetch(`${url}/`);
    expect(page.headers.get('content-security-policy')).toMatch(/script-src 'self'.*connect-src 'self'/);
    expect(await page.text()).toContain('<script type="module" src="/dashboard.js">');
    expect((await fetch(`${url}/dashboard.js`)).headers.get('content-type')).toMatch(/^text\/javascript/);
    expect((await fetch(`${url}/`, { method: 'POST' })).status).toBe(405);
    expect((await fetch(`${url}/nothing`)).status).toBe(404);
  });

  it('answers only to loopback names (a page elsewhere cannot rebind a name of its own to it)', async () => {
    const http = await import('node:http');
    const status = await new Promise<number>((resolve) =>
      http.get(`${url}/api/campaigns`, { headers: { host: `evil.example:${new URL(url).port}` } }, (res) => resolve(res.statusCode!)),
    );
    expect(status).toBe(403);
  });

  it('pushes a new campaign and its progress as runs complete, and marks it stale when its orchestrator is gone', async () => {
    const loaded = loadCampaign('smoke');
    const id = 'c-live';
    const plan = expandCampaign(loaded.spec, id);
    const store = SqliteStore.open(built.path);
    const events = eventStream(`${url}/api/events?campaign=${id}`);
    try {
      await events.next((e) => e.event === 'campaigns');
      await events.next((e) => e.event === 'campaign' && e.data === null);
      await store.createCampaign(
        {
          id,
          name: 'smoke',
          mode: 'sim',
          createdAt: new Date().toISOString(),
          spec: loaded.spec,
          specHash: hashSpec(loaded.spec),
          sourcePath: 'builtin:smoke',
          sourceText: '',
          seed: 1,
          provenance: {},
        },
        plan,
      );
      await store.heartbeat(id, orchestratorIdentity());
      const queued = await events.next((e) => e.event === 'campaigns' && e.data[0]?.id === id);
      expect(queued.data[0]).toMatchObject({
        state: 'queued',
        hosts: [{ id: 'sim-1', backend: 'sim' }],
        progress: { total: plan.length, done: 0 },
      });
      expect(queued.data[0].startedBy).toBe(`${orchestratorIdentity().user}@${orchestratorIdentity().host}`);

      const control = plan.find((r) => r.workload === 'sysbench' && r.enforcement === 'none')!;
      const flood = plan.find((r) => r.workload === 'tcp-receiver' && r.enforcement === 'none')!;
      for (const [r, eps] of [
        [control, 1000],
        [flood, 400],
      ] as const) {
        await store.startRun(id, r.runId, 'sim-1');
        await store.completeRun(
          id,
          r.runId,
          [{ metric: 'victim_events_per_sec', value: eps, unit: 'events/s', labels: { container: 'victim' } }],
          {},
        );
      }
      const two = await events.next((e) => e.event === 'campaign' && e.data?.progress.done === 2);
      expect(two.data.state).toBe('running');
      expect(two.data.progress.etaAt).not.toBeNull();
      expect(two.data.penalties.find((p: any) => p.scenario === flood.scenarioId && p.enforcement === 'none')).toMatchObject({
        mean: 2.5,
        n: 1,
        ci95: null,
      });

      // an orchestrator on this host whose process is gone: stale at once, not at the next beat
      await store.heartbeat(id, { ...orchestratorIdentity(), pid: 2 ** 22 + 1 });
      const stale = await events.next((e) => e.event === 'campaigns' && e.data[0]?.state === 'stale');
      expect(stale.data[0].progress.etaAt).toBeNull();
    } finally {
      events.close();
      await store.close();
    }
  });
});

describe('the dashboard server with a token', () => {
  let built: Awaited<ReturnType<typeof buildReportStore>>;
  let server: DashboardServer;
  let url: string;

  beforeAll(async () => {
    built = await buildReportStore([{ id: 'c-tok' }]);
    server = new DashboardServer({ store: sqliteDashboardStore(built.path), host: '127.0.0.1', port: 0, token: TOKEN });
    url = await server.listen();
  });
  afterAll(async () => server?.close());

  it('answers 401 without the token or with a wrong one, on every path', async () => {
    for (const path of ['/', '/dashboard.js', '/api/campaigns', '/api/events', '/campaigns/c-tok/report.html']) {
      const none = await fetch(`${url}${path}`);
      expect(none.status).toBe(401);
      expect(none.headers.get('www-authenticate')).toContain('Bearer');
      expect(await none.text()).toContain('needs its token');
      expect((await fetch(`${url}${path}`, { headers: { authorization: 'Bearer wrong-token-wrong-token' } })).status).toBe(401);
      expect((await fetch(`${url}${path}?token=${TOKEN.slice(0, -1)}`, { redirect: 'manual' })).status).toBe(401);
    }
  });

  it('takes the token as a bearer, or once in the address (then a cookie, and the token leaves the address)', async () => {
    expect((await fetch(`${url}/api/campaigns`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
    const first = await fetch(`${url}/?token=${TOKEN}`, { redirect: 'manual' });
    expect(first.status).toBe(303);
    expect(first.headers.get('location')).toBe('/');
    const cookie = first.headers.get('set-cookie')!;
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    const pair = cookie.split(';')[0];
    expect(pair.startsWith(`ironlab_token_${new URL(url).port}=`)).toBe(true);
    const page = await fetch(`${url}/`, { headers: { cookie: pair } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('ironlab dashboard');
    // another dashboard's cookie (another port) is not this one's
    expect((await fetch(`${url}/`, { headers: { cookie: pair.replace(/_\d+=/, '_1=') } })).status).toBe(401);
  });

  it('streams events to a client with the token', async () => {
    const events = eventStream(`${url}/api/events`, { authorization: `Bearer ${TOKEN}` });
    try {
      const list = await events.next((e) => e.event === 'campaigns');
      expect(list.data.map((c: any) => c.id)).toEqual(['c-tok']);
    } finally {
      events.close();
    }
  });
});

describe('a store that does not exist yet', () => {
  it('reads as empty, and is not created by the dashboard', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'ironlab-serve-')), 'later.db');
    const server = new DashboardServer({ store: sqliteDashboardStore(path), host: '127.0.0.1', port: 0, token: null });
    const url = await server.listen();
    try {
      expect((await (await fetch(`${url}/api/campaigns`)).json()).campaigns).toEqual([]);
      const { existsSync } = await import('node:fs');
      expect(existsSync(path)).toBe(false);
    } finally {
      await server.close();
    }
  });
});

describe('the Slurm queue on the dashboard', () => {
  const job = (jobId: string, state: string, where: string) => ({
    jobId,
    user: 'ana',
    state,
    elapsed: '0:05',
    timeLimit: '1:00:00',
    nodes: '2',
    where,
    campaign: `campaign c-${jobId}`,
  });

  it("pushes ironlab's jobs as the scheduler's reader gives them, and again when they change", async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'ironlab-serve-')), 'q.db');
    let jobs = [job('41', 'RUNNING', 'node[1-2]'), job('42', 'PENDING', '(Resources)')];
    let reads = 0;
    const queue = () => (reads++, jobs);
    const server = new DashboardServer({
      store: sqliteDashboardStore(path),
      host: '127.0.0.1',
      port: 0,
      token: null,
      tickMs: 20,
      queue,
      queueEveryMs: 50,
    });
    const url = await server.listen();
    const events = eventStream(`${url}/api/events`);
    try {
      const first = await events.next((e) => e.event === 'queue');
      expect(first.data).toEqual({ scheduler: 'slurm', jobs, error: null });
      jobs = [job('42', 'RUNNING', 'node[1-2]')];
      const next = await events.next((e) => e.event === 'queue' && e.data.jobs.length === 1);
      expect(next.data.jobs[0]).toMatchObject({ jobId: '42', state: 'RUNNING', where: 'node[1-2]' });
      expect((await (await fetch(`${url}/api/queue`)).json()).jobs).toEqual(jobs);
      // unchanged reads are not pushed again
      const pushed = events.events.filter((e) => e.event === 'queue').length;
      const readsBefore = reads;
      while (reads < readsBefore + 3) await new Promise((r) => setTimeout(r, 20));
      expect(events.events.filter((e) => e.event === 'queue')).toHaveLength(pushed);
    } finally {
      events.close();
      await server.close();
    }
  });

  it("says why the queue cannot be read (the reader's error), and there is no queue without a reader", async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'ironlab-serve-')), 'q.db');
    const queue = () => {
      throw new Error('slurm: squeue failed: Unable to contact slurm controller');
    };
    const server = new DashboardServer({ store: sqliteDashboardStore(path), host: '127.0.0.1', port: 0, token: null, queue });
    const plain = new DashboardServer({ store: sqliteDashboardStore(path), host: '127.0.0.1', port: 0, token: null, tickMs: 20 });
    const [url, plainUrl] = [await server.listen(), await plain.listen()];
    const events = eventStream(`${plainUrl}/api/events`);
    try {
      expect(await (await fetch(`${url}/api/queue`)).json()).toEqual({
        scheduler: 'slurm',
        jobs: [],
        error: 'slurm: squeue failed: Unable to contact slurm controller',
      });
      expect((await fetch(`${plainUrl}/api/queue`)).status).toBe(404);
      await events.next((e) => e.event === 'campaigns');
      await new Promise((r) => setTimeout(r, 200));
      expect(events.events.map((e) => e.event)).not.toContain('queue');
    } finally {
      events.close();
      await server.close();
      await plain.close();
    }
  });
});
