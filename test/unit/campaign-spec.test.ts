import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { UserInputError } from '../../workloads/common/errors.ts';
import { listBuiltinCampaigns, loadCampaign, parseCampaign } from '../../orchestrator/campaign/spec.ts';
import { minimalCampaign } from '../fixtures/campaigns/minimal.ts';

const fixture = (name: string) => join(import.meta.dirname, '../fixtures/campaigns', name);

/** The message a user would see, or fails the test if nothing was thrown. */
function refusal(fn: () => unknown): UserInputError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UserInputError);
    return err as UserInputError;
  }
  throw new Error('expected a UserInputError');
}

const minimal = minimalCampaign;

describe('built-in campaigns', () => {
  it('lists paper and smoke with their descriptions', () => {
    const names = listBuiltinCampaigns().map((b) => b.name);
    expect(names).toContain('paper');
    expect(names).toContain('smoke');
    expect(listBuiltinCampaigns().find((b) => b.name === 'paper')?.description).toMatch(/IRON/);
  });

  it('loads paper by default: the section 2.3 matrix on two sim hosts', () => {
    const { spec, hash, source, warnings } = loadCampaign();
    expect(spec.name).toBe('paper');
    expect(spec.hosts.map((h) => [h.id, h.backend, h.profile, h.roles])).toEqual([
      ['sim-1', 'sim', 'paper', ['server']],
      ['sim-2', 'sim', 'paper', ['server']],
    ]);
    expect(spec.matrix.map((m) => m.workload)).toEqual(['sysbench', 'udp-sender', 'tcp-sender', 'udp-receiver', 'tcp-receiver']);
    expect(spec.matrix[1].rateGbps).toEqual([null, 1, 2, 3, 5, 8]);
    expect(spec.enforcement).toEqual(['none', 'iron-kernel', 'ebpf']);
    expect(spec).toMatchObject({ repetitions: 3, seed: 42, shuffle: true, maxAttempts: 3 });
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(source.path).toMatch(/builtin[\\/]paper\.yaml$/);
    expect(source.text).toContain('name: paper');
    expect(warnings).toEqual([]);
  });

  it('loads smoke by name', () => {
    const { spec } = loadCampaign('smoke');
    expect(spec.defaults.durationS).toBe(1);
    expect(spec.defaults.warmupS).toBe(0.2);
    expect(spec.enforcement).toEqual(['none', 'iron-kernel']);
    expect(spec.repetitions).toBe(2);
  });

  it('says which names exist for an unknown name', () => {
    const err = refusal(() => loadCampaign('papr'));
    expect(err.message).toMatch(/unknown campaign 'papr'/);
    expect(err.message).toMatch(/paper, smoke/);
  });

  it('says so for a missing file', () => {
    expect(refusal(() => loadCampaign('campaigns/nope.yaml')).message).toMatch(/campaigns\/nope\.yaml: no such campaign file/);
  });
});

