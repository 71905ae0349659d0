// A built-in docker campaign run as a user runs it (`ironlab run NAME`, then `ironlab report --format json`),
// with what every such campaign must show: exit 0, every run done, a docker report that keeps the JSON contract,
// and a penalty with an interval for every scenario.
import { expect } from 'vitest';
import { ReportJson } from '../../../orchestrator/report/json.ts';
import { ledger, runCli, tempDb } from '../../e2e/helpers.ts';

/** A scenario as the report prints it: the contract, and beside it the bootstrap interval and the penalty's note. */
export type ReportedScenario = ReportJson['scenarios'][number] & {
  bootstrap: { ci95: [number, number] } | null;
  penalty: { note?: string };
};

export async function runDockerCampaign(name: string): Promise<{ db: string; json: ReportJson; scenarios: ReportedScenario[] }> {
  const db = tempDb();
  const r = await runCli(['run', name, '--db', db, '--no-progress']);
  console.log(r.stdout); // the table, for the CI log
  expect(r.code).toBe(0);
  expect(ledger(db).every((x) => x.status === 'done')).toBe(true);

  const rep = await runCli(['report', '--db', db, '--format', 'json']);
  const raw = JSON.parse(rep.stdout);
  const json = ReportJson.parse(raw); // the contract; `raw` keeps the fields beside it (bootstrap, notes)
  expect(json.campaign.mode).toBe('docker');
  const scenarios = raw.scenarios as ReportedScenario[];
  for (const s of scenarios) {
    expect(s.penalty.mean).toBeGreaterThan(0);
    // An interval for every scenario: Fieller's, or where one noisy repetition makes it unbounded (the
    // report says so), the seeded bootstrap's that the report shows beside it.
    const ci = intervalOf(s);
    expect(ci, `${s.id} ${s.enforcement}: ${s.penalty.note ?? ''}`).not.toBeNull();
    expect(ci![0]).toBeLessThan(ci![1]);
    expect(s.victim.controlEventsPerSec).toBeGreaterThan(0);
  }
  return { db, json, scenarios };
}

/** The interval the report shows for a scenario: Fieller's (or the paired one), else the bootstrap's. */
export const intervalOf = (s: ReportedScenario): [number, number] | null => s.penalty.ci95 ?? s.bootstrap?.ci95 ?? null;
