// `ironlab run local-docker`, the paper's experiment for real on this machine, as a user runs it: the CLI,
// an agent process with the docker backend, real containers with quotas, RPS onto the victim's core. It must
// finish with a penalty and a confidence interval for the control and all four floods, and leave nothing.
import { execFileSync } from 'node:child_process';
import Docker from 'dockerode';
import { describe, expect, it } from 'vitest';
import { ReportJson } from '../../orchestrator/report/json.ts';
import { RestoreLedger } from '../../agents/docker/restore-ledger.ts';
import { ledger, runCli, tempDb } from '../e2e/helpers.ts';
import { dockerReadiness } from './helpers/ready.ts';
import { changedRps, rpsValues } from './helpers/host-state.ts';

const { ready } = await dockerReadiness();


describe.skipIf(!ready)('ironlab run local-docker', () => {
  it('measures the penalty of every flood with a 95% CI, and leaves no container, network, qdisc or sysfs change', async () => {
    const rpsBefore = rpsValues();
    const db = tempDb();
    const r = await runCli(['run', 'local-docker', '--db', db, '--no-progress']);
    console.log(r.stdout); // the table, for the CI log
    expect(r.code).toBe(0);
    expect(ledger(db).every((x) => x.status === 'done')).toBe(true);

    const rep = await runCli(['report', '--db', db, '--format', 'json']);
    const raw = JSON.parse(rep.stdout);
    const json = ReportJson.parse(raw); // the contract; `raw` keeps the fields beside it (bootstrap, notes)
    expect(json.campaign.mode).toBe('docker');
    expect(new Set(json.scenarios.map((s) => s.workload))).toEqual(new Set(['udp-sender', 'tcp-sender', 'udp-receiver', 'tcp-receiver']));
    for (const s of raw.scenarios as (ReportJson['scenarios'][number] & { bootstrap: { ci95: [number, number] } | null; penalty: { note?: string } })[]) {
      expect(s.penalty.mean).toBeGreaterThan(0);
      // An interval for every scenario: Fieller's, or where one noisy repetition makes it unbounded (the
      // report says so), the seeded bootstrap's that the report shows beside it.
      const ci = s.penalty.ci95 ?? s.bootstrap?.ci95 ?? null;
      expect(ci, `${s.id} ${s.enforcement}: ${s.penalty.note ?? ''}`).not.toBeNull();
      expect(ci![0]).toBeLessThan(ci![1]);
      expect(s.victim.controlEventsPerSec).toBeGreaterThan(0);
    }

    const docker = new Docker();
    expect(await docker.listContainers({ all: true, filters: { label: ['ironlab.host=local-docker'] } })).toEqual([]);
    expect(await docker.listNetworks({ filters: { label: ['ironlab.host=local-docker'] } })).toEqual([]);
    expect(execFileSync('tc', ['qdisc', 'show'], { encoding: 'utf8' })).not.toMatch(/htb/);
    expect(new RestoreLedger('local-docker').entries()).toEqual([]);
    expect(changedRps(rpsBefore, rpsValues())).toEqual([]);
  }, 600_000);
});