describe('campaign file validation', () => {
  it('points at the line and column of a bad value, with the value', () => {
    const err = refusal(() => loadCampaign(fixture('bad-flows.yaml')));
    expect(err.message).toMatch(/bad-flows\.yaml:9:16: matrix\[1\]\.flows\[1\]: expected a whole number from 1 to 256, got "four"$/);
  });

  it('refuses unknown keys and suggests the one meant', () => {
    const err = refusal(() => loadCampaign(fixture('typo-key.yaml')));
    expect(err.message).toMatch(/typo-key\.yaml:6:3: defaults: unknown key 'durationSec' \(did you mean 'durationS'\?\)/);
  });

  it('reports YAML syntax errors with line and column', () => {
    const err = refusal(() => loadCampaign(fixture('syntax.yaml')));
    expect(err.message).toMatch(/syntax\.yaml:\d+:\d+: YAML syntax: /);
  });

  it('reports every problem in one error, first in file order', () => {
    const err = refusal(() =>
      parseCampaign(
        `name: t
hosts:
  - { id: s1, backend: vm }
matrix:
  - workload: sysbench
  - workload: tcp-recever
enforcement: [none, iron]
repetitions: 0
`,
        'x.yaml',
      ),
    );
    const lines = err.message.split('\n');
    expect(lines[0]).toBe('x.yaml:3:24: hosts[0].backend: expected sim or docker, got "vm"');
    expect(err.message).toContain(
      'x.yaml:6:15: matrix[1].workload: expected one of sysbench, udp-sender, udp-receiver, tcp-sender, tcp-receiver, sockperf-pingpong, idle, got "tcp-recever" (did you mean \'tcp-receiver\'?)',
    );
    expect(err.message).toContain(
      'x.yaml:7:21: enforcement[1]: expected one of none, iron-kernel, ebpf, got "iron" (did you mean \'iron-kernel\'?)',
    );
    expect(err.message).toContain('x.yaml:8:14: repetitions: expected a whole number from 1 to 1000, got 0');
  });

  it('shows the path the user wrote when a scalar stands for a list', () => {
    const err = refusal(() => parseCampaign(minimal('').replace('rateGbps: [9]', 'rateGbps: 0'), 'x.yaml'));
    expect(err.message).toBe('x.yaml:7:15: matrix[1].rateGbps: expected a rate in Gbit/s above 0 and up to 400, or unlimited, got 0');
  });

  it('refuses an empty file and a non-mapping', () => {
    expect(refusal(() => parseCampaign('', 'e.yaml')).message).toMatch(/e\.yaml: the file is empty/);
    expect(refusal(() => parseCampaign('- a\n- b\n', 'l.yaml')).message).toMatch(/l\.yaml:1:1: expected a mapping/);
  });

  it('checks semantics: unique host ids, a server host, a sysbench control', () => {
    const err = refusal(() => loadCampaign(fixture('semantic.yaml')));
    expect(err.message).toMatch(/semantic\.yaml:6:9: hosts\[1\]\.id: host id 'a' is already used by hosts\[0\]/);
    expect(err.message).toMatch(/no host has the role 'server'/);
    expect(err.message).toMatch(/no sysbench entry: penalties need the sysbench-neighbour control/);
  });

  it('refuses peers on the victim core when there is no peer host', () => {
    const err = refusal(() => parseCampaign(minimal('defaults:\n  peer: { cpus: [0, 1] }\n'), 'p.yaml'));
    expect(err.message).toMatch(/p\.yaml:9:3: defaults: peer cpus \[0,1\] overlap the victim's cpus \[0\]/);
  });

  it('refuses an empty filter, which would drop everything', () => {
    expect(refusal(() => parseCampaign(minimal('exclude:\n  - {}\n'), 'f.yaml')).message).toBe(
      'f.yaml:9:5: exclude[0]: an empty filter would drop every run',
    );
  });

  it('refuses a scenario listed twice and filters that drop the control', () => {
    expect(refusal(() => parseCampaign(minimal('  - workload: tcp-receiver\n    rateGbps: 9\n'), 'd.yaml')).message).toMatch(
      /d\.yaml:8:5: matrix\[2\]: repeats the scenario 'tcp-receiver rateGbps=9' of matrix\[1\]/,
    );
    expect(refusal(() => parseCampaign(minimal('exclude:\n  - { workload: sysbench, enforcement: none }\n'), 'x.yaml')).message).toMatch(
      /filters drop every sysbench control run with enforcement none/,
    );
    expect(refusal(() => parseCampaign(minimal('').replace('[9]', '[unlimited, null]'), 'u.yaml')).message).toMatch(
      /lists the scenario 'tcp-receiver unlimited' twice/,
    );
  });

  it('fills defaults and accepts scalars for lists', () => {
    const { spec, warnings } = loadCampaign(fixture('custom.yaml'));
    expect(spec.description).toBe('');
    expect(spec.hosts[1].roles).toEqual(['peer']);
    expect(spec.defaults.victim).toEqual({ quotaUs: 50000, periodUs: 100000, cpus: [0] });
    expect(spec.matrix[1].messageBytes).toEqual([512]);
    expect(spec.maxAttempts).toBe(3);
    expect(warnings).toEqual([]);
  });

  it('refuses a scenario without a control of the same run settings, naming it', () => {
    // a labelled control with a 100 ms quota beside a scenario with 50 ms quotas: it is not the scenario's control
    const text = minimal('').replace(
      '  - workload: sysbench\n',
      '  - workload: sysbench\n    label: q100\n    victim: { quotaUs: 100000 }\n',
    );
    const err = refusal(() => parseCampaign(text, 'q.yaml'));
    expect(err.message).toMatch(
      /^q\.yaml:\d+:\d+: matrix\[1\]: scenario 'tcp-receiver rateGbps=9' has no sysbench control with the same run settings/,
    );
    expect(err.message.split('\n')).toHaveLength(1);
    // with the matching control beside it, the same file is valid
    expect(
      parseCampaign(
        text.replace('  - workload: sysbench\n    label: q100', '  - workload: sysbench\n  - workload: sysbench\n    label: q100'),
      ).spec.matrix,
    ).toHaveLength(3);
  });

  it('fills design and guards: blocked for docker hosts, shuffled for sim-only, and refuses bad values', () => {
    expect(loadCampaign('paper').spec.design).toBe('shuffled');
    expect(loadCampaign('local-docker').spec.design).toBe('blocked');
    expect(loadCampaign('paper').spec.guards).toEqual({ achievedLoadTolerance: 0.1, maxStealShare: 0.02, maxForeignCpuShare: 0.05 });
    const spec = parseCampaign(minimal('design: shuffled\nguards: { maxStealShare: 0.05, maxForeignCpuShare: null }\n')).spec;
    expect([spec.design, spec.guards]).toEqual(['shuffled', { achievedLoadTolerance: 0.1, maxStealShare: 0.05, maxForeignCpuShare: null }]);
    expect(refusal(() => parseCampaign(minimal('design: paired\n'), 'p.yaml')).message).toMatch(
      /p\.yaml:\d+:\d+: design: expected blocked or shuffled/,
    );
    expect(refusal(() => parseCampaign(minimal('guards: { maxStealShare: 2 }\n'), 'g.yaml')).message).toMatch(
      /guards\.maxStealShare: expected a fraction from 0 to 1/,
    );
  });

  it('hashes meaning, not formatting', () => {
    const a = parseCampaign(minimal('seed: 3\n'));
    const b = parseCampaign(`# same campaign, other layout
name: t
seed: 3
matrix: [{ workload: sysbench }, { workload: tcp-receiver, rateGbps: 9 }]
hosts: [{ backend: sim, id: s1, roles: server }]
enforcement: none
`);
    expect(b.hash).toBe(a.hash);
    expect(parseCampaign(minimal('seed: 4\n')).hash).not.toBe(a.hash);
  });
});
