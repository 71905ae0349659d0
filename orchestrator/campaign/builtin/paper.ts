// The built-in `paper` campaign file, generated from the paper's set-up in its one home
// (agents/sim/paper-defaults.ts): its defaults, its matrix and the enforcement modes' registry. The file stays a
// file so that it can be copied as a start; test/unit/paper-campaign.test.ts fails when it and its source
// disagree. Regenerate with:  npx tsx orchestrator/campaign/builtin/paper.ts
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ENFORCEMENTS } from '../../../agents/enforcement/modes.ts';
import { PAPER_MATRIX, PAPER_PROFILE, paperSettings } from '../../../agents/sim/paper-defaults.ts';

const list = (xs: readonly (number | null)[]) => `[${xs.map((x) => (x === null ? 'unlimited' : String(x))).join(', ')}]`;
const shape = (s: { quotaUs: number; periodUs: number; cpus: number[] }) =>
  `{ quotaUs: ${s.quotaUs}, periodUs: ${s.periodUs}, cpus: ${list(s.cpus)} }`;
const pad = (text: string, comment: string) => (comment ? `${text.padEnd(27)} # ${comment}` : text).trimEnd();

export function paperCampaignYaml(): string {
  const d = paperSettings();
  const matrix = PAPER_MATRIX.flatMap((e, i) => [
    pad(`  - workload: ${e.workload}`, i === 0 ? 'the control arm: penalties divide by it' : ''),
    ...(e.rateGbps
      ? [pad(`    rateGbps: ${list(e.rateGbps)}`, e.rateGbps.includes(null) ? '`unlimited` (or null) = no rate limit' : '')]
      : []),
    ...(e.flows ? [`    flows: ${list(e.flows)}`] : []),
  ]);
  return [
    "# The IRON paper's interference matrix (NSDI '18, section 2.3) on two simulated hosts.",
    '# `ironlab run` with no argument runs this. Copy it to start your own campaign.',
    '# Generated from agents/sim/paper-defaults.ts by orchestrator/campaign/builtin/paper.ts: change it there.',
    'name: paper',
    'description: IRON section 2.3 matrix on simulated hosts',
    pad('hosts:', 'the pool; each run leases one `server` host (and one `peer` host if any has that role)'),
    '  - id: sim-1',
    pad('    backend: sim', 'sim | docker'),
    pad(`    profile: ${PAPER_PROFILE}`, 'sim host profile (sim only)'),
    pad('    roles: [server]', 'server | peer ; default [server]'),
    '  - id: sim-2',
    '    backend: sim',
    pad('defaults:', 'every run inherits these; a matrix entry may override any of them'),
    `  warmupS: ${d.warmupS}`,
    `  durationS: ${d.durationS}`,
    pad(`  neighbours: ${d.neighbours}`, '"the other containers" (IRON section 2.3): rateGbps is their total offered rate'),
    pad(`  victim:    ${shape(d.victim)}`, 'equal quotas that together fill core 0'),
    pad(`  neighbour: ${shape(d.neighbour)}`, 'each'),
    `  peer:      { cpus: ${list(d.peer.cpus)} }`,
    `  nicCpus: ${list(d.nicCpus)}`,
    pad('matrix:', 'each entry: one workload kind x the cross product of its parameter lists'),
    ...matrix,
    pad('exclude: []', 'filters: drop any run matching all given keys, e.g.'),
    pad('', '  - { workload: tcp-receiver, rateGbps: 9, enforcement: ebpf }'),
    `enforcement: [${ENFORCEMENTS.join(', ')}]`,
    'repetitions: 3',
    'seed: 42',
    'shuffle: true',
    pad('maxAttempts: 3', 'per run, for retryable failures'),
    '',
  ].join('\n');
}

export const PAPER_CAMPAIGN_PATH = fileURLToPath(new URL('./paper.yaml', import.meta.url));

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) writeFileSync(PAPER_CAMPAIGN_PATH, paperCampaignYaml());
