// Adaptive repetitions (`until:` in the campaign file): the campaign adds repetitions only while an interval is
// wider than asked, and never beyond the cap.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixture, query, runCli, tempDb } from './helpers.ts';

function campaignWith(until: string, db: string, repetitions = 2): string {
  const text = readFileSync(fixture('adaptive.yaml'), 'utf8')
    .replace(/^until: .*$/m, `until: ${until}`)
    .replace(/^repetitions: .*$/m, `repetitions: ${repetitions}`);
  const path = join(dirname(db), 'adaptive.yaml');
  writeFileSync(path, text);
  return path;
}

const perArm = (db: string) =>
  query<{ scenario_id: string; n: number }>(
    db,
    "SELECT scenario_id, COUNT(*) AS n FROM runs WHERE status = 'done' GROUP BY scenario_id, enforcement ORDER BY scenario_id",
  );

describe('adaptive repetitions', () => {
  it('adds no run when every interval is already tight enough', async () => {
    const db = tempDb();
    // 3 to start with: at 2 per arm the interval (99%: Bonferroni over 4 looks, 1 degree of freedom) is unbounded
    const r = await runCli(['run', campaignWith('{ ciHalfWidth: 10, maxRepetitions: 6 }', db, 3), '--db', db]);
    expect(r.code).toBe(0);
    expect(perArm(db).map((x) => x.n)).toEqual([3, 3]);
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
    const reps = query<{ repetition: number }>(db, "SELECT repetition FROM runs WHERE scenario_id = 'sysbench' ORDER BY repetition").map(
      (x) => x.repetition,
    );
    expect(reps).toEqual([0, 1, 2, 3, 4]);
  });
});

describe('adaptive repetitions with a labelled control or a blocked design', () => {
  const write = (db: string, edit: (text: string) => string) => {
    const path = join(dirname(db), 'adaptive-edited.yaml');
    writeFileSync(path, edit(readFileSync(fixture('adaptive.yaml'), 'utf8')));
    return path;
  };

  it('grows a labelled control arm (no cell named plain sysbench), and the report says how it corrected for stopping', async () => {
    const db = tempDb();
    const path = write(db, (t) =>
      t
        .replace('  - workload: sysbench\n', '  - workload: sysbench\n    label: base\n')
        .replace(/^until: .*$/m, 'until: { ciHalfWidth: 0.0001, maxRepetitions: 4 }'),
    );
    const r = await runCli(['run', path, '--db', db]);
    expect(r.code, r.stderr).toBe(0);
    expect(perArm(db)).toEqual([
      { scenario_id: 'sysbench [base]', n: 4 },
      { scenario_id: 'udp-receiver rateGbps=8', n: 4 },
    ]);
    // 2 planned, cap 4: at most 3 looks, each interval at 1 - 0.05/3
    expect(r.stdout).toContain('every interval is made at 98.33% (Bonferroni over the at most 3 looks)');
    const json = await runCli(['report', '--format', 'json', '--db', db]);
    expect(JSON.parse(json.stdout).scenarios[0].penalty).toMatchObject({ method: 'fieller', level: expect.closeTo(1 - 0.05 / 3, 12) });
  });

  it('in a blocked design adds whole blocks: a control run beside each extra scenario run, with the same repetition', async () => {
    const db = tempDb();
    const path = write(db, (t) => t.replace(/^until: .*$/m, 'until: { ciHalfWidth: 0.0001, maxRepetitions: 4 }\ndesign: blocked'));
    const r = await runCli(['run', path, '--db', db]);
    expect(r.code, r.stderr).toBe(0);
    const reps = (id: string) =>
      query<{ repetition: number }>(db, `SELECT repetition FROM runs WHERE scenario_id = '${id}' ORDER BY repetition`).map(
        (x) => x.repetition,
      );
    expect(reps('sysbench')).toEqual([0, 1, 2, 3]);
    expect(reps('udp-receiver rateGbps=8')).toEqual([0, 1, 2, 3]);
    const json = JSON.parse((await runCli(['report', '--format', 'json', '--db', db])).stdout);
    expect(json.statistics.design).toBe('blocked');
    expect(json.scenarios[0].penalty).toMatchObject({ method: 'paired-log-t', n: 4 });
  });
});
