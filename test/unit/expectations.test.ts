// Expectations and baselines as a CI job sees them: what a campaign file may say under `expect:` (and the
// line:col errors when it is wrong), the verdict of a bound on a penalty and its interval, the baseline
// verdict, and the JUnit XML and JSON fields built from them.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import { UserInputError } from '../../workloads/common/errors.ts';
import { loadCampaign, parseCampaign } from '../../orchestrator/campaign/spec.ts';
import { checkBound, evaluateExpectations, type MeasuredScenario } from '../../orchestrator/campaign/expectations.ts';
import { baselineVerdict, compareCampaigns } from '../../orchestrator/report/compare.ts';
import { buildChecks, checksJson, renderChecks } from '../../orchestrator/report/checks.ts';
import { junitXml } from '../../orchestrator/report/junit.ts';
import { minimalCampaign } from '../fixtures/campaigns/minimal.ts';

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UserInputError);
    return (err as Error).message;
  }
  throw new Error('expected a UserInputError');
}

const withExpect = (expectYaml: string) => minimalCampaign(`enforcement: [none, iron-kernel]\nexpect:\n${expectYaml}`);
const penalty = (mean: number | null, ci95: [number, number] | null, n = 3) => ({ mean, ci95, n });

describe('expect: in a campaign file', () => {
  it('selects scenarios with the keys of an exclude filter and bounds mean, lower or upper; unnamed ones get a name', () => {
    const { spec } = parseCampaign(
      withExpect(`  - name: IRON isolates
    workload: tcp-receiver
    enforcement: iron-kernel
    upper: { max: 1.10 }
  - { rateGbps: 9, enforcement: none, lower: { min: 3 }, mean: { min: 2, max: 10 } }
`),
      'e.yaml',
    );
    expect(spec.expect).toEqual([
      { name: 'IRON isolates', workload: ['tcp-receiver'], enforcement: ['iron-kernel'], upper: { max: 1.1 } },
      {
        name: 'expect[1]: rateGbps 9, enforcement none: mean >= 2, mean <= 10, lower >= 3',
        rateGbps: [9],
        enforcement: ['none'],
        lower: { min: 3 },
        mean: { min: 2, max: 10 },
      },
    ]);
  });

  it('a file without expect: hashes as before (the key is absent from the spec)', () => {
    expect(parseCampaign(minimalCampaign('')).spec).not.toHaveProperty('expect');
  });

  it('refuses a selector that matches no scenario, with file:line:col', () => {
    expect(refusal(() => parseCampaign(withExpect('  - { workload: udp-receiver, upper: { max: 1.1 } }\n'), 'e.yaml'))).toBe(
      'e.yaml:10:5: expect[0]: selects no scenario with a penalty (the matrix, its exclude filters and enforcement modes leave none matching workload udp-receiver)',
    );
    // the sysbench control has no penalty; an excluded cell is not there to check
    expect(refusal(() => parseCampaign(withExpect('  - { workload: sysbench, mean: { max: 2 } }\n'), 'e.yaml'))).toMatch(
      /^e\.yaml:10:5: expect\[0\]: selects no scenario/,
    );
    const excluded =
      withExpect('  - { enforcement: iron-kernel, upper: { max: 1.1 } }\n') +
      'exclude:\n  - { workload: tcp-receiver, enforcement: iron-kernel }\n';
    expect(refusal(() => parseCampaign(excluded, 'e.yaml'))).toMatch(/expect\[0\]: selects no scenario .* enforcement iron-kernel\)/);
  });

  it('refuses a bound that is missing, misspelt, inverted or not a number', () => {
    expect(refusal(() => parseCampaign(withExpect('  - { workload: tcp-receiver }\n'), 'e.yaml'))).toBe(
      'e.yaml:10:5: expect[0]: states no bound: give mean, lower or upper, e.g. upper: { max: 1.10 }',
    );
    expect(refusal(() => parseCampaign(withExpect('  - { workload: tcp-receiver, uper: { max: 1 } }\n'), 'e.yaml'))).toMatch(
      /e\.yaml:10:31: expect\[0\]: unknown key 'uper' \(did you mean 'upper'\?\)/,
    );
    expect(refusal(() => parseCampaign(withExpect('  - { workload: tcp-receiver, mean: { min: 3, max: 2 } }\n'), 'e.yaml'))).toMatch(
      /e\.yaml:10:37: expect\[0\]\.mean: min is above max/,
    );
    expect(refusal(() => parseCampaign(withExpect('  - { workload: tcp-receiver, upper: { max: low } }\n'), 'e.yaml'))).toMatch(
      /e\.yaml:10:45: expect\[0\]\.upper\.max: expected \{ max: N \} and\/or \{ min: N \}.*got "low"/,
    );
    expect(refusal(() => parseCampaign(withExpect('  - { workload: tcp-reciever, upper: { max: 1 } }\n'), 'e.yaml'))).toMatch(
      /expect\[0\]\.workload.*did you mean 'tcp-receiver'/,
    );
  });

  it('the built-in ci campaign loads, and each of its expectations selects scenarios', () => {
    const { spec } = loadCampaign('ci');
    expect(spec.expect!.length).toBeGreaterThanOrEqual(3);
    const measured: MeasuredScenario[] = [];
    const results = evaluateExpectations(spec, measured);
    for (const r of results) expect(r.scenarios.length).toBeGreaterThan(0);
    // with nothing measured, nothing can pass
    expect(results.every((r) => r.verdict === 'inconclusive' && r.scenarios.every((s) => s.note === 'no completed run'))).toBe(true);
  });
});

