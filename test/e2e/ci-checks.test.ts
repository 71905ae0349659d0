// Campaigns as CI checks, as a CI job runs them: `ironlab run` with expectations, --junit, --baseline and
// --allow-inconclusive; the printed verdicts, the JUnit file a CI system reads, and the exit codes.
import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import { EXIT_CHECKS_FAILED } from '../../orchestrator/report/checks.ts';
import { ReportJson } from '../../orchestrator/report/json.ts';
import { fixture, runCli, tempDb } from './helpers.ts';

interface JunitCase {
  '@_classname': string;
  '@_name': string;
  failure?: { '@_message': string; '@_type': string; '#text': string };
  skipped?: { '@_message': string };
  'system-out': string;
}
interface JunitSuite {
  '@_name': string;
  '@_tests': string;
  '@_failures': string;
  '@_skipped': string;
  testcase: JunitCase[];
}

function readJunit(file: string): { tests: number; failures: number; skipped: number; suites: JunitSuite[] } {
  const xml = readFileSync(file, 'utf8');
  expect(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>')).toBe(true);
  const doc = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: '@_',
    isArray: (name) => name === 'testsuite' || name === 'testcase',
  }).parse(xml);
  const root = doc.testsuites;
  return {
    tests: Number(root['@_tests']),
    failures: Number(root['@_failures']),
    skipped: Number(root['@_skipped']),
    suites: root.testsuite ?? [],
  };
}

/** The lines after `expectations:` up to the `checks:` summary, as the user reads them. */
function printedChecks(stdout: string): string {
  const start = stdout.indexOf('expectations:') >= 0 ? stdout.indexOf('expectations:') : stdout.indexOf('baseline:');
  const end = stdout.indexOf('\n', stdout.indexOf('checks:'));
  return stdout.slice(start, end);
}

