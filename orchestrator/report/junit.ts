// JUnit XML of a campaign's checks (`ironlab run --junit FILE`), the format CI systems (GitHub Actions
// reporters, GitLab's `artifacts:reports:junit`, Jenkins) show as tests: one test suite per kind of check,
// one test case per expectation and per baseline comparison, the figures in the failure message and in
// system-out. An inconclusive case that --allow-inconclusive lets pass is reported as skipped.
import { XMLBuilder } from 'fast-xml-parser';
import { checkCases, type CheckCase, type Checks } from './checks.ts';
import type { CampaignInfo } from './json.ts';

const SUITES: { kind: CheckCase['kind']; name: string }[] = [
  { kind: 'expectation', name: 'expectations' },
  { kind: 'baseline', name: 'baseline' },
];

export function junitXml(campaign: CampaignInfo, c: Checks, wallS?: number): string {
  const cases = checkCases(c);
  const suites = SUITES.map((s) => ({ ...s, cases: cases.filter((k) => k.kind === s.kind) })).filter((s) => s.cases.length > 0);
  const failures = (list: CheckCase[]) => list.filter((k) => !k.ok).length;
  const skipped = (list: CheckCase[]) => list.filter((k) => k.ok && k.verdict !== 'passed').length;
  const prefix = `ironlab.${campaign.name}`;
  const doc = {
    '?xml': { '@_version': '1.0', '@_encoding': 'UTF-8' },
    testsuites: {
      '@_name': `ironlab ${campaign.name} ${campaign.id}`,
      '@_tests': cases.length,
      '@_failures': failures(cases),
      '@_errors': 0,
      '@_skipped': skipped(cases),
      ...(wallS !== undefined ? { '@_time': wallS.toFixed(3) } : {}),
      testsuite: suites.map((s) => ({
        '@_name': `${prefix}.${s.name}`,
        '@_tests': s.cases.length,
        '@_failures': failures(s.cases),
        '@_errors': 0,
        '@_skipped': skipped(s.cases),
        '@_timestamp': campaign.createdAt,
        testcase: s.cases.map((k) => ({
          '@_classname': `${prefix}.${s.name}`,
          '@_name': k.name,
          ...(k.ok ? {} : { failure: { '@_message': `${k.verdict}: ${k.message}`, '@_type': k.verdict, '#text': k.details.join('\n') } }),
          ...(k.ok && k.verdict !== 'passed'
            ? { skipped: { '@_message': `${k.verdict} (allowed by --allow-inconclusive): ${k.message}` } }
            : {}),
          'system-out': `${k.verdict}: ${k.message}\n${k.details.join('\n')}`,
        })),
      })),
    },
  };
  const builder = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: '@_', format: true, suppressEmptyNode: true });
  return builder.build(doc);
}