describe('the verdict of a bound', () => {
  it('upper <= B: passed when the upper end meets it, failed when the whole interval is above, inconclusive when it straddles', () => {
    expect(checkBound('upper', '<=', 1.1, penalty(1.02, [0.98, 1.06])).verdict).toBe('passed');
    expect(checkBound('upper', '<=', 1.1, penalty(1.2, [1.15, 1.25])).verdict).toBe('failed');
    expect(checkBound('upper', '<=', 1.1, penalty(1.08, [1.04, 1.12]))).toEqual({
      statistic: 'upper',
      op: '<=',
      bound: 1.1,
      value: 1.12,
      verdict: 'inconclusive',
    });
  });

  it('lower >= B mirrors it; mean <= B passes on the point estimate and fails only beyond the interval', () => {
    expect(checkBound('lower', '>=', 3, penalty(3.9, [3.8, 4])).verdict).toBe('passed');
    expect(checkBound('lower', '>=', 3, penalty(3.1, [2.9, 3.3])).verdict).toBe('inconclusive');
    expect(checkBound('lower', '>=', 3, penalty(2.5, [2.4, 2.6])).verdict).toBe('failed');
    expect(checkBound('mean', '<=', 1.1, penalty(1.08, [1.04, 1.12])).verdict).toBe('passed');
    expect(checkBound('mean', '<=', 1.1, penalty(1.12, [1.08, 1.16])).verdict).toBe('inconclusive');
    expect(checkBound('mean', '<=', 1.1, penalty(1.14, [1.12, 1.16])).verdict).toBe('failed');
  });

  it('without an interval a missed bound is inconclusive, and without data every bound is', () => {
    expect(checkBound('mean', '<=', 1.1, penalty(3, null, 1)).verdict).toBe('inconclusive');
    expect(checkBound('mean', '<=', 1.1, penalty(1, null, 1)).verdict).toBe('passed');
    expect(checkBound('upper', '<=', 1.1, penalty(1, null, 1))).toMatchObject({ value: null, verdict: 'inconclusive' });
    expect(checkBound('mean', '>=', 0, penalty(null, null, 0)).verdict).toBe('inconclusive');
  });
});

describe('baselines', () => {
  it('fails a penalty worse beyond both intervals, not one merely above the baseline interval', () => {
    const base = { mean: 1.0, ci95: [0.95, 1.05] as [number, number] };
    expect(baselineVerdict(base, { mean: 1.3, ci95: [1.2, 1.4] })).toEqual({ verdict: 'failed', change: 'worse' });
    // B's mean is above A's interval, but A's mean lies inside B's: not beyond both
    expect(baselineVerdict(base, { mean: 1.08, ci95: [0.9, 1.26] })).toEqual({ verdict: 'passed', change: 'same' });
    expect(baselineVerdict(base, { mean: 0.7, ci95: [0.65, 0.75] })).toEqual({ verdict: 'passed', change: 'better' });
    expect(baselineVerdict(base, { mean: 1.3, ci95: null })).toEqual({ verdict: 'inconclusive', change: null });
  });
});