describe('campaigns as CI checks', () => {
  it('the built-in ci campaign passes: every expectation printed with its figures, a JUnit file of passed cases, exit 0', async () => {
    const db = tempDb();
    const junit = join(dirname(db), 'junit.xml');
    const r = await runCli(['run', 'ci', '--db', db, '--junit', junit, '--no-progress']);
    console.log(`ironlab run ci (passing):\n${printedChecks(r.stdout)}\n${readFileSync(junit, 'utf8')}`);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const printed = printedChecks(r.stdout);
    expect(printed).toMatch(/^ {2}passed {7}IRON holds every receive flood's penalty to at most 1\.10/m);
    expect(printed).toMatch(
      /^ {6}passed {7}tcp-receiver rateGbps=9 iron-kernel: upper \d\.\d\d <= 1\.1 \(mean \d\.\d\d, 95% CI \[\d\.\d\d, \d\.\d\d\], n 3\)$/m,
    );
    expect(printed).toMatch(/^ {6}passed {7}tcp-receiver rateGbps=9 none: lower \d\.\d\d >= 1\.5 /m);
    expect(printed).toMatch(/^checks: 4 passed, 0 failed, 0 inconclusive/m);
    expect(printed).not.toMatch(/FAILED|INCONCLUSIVE/);

    const j = readJunit(junit);
    expect([j.tests, j.failures, j.skipped]).toEqual([4, 0, 0]);
    expect(j.suites.map((s) => s['@_name'])).toEqual(['ironlab.ci.expectations']);
    const iron = j.suites[0].testcase.find((c) => c['@_name'].startsWith('IRON holds every receive flood'))!;
    expect(iron.failure).toBeUndefined();
    expect(iron['system-out']).toMatch(/udp-receiver rateGbps=8 iron-kernel: upper \d\.\d\d <= 1\.1/);

    const json = JSON.parse((await runCli(['report', '--db', db, '--format', 'json'])).stdout);
    ReportJson.parse(json); // the contract still holds with the new fields beside it
    expect(json.checks).toMatchObject({ verdict: 'passed', passed: 4, failed: 0, inconclusive: 0 });
    expect(json.expectations).toHaveLength(4);
    expect(json.expectations[1].scenarios.map((s: { verdict: string }) => s.verdict)).toEqual(['passed', 'passed', 'passed']);
  });

  it('a failing expectation is printed FAILED with its figures, fails its JUnit case, and exits 3', async () => {
    const db = tempDb();
    const junit = join(dirname(db), 'junit.xml');
    const r = await runCli(['run', fixture('ci-failing.yaml'), '--db', db, '--junit', junit, '--no-progress']);
    console.log(`ironlab run ci-failing.yaml (failing):\n${printedChecks(r.stdout)}\n${readFileSync(junit, 'utf8')}`);
    expect(r.code).toBe(EXIT_CHECKS_FAILED);
    expect(EXIT_CHECKS_FAILED).toBe(3);
    const printed = printedChecks(r.stdout);
    expect(printed).toMatch(/^ {2}passed {7}IRON holds the TCP receive flood to at most 1\.10$/m);
    expect(printed).toMatch(/^ {2}FAILED {7}no enforcement is needed for a TCP receive flood \(false\)$/m);
    expect(printed).toMatch(
      /^ {6}failed {7}tcp-receiver rateGbps=9 none: upper \d\.\d\d > 1\.1 \(mean \d\.\d\d, 95% CI \[\d\.\d\d, \d\.\d\d\], n 3\)$/m,
    );
    expect(printed).toMatch(/^checks: 1 passed, 1 failed, 0 inconclusive .* -> exit 3$/m);

    const j = readJunit(junit);
    expect([j.tests, j.failures, j.skipped]).toEqual([2, 1, 0]);
    const failed = j.suites[0].testcase.find((c) => c.failure)!;
    expect(failed['@_name']).toBe('no enforcement is needed for a TCP receive flood (false)');
    expect(failed.failure!['@_type']).toBe('failed');
    expect(failed.failure!['@_message']).toMatch(
      /^failed: upper <= 1\.1: 1 of 1 scenario\(s\) failed: tcp-receiver rateGbps=9 none: upper \d\.\d\d > 1\.1 \(mean/,
    );
  });

  it('an inconclusive check fails the build unless --allow-inconclusive, which reports it as skipped', async () => {
    const db = tempDb();
    const junit = join(dirname(db), 'junit.xml');
    const strict = await runCli(['run', fixture('ci-inconclusive.yaml'), '--db', db, '--junit', junit, '--no-progress']);
    expect(strict.code).toBe(3);
    expect(strict.stdout).toMatch(/^ {2}INCONCLUSIVE without enforcement/m);
    expect(strict.stdout).toMatch(/tcp-receiver rateGbps=9 none: mean \d\.\d\d > 1\.1 \(mean \d\.\d\d, 95% CI -, n 1; no 95% interval/);
    expect(readJunit(junit)).toMatchObject({ tests: 1, failures: 1, skipped: 0 });

    const lenient = await runCli([
      'run',
      fixture('ci-inconclusive.yaml'),
      '--db',
      db,
      '--junit',
      junit,
      '--allow-inconclusive',
      '--no-progress',
    ]);
    expect(lenient.code).toBe(0);
    expect(lenient.stdout).toMatch(/^checks: 0 passed, 0 failed, 1 inconclusive \(inconclusive allowed\)$/m);
    const j = readJunit(junit);
    expect(j).toMatchObject({ tests: 1, failures: 0, skipped: 1 });
    expect(j.suites[0].testcase[0].skipped!['@_message']).toMatch(/^inconclusive \(allowed by --allow-inconclusive\)/);
  });

  it('--baseline: a scenario worse beyond both intervals fails (exit 3, JUnit), the same comparison in report --compare; an equal baseline passes', async () => {
    const db = tempDb();
    const dir = dirname(db);
    const base = await runCli(['run', fixture('ci-regression.yaml'), '--db', db, '--no-progress']);
    expect(base.code).toBe(0);
    const baseJson = join(dir, 'baseline.json');
    expect((await runCli(['report', '--db', db, '--format', 'json', '--out', baseJson])).code).toBe(0);

    // the same campaign again against its JSON report: within the intervals, passed
    const same = await runCli(['run', fixture('ci-regression.yaml'), '--db', db, '--baseline', baseJson, '--no-progress']);
    expect(same.code).toBe(0);
    expect(same.stdout).toMatch(/^baseline: c\S+ \(ci-regression, sim\) from .*baseline\.json:$/m);
    expect(same.stdout).toMatch(
      /^ {2}passed {7}tcp-receiver rateGbps=9 iron-kernel: penalty \d\.\d\d \[\d\.\d\d, \d\.\d\d\] \(n 3\) vs baseline \d\.\d\d \[\d\.\d\d, \d\.\d\d\] \(n 3\)/m,
    );

    // enforcement switched off, as a broken isolation patch would: checked against the store's latest ci-regression
    const broken = join(dir, 'ci-regression.yaml');
    writeFileSync(broken, readFileSync(fixture('ci-regression.yaml'), 'utf8').replace('enforcement: [iron-kernel]', 'enforcement: [none]'));
    const junit = join(dir, 'junit.xml');
    const r = await runCli(['run', broken, '--db', db, '--baseline', db, '--junit', junit, '--no-progress', '--json']);
    expect(r.code).toBe(3);
    const json = JSON.parse(r.stdout);
    expect(json.checks).toMatchObject({ verdict: 'failed', failed: 2 });
    expect(json.baseline.scenarios.map((s: { id: string; verdict: string; change: string }) => [s.id, s.verdict, s.change])).toEqual([
      ['udp-receiver rateGbps=4', 'failed', 'worse'],
      ['tcp-receiver rateGbps=9', 'failed', 'worse'],
    ]);
    const j = readJunit(junit);
    console.log(`ironlab run --baseline (failing):\n${readFileSync(junit, 'utf8')}`);
    expect(j.suites.map((s) => s['@_name'])).toEqual(['ironlab.ci-regression.baseline']);
    expect([j.tests, j.failures]).toEqual([2, 2]);
    expect(j.suites[0].testcase[1].failure!['@_message']).toMatch(
      /^failed: penalty \d\.\d\d \[\d\.\d\d, \d\.\d\d\] \(n 3\) vs baseline 1\.\d\d \[\d\.\d\d, \d\.\d\d\] \(n 3\): worse beyond both 95% intervals$/,
    );

    // report --compare BASELINE NEW gives the same verdicts
    const ids = (await runCli(['report', '--db', db, '--list'])).stdout
      .trim()
      .split('\n')
      .map((l) => l.split(/\s+/)[0]);
    const cmp = await runCli(['report', '--db', db, '--compare', ids[1], ids[2]]);
    expect(cmp.code).toBe(0);
    expect(cmp.stdout).toMatch(/tcp-receiver rateGbps=9 .* │ FAILED \(worse\) │/);
    const cmpJson = JSON.parse((await runCli(['report', '--db', db, '--compare', ids[1], ids[2], '--format', 'json'])).stdout);
    expect(cmpJson.scenarios.map((s: { verdict: string }) => s.verdict)).toEqual(['failed', 'failed']);
  });
});
