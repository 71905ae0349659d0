// A shared PostgreSQL store end to end, as a lab uses it: the real CLI runs a sim campaign with
// `--store postgres://...`, `ironlab report` reads it back (flag or IRONLAB_STORE), two orchestrators write to
// one database at once, a second orchestrator is kept off a campaign being run, and a bad or unreachable
// store is one line and exit 2. On a throwaway cluster (test/store/postgres-cluster.ts).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ReportJson } from '../../orchestrator/report/json.ts';
import { openStore } from '../../orchestrator/store/open-store.ts';
import { runCli, startCli, until } from '../e2e/helpers.ts';
import { testRun } from '../fakes/fake-backend.ts';
import { testCampaign } from './test-campaign.ts';
import { pgSkip, postgresCluster, useBackends } from './backends.ts';

useBackends();

describe.skipIf(pgSkip !== null)('PostgreSQL store, end to end', () => {
  it('runs a sim campaign into PostgreSQL; report reads it by flag and by IRONLAB_STORE', async () => {
    const url = await postgresCluster().freshDatabase();
    const r = await runCli(['run', 'smoke', '--store', url, '--no-progress', '--log', '/dev/null']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/smoke.*12\/12 runs done/);
    expect(r.stdout).toContain(`results: ${url}`);

    const rep = await runCli(['report', '--store', url, '--format', 'json']);
    expect(rep.code, rep.stderr).toBe(0);
    const json = ReportJson.parse(JSON.parse(rep.stdout));
    const tcp = json.scenarios.find((s) => s.workload === 'tcp-receiver' && s.enforcement === 'none')!;
    expect(tcp.penalty.n).toBe(2);
    expect(tcp.penalty.mean).toBeGreaterThan(1.5);

    const list = await startCli(['report', '--list'], { IRONLAB_STORE: url }).done;
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/^c\S+\s+smoke\s+sim\s+done/);

    const store = await openStore({ kind: 'postgres', url });
    const [c] = await store.campaigns();
    const runs = await store.runs(c.id);
    expect(runs.map((x) => [x.status, x.attempts])).toEqual(runs.map(() => ['done', 1]));
    expect(runs.every((x) => x.samples.length > 10)).toBe(true);
    expect(await store.progress()).toMatchObject([{ campaignId: c.id, total: 12, done: 12, todo: 0, running: 0, failed: 0 }]);
    await store.close();
  });

  it('two orchestrators write to one database at once: both campaigns complete, each run once', async () => {
    const url = await postgresCluster().freshDatabase();
    const [a, b] = await Promise.all([
      startCli(['run', 'smoke', '--store', url, '--no-progress', '--log', '/dev/null']).done,
      startCli(['run', 'smoke', '--store', url, '--no-progress', '--log', '/dev/null']).done,
    ]);
    for (const r of [a, b]) {
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/12\/12 runs done/);
    }
    const store = await openStore({ kind: 'postgres', url });
    const campaigns = await store.campaigns();
    expect(campaigns.map((c) => c.status)).toEqual(['done', 'done']);
    for (const c of campaigns) {
      expect((await store.ledger(c.id)).map((x) => [x.status, x.attempts])).toEqual(Array.from({ length: 12 }, () => ['done', 1]));
      expect((await store.attempts(c.id)).map((x) => x.outcome)).toEqual(Array.from({ length: 12 }, () => 'done'));
    }
    await store.close();
  });

  it('two stores racing on one run: it starts once and its samples are written once', async () => {
    const url = await postgresCluster().freshDatabase();
    const [one, two] = [await openStore({ kind: 'postgres', url }), await openStore({ kind: 'postgres', url })];
    const ids = Array.from({ length: 40 }, (_, i) => `r${i}`);
    await one.createCampaign(
      testCampaign(),
      ids.map((runId) => testRun({ runId })),
    );
    const starts = await Promise.allSettled(ids.flatMap((id) => [one.startRun('c1', id, 'h1'), two.startRun('c1', id, 'h2')]));
    expect(starts.filter((s) => s.status === 'fulfilled')).toHaveLength(ids.length);
    const sample = [{ metric: 'victim_events_per_sec', value: 1, unit: 'events/s', labels: {} }];
    const completes = await Promise.all(
      ids.flatMap((id) => [one.completeRun('c1', id, sample, {}), two.completeRun('c1', id, sample, {})]),
    );
    expect(completes.filter(Boolean)).toHaveLength(ids.length);
    const runs = await one.runs('c1');
    expect(runs.map((r) => [r.status, r.attempts, r.samples.length])).toEqual(ids.map(() => ['done', 1, 1]));
    await Promise.all([one.close(), two.close()]);
  });

  it('keeps a second orchestrator off a campaign being run, until the first lets go', async () => {
    const url = await postgresCluster().freshDatabase();
    const first = startCli(['run', 'smoke', '--store', url, '--no-progress', '--log', '/dev/null']);
    const other = await openStore({ kind: 'postgres', url });
    const id = await until('the campaign in the store', async () => (await other.campaigns())[0]?.id);
    await expect(other.claimCampaign(id)).rejects.toThrow(`campaign ${id} is being run by another orchestrator`);
    expect((await first.done).code).toBe(0);
    // the first orchestrator is gone, its claim with its connection: this one takes it, and a resume is refused
    await other.claimCampaign(id);
    const second = await runCli(['run', '--resume', id, '--store', url, '--no-progress', '--log', '/dev/null']);
    expect(second.code).toBe(2);
    expect(second.stderr.trim().split('\n')).toHaveLength(1);
    expect(second.stderr).toMatch(
      new RegExp(`campaign ${id} is being run by another orchestrator \\(server backend pid \\d+\\); wait for it to end`),
    );
    await other.close();
  });

  it('--baseline reads a campaign from PostgreSQL: the latest done one of the same name, or one by id', async () => {
    const url = await postgresCluster().freshDatabase();
    const base = await runCli(['run', 'smoke', '--store', url, '--no-progress', '--log', '/dev/null']);
    expect(base.code, base.stderr).toBe(0);
    const store = await openStore({ kind: 'postgres', url });
    const [c] = await store.campaigns();
    await store.close();
    const dir = mkdtempSync(join(tmpdir(), 'ironlab-pg-baseline-'));
    try {
      for (const [arg, shown] of [
        [url, url],
        [`${url}:${c.id}`, `${url}:${c.id}`],
      ]) {
        const r = await runCli([
          'run',
          'smoke',
          '--db',
          join(dir, 'new.db'),
          '--baseline',
          arg,
          '--no-progress',
          '--log',
          '/dev/null',
          '--json',
        ]);
        expect(r.code, r.stderr).toBe(0);
        const json = JSON.parse(r.stdout);
        expect(json.baseline.source).toBe(shown);
        expect(json.baseline.campaign.id).toBe(c.id);
        // the same simulated campaign again: every scenario within the baseline's intervals
        expect(json.baseline.scenarios.length).toBeGreaterThan(0);
        expect(json.baseline.scenarios.map((s: { verdict: string }) => s.verdict)).toEqual(json.baseline.scenarios.map(() => 'passed'));
      }
      const missing = await runCli(['run', 'smoke', '--db', join(dir, 'x.db'), '--baseline', `${url}:c-nope`, '--no-progress']);
      expect(missing.code).toBe(2);
      expect(missing.stderr.trim().split('\n')).toHaveLength(1);
      expect(missing.stderr).toContain(`--baseline: no campaign 'c-nope' in ${url} (campaigns there: ${c.id} (smoke, done))`);
      expect(existsSync(join(dir, 'x.db'))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a malformed URL, an unknown scheme, an unreachable server: one line naming the store, exit 2, nothing run', async () => {
    const dir = postgresCluster().dir;
    const cases: [string[], RegExp][] = [
      [['run', 'smoke', '--store', 'postgres://ironlab@host:notaport/db'], /--store: malformed PostgreSQL URL/],
      [['run', 'smoke', '--store', 'mysql://ironlab@localhost/db'], /--store: unsupported store URL 'mysql:/],
      [
        ['run', 'smoke', '--store', `postgres://ironlab@/nosuchdb?host=${encodeURIComponent(dir)}`],
        /cannot open the PostgreSQL result store: database "nosuchdb" does not exist/,
      ],
      [
        ['run', 'smoke', '--store', 'postgres://ironlab@/db?host=/nonexistent-socket-dir'],
        /postgres:\/\/ironlab@\/db\?host=.*: cannot open the PostgreSQL result store: connect ENOENT/,
      ],
      [
        ['report', '--store', 'postgres://ironlab:secret@127.0.0.1:1/db'],
        /postgres:\/\/ironlab:\*\*\*@127\.0\.0\.1:1\/db: cannot open the PostgreSQL result store: connect ECONNREFUSED/,
      ],
      [['run', 'smoke', '--store', 'x.db', '--db', 'y.db'], /give --db FILE or --store URL, not both/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli([...args, '--no-progress'].filter((a) => !(args[0] === 'report' && a === '--no-progress')));
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toContain('secret');
    }
  });
});