describe('checks as CI systems read them', () => {
  const { spec } = parseCampaign(
    withExpect(`  - { name: iron holds, enforcement: iron-kernel, upper: { max: 1.1 } }
  - { name: 'none hurts & <shows>', enforcement: none, lower: { min: 3 } }
`),
  );
  const campaign = { id: 'c-new', name: 't', mode: 'sim', createdAt: '2026-11-30T00:00:00.000Z' };
  const scenario = (enforcement: 'none' | 'iron-kernel', p: ReturnType<typeof penalty>) => ({
    scenarioId: 'tcp-receiver rateGbps=9',
    workload: 'tcp-receiver' as const,
    params: { rateGbps: 9, flows: 1 },
    enforcement,
    penalty: p,
  });
  const current = {
    campaign,
    summaries: [scenario('iron-kernel', penalty(1.0, [0.99, 1.01])), scenario('none', penalty(2.5, [2.4, 2.6]))],
  };
  const baseline = {
    campaign: { ...campaign, id: 'c-old' },
    summaries: [scenario('iron-kernel', penalty(1.0, [0.99, 1.01])), scenario('none', penalty(2.0, [1.95, 2.05]))],
  };
  const checks = buildChecks(spec, current, { source: 'old.json', side: baseline }, false);

  it('JUnit: one test case per expectation and per baseline comparison, figures in the failure message, escaped', () => {
    const xml = junitXml(campaign, checks);
    const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@_' }).parse(xml);
    expect(doc.testsuites).toMatchObject({ '@_tests': '4', '@_failures': '2' });
    const [exp, base] = doc.testsuites.testsuite;
    expect(exp['@_name']).toBe('ironlab.t.expectations');
    expect(exp.testcase.map((c: { '@_name': string }) => c['@_name'])).toEqual(['iron holds', 'none hurts & <shows>']);
    expect(exp.testcase[1].failure['@_message']).toBe(
      'failed: lower >= 3: 1 of 1 scenario(s) failed: tcp-receiver rateGbps=9 none: lower 2.40 < 3 (mean 2.50, 95% CI [2.40, 2.60], n 3)',
    );
    expect(base.testcase.map((c: { '@_name': string }) => c['@_name'])).toEqual([
      'tcp-receiver rateGbps=9 none',
      'tcp-receiver rateGbps=9 iron-kernel',
    ]);
    expect(base.testcase[0].failure['@_message']).toBe(
      'failed: penalty 2.50 [2.40, 2.60] (n 3) vs baseline 2.00 [1.95, 2.05] (n 3): worse beyond both 95% intervals',
    );
    expect(base.testcase[1].failure).toBeUndefined();
    expect(xml).toContain('name="none hurts &amp; &lt;shows&gt;"');
  });

  it('the JSON report fields and the printed lines carry the same verdicts', () => {
    const json = checksJson(checks);
    expect(json.checks).toEqual({ verdict: 'failed', allowInconclusive: false, passed: 2, failed: 2, inconclusive: 0 });
    expect(json.expectations.map((e) => [e.name, e.verdict])).toEqual([
      ['iron holds', 'passed'],
      ['none hurts & <shows>', 'failed'],
    ]);
    expect(json.baseline!.scenarios.map((s) => [s.enforcement, s.verdict, s.change])).toEqual([
      ['none', 'failed', 'worse'],
      ['iron-kernel', 'passed', 'same'],
    ]);
    const text = renderChecks(checks, true);
    expect(text).toMatch(/^ {2}FAILED {7}none hurts & <shows>$/m);
    expect(text).toMatch(/^baseline: c-old \(t, sim\) from old\.json:$/m);
    expect(text.split('\n').at(-1)).toBe(
      'checks: 2 passed, 2 failed, 0 inconclusive (inconclusive counts as failed; --allow-inconclusive to allow) -> exit 3',
    );
    expect(compareCampaigns(baseline, current).rows.map((r) => r.baseline?.verdict)).toEqual(['failed', 'passed']);
  });
});

describe('the README recipe', () => {
  it('is the command .ci/run runs', () => {
    const root = join(import.meta.dirname, '..', '..');
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const ci = readFileSync(join(root, '.ci', 'run'), 'utf8');
    const recipe = [...readme.matchAll(/^\s*(?:- |run: |- run: )?(npx ironlab run ci --junit \S+)/gm)].map((m) => m[1]);
    expect(recipe.length).toBeGreaterThanOrEqual(2); // GitHub Actions and GitLab CI
    expect(new Set(recipe).size).toBe(1);
    expect(ci).toContain(recipe[0]);
  });
});
