// `ironlab run` end to end, as a user runs it: real CLI, real agent processes, real WebSockets, SQLite.
import { describe, expect, it } from 'vitest';
import { existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { ReportJson } from '../../orchestrator/report/json.ts';
import { agentsOf, fixture, ledger, query, runCli, startCli, tempDb, until } from './helpers.ts';

describe('ironlab run', () => {
  it('runs a built-in campaign on simulated hosts and prints the penalty table', async () => {
    const db = tempDb();
    const r = await runCli(['run', 'smoke', '--db', db]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/smoke.*12\/12 runs done/);
    for (const row of ['tcp-receiver rateGbps=9', 'udp-receiver rateGbps=4']) expect(r.stdout).toContain(row);
    expect(r.stdout).toMatch(/95% CI/);
    expect(ledger(db).every((x) => x.status === 'done')).toBe(true);
    // the store holds host facts and provenance for every run
    const hosts = query<{ host_id: string }>(db, 'SELECT host_id FROM host_facts');
    expect(hosts.map((h) => h.host_id)).toEqual(['sim-1']);
    const prov = query<{ provenance_json: string }>(db, 'SELECT provenance_json FROM runs LIMIT 1')[0];
    expect(JSON.parse(prov.provenance_json)).toHaveProperty('hostId', 'sim-1');

    const rep = await runCli(['report', '--db', db, '--format', 'json']);
    expect(rep.code).toBe(0);
    const json = ReportJson.parse(JSON.parse(rep.stdout));
    const tcp = json.scenarios.find((s) => s.workload === 'tcp-receiver' && s.enforcement === 'none')!;
    expect(tcp.penalty.n).toBe(2);
    expect(tcp.penalty.mean).toBeGreaterThan(1.5); // a 9 Gbit/s TCP flood into the neighbour hurts the victim
    const iron = json.scenarios.find((s) => s.workload === 'tcp-receiver' && s.enforcement === 'iron-kernel')!;
    expect(iron.penalty.mean).toBeLessThan(tcp.penalty.mean!);

    const csv = await runCli(['report', '--db', db, '--format', 'csv']);
    expect(csv.code).toBe(0);
    const lines = csv.stdout.trim().split(/\r?\n/);
    expect(lines[0]).toMatch(/^campaign,run,scenario,workload/);
    expect(lines.length).toBeGreaterThan(12 * 10); // one row per sample of 12 runs
  });

  it('refuses an invalid campaign file with file, line and column, exit code 2, and creates nothing', async () => {
    const db = tempDb();
    const r = await runCli(['run', fixture('bad-flows.yaml'), '--db', db]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/bad-flows\.yaml:\d+:\d+: .*flows/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(existsSync(db)).toBe(false);
  });

  it('refuses a campaign whose host lacks a prerequisite, in one line naming the host and what to run, creating nothing', async () => {
    const db = tempDb();
    const cli = startCli(['run', 'local-docker', '--db', db], { DOCKER_HOST: 'unix:///nonexistent/docker.sock' }); // no engine there
    const r = await cli.done;
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/host local-docker: not ready: .*(Docker engine|root).*testbed\/prereqs\.sh/);
    expect(existsSync(db)).toBe(false);
  });

  it('refuses an unknown built-in name, listing the known ones', async () => {
    const r = await runCli(['run', 'no-such-campaign', '--db', tempDb()]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no-such-campaign/);
    expect(r.stderr).toMatch(/paper/);
  });

  it('Ctrl-C tears down, keeps completed runs, exits 130, leaves no agent behind', async () => {
    const db = tempDb();
    const cli = startCli(['run', fixture('e2e-long.yaml'), '--db', db]);
    await until('a completed run', () => ledger(db).some((r) => r.status === 'done'));
    cli.child.kill('SIGINT');
    const r = await cli.done;
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(/aborting/);
    expect(r.stdout).toMatch(/--resume/);
    const rows = ledger(db);
    expect(rows.some((x) => x.status === 'done')).toBe(true);
    expect(rows.some((x) => x.status === 'running')).toBe(false);
    expect(query<{ status: string }>(db, 'SELECT status FROM campaigns')[0].status).toBe('aborted');
    expect(await agentsOf(cli.child.pid!)).toEqual([]);
  });

  it('with its output gone (a killed parent closed the pipes), it still runs on and Ctrl-C still tears down', async () => {
    const db = tempDb();
    const cli = startCli(['run', fixture('e2e-long.yaml'), '--db', db]);
    await until('a completed run', () => ledger(db).some((r) => r.status === 'done'));
    // The reader of both pipes goes away: every later write of progress or log lines fails with EPIPE.
    cli.child.stdout!.destroy();
    cli.child.stderr!.destroy();
    const doneBefore = ledger(db).filter((r) => r.status === 'done').length;
    await until('another completed run (it runs on)', () => ledger(db).filter((r) => r.status === 'done').length > doneBefore);
    cli.child.kill('SIGINT');
    const r = await cli.done;
    expect(r.code).toBe(130);
    expect(ledger(db).some((x) => x.status === 'running')).toBe(false);
    expect(query<{ status: string }>(db, 'SELECT status FROM campaigns')[0].status).toBe('aborted');
    expect(await agentsOf(cli.child.pid!)).toEqual([]);
  });

  it('--resume after the orchestrator was SIGKILLed completes the campaign without repeating a done run', async () => {
    const db = tempDb();
    const cli = startCli(['run', fixture('e2e-long.yaml'), '--db', db]);
    await until('two completed runs', () => ledger(db).filter((r) => r.status === 'done').length >= 2);
    cli.child.kill('SIGKILL');
    await cli.done;
    const before = ledger(db);
    const doneBefore = before.filter((r) => r.status === 'done').map((r) => r.run_id);
    const samplesBefore = query<{ run_id: string; n: number }>(db, 'SELECT run_id, COUNT(*) AS n FROM samples GROUP BY run_id');
    // the killed orchestrator's agents notice and leave by themselves
    await until('orphaned agents to exit', async () => (await agentsOf(cli.child.pid!)).length === 0, 15_000);

    const id = query<{ id: string }>(db, 'SELECT id FROM campaigns')[0].id;
    const staleTokens = () => readdirSync(tmpdir()).filter((n) => n.startsWith(`ironlab-run-${cli.child.pid}-`));
    expect(staleTokens()).toHaveLength(1); // SIGKILL gave it no chance to clean up
    const r = await runCli(['run', '--resume', id, '--db', db]);
    expect(staleTokens()).toEqual([]); // the next run removed it
    expect(r.code).toBe(0);
    const after = ledger(db);
    expect(after.every((x) => x.status === 'done')).toBe(true);
    // a run done before the kill was not run again: same samples, one 'done' attempt
    const samplesAfter = new Map(
      query<{ run_id: string; n: number }>(db, 'SELECT run_id, COUNT(*) AS n FROM samples GROUP BY run_id').map((x) => [x.run_id, x.n]),
    );
    for (const s of samplesBefore) expect(samplesAfter.get(s.run_id)).toBe(s.n);
    const doneAttempts = query<{ run_id: string; n: number }>(
      db,
      "SELECT run_id, COUNT(*) AS n FROM run_attempts WHERE outcome = 'done' GROUP BY run_id",
    );
    expect(doneAttempts.every((x) => x.n === 1)).toBe(true);
    expect(doneAttempts.map((x) => x.run_id)).toEqual(expect.arrayContaining(doneBefore));
    expect(after).toHaveLength(before.length);
  });
});
