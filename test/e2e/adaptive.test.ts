// Adaptive repetitions (`until:` in the campaign file): the campaign adds repetitions only while an interval is
// wider than asked, and never beyond the cap.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixture, query, runCli, tempDb } from './helpers.ts';

function campaignWith(until: string, db: string): string {
  const text = readFileSync(fixture('adaptive.yaml'), 'utf8').replace(/^until: .*$/m, `until: ${until}`);
  const path = join(dirname(db), 'adaptive.yaml');
  writeFileSync(path, text);
  return path;
}

const perArm = (db: string) =>
  query<{ scenario_id: string; n: number }>(db, "SELECT scenario_id, COUNT(*) AS n FROM runs WHERE status = 'done' GROUP BY scenario_id, enforcement ORDER BY scenario_id");

describe('adaptive repetitions', () => {
  it('adds no run when every interval is already tight enough', async () => {
    const db = tempDb();
    const r = await runCli(['run', campaignWith('{ ciHalfWidth: 10, maxRepetitions: 6 }', db), '--db', db]);
    expect(r.code).toBe(0);
    expect(perArm(db).map((x) => x.n)).toEqual([2, 2]);
  });

  it('grows both arms up to the cap while the interval is wider than asked', async () => {
    const db = tempDb();
    const r = await runCli(['run', campaignWith('{ ciHalfWidth: 0.0001, maxRepetitions: 5 }', db), '--db', db]);
    expect(r.code).toBe(0);
    expect(perArm(db)).toEqual([
      { scenario_id: 'sysbench', n: 5 },
      { scenario_id: 'udp-receiver rateGbps=8', n: 5 },
    ]);
    expect(r.stdout).toMatch(/10\/10 runs done/);
    // repetition numbers continue, no duplicates
    const reps = query<{ repetition: number }>(db, "SELECT repetition FROM runs WHERE scenario_id = 'sysbench' ORDER BY repetition").map((x) => x.repetition);
    expect(reps).toEqual([0, 1, 2, 3, 4]);
  });
});
