// The docker backend's cgroup files under both hierarchies, against fake trees: v1 (this machine) and v2
// (Debian 12, the QEMU lab's guests), and what a run's samples say when v2 gives no per-CPU usage.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cgroupPathsOf, cgroupVersion, formatQuota, parseQuotaUs, readCgroup, readUsageNs } from '../../agents/docker/cgroup-files.ts';
import { ChargingController, fsQuotaIo } from '../../agents/enforcement/charging.ts';
import { ebpfMissing, kernelTooOldForEbpf } from '../../agents/enforcement/capabilities.ts';
import { windowSamples } from '../../agents/docker/window-samples.ts';
import type { Snapshot } from '../../agents/docker/counters.ts';
import { METRIC } from '../../agents/samples.ts';
import { testRun } from '../fakes/fake-backend.ts';
import { fileTree } from '../fakes/file-tree.ts';

const tree = (files: Record<string, string>) => fileTree(files, 'ironlab-cg-');

const V2_STAT = 'usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\nnr_periods 40\nnr_throttled 7\nthrottled_usec 120000\n';

describe('cgroup v2 (unified)', () => {
  const root = tree({
    'cg/cgroup.controllers': 'cpuset cpu io memory pids\n',
    'cg/system.slice/docker-abc.scope/cpu.stat': V2_STAT,
    'cg/system.slice/docker-abc.scope/cpu.max': '50000 100000\n',
    'cg/system.slice/docker-abc.scope/cpuset.cpus.effective': '1\n',
    'cg/docker/def/cpu.stat': V2_STAT,
    'cg/docker/def/cpuset.cpus.effective': '0-1\n',
    'proc/42/cgroup': '0::/system.slice/docker-abc.scope\n',
    'proc/43/cgroup': '0::/docker/def\n',
  });
  const cg = join(root, 'cg');

  it('is detected, and a process is found in its one group', () => {
    expect(cgroupVersion(cg)).toBe(2);
    expect(cgroupPathsOf(42, cg, join(root, 'proc'))).toEqual({
      version: 2,
      cpu: join(cg, 'system.slice/docker-abc.scope'),
      cpuacct: join(cg, 'system.slice/docker-abc.scope'),
    });
  });

  it('reads cpu.stat in microseconds as ns; a group pinned to one core has its usage there, one on two cores none', () => {
    const pinned = readCgroup(cgroupPathsOf(42, cg, join(root, 'proc')));
    expect(pinned).toEqual({
      nrPeriods: 40,
      nrThrottled: 7,
      throttledNs: 120_000_000,
      usageNs: 2_500_000_000,
      usagePercpuNs: [0, 2_500_000_000],
    });
    const spread = readCgroup(cgroupPathsOf(43, cg, join(root, 'proc')));
    expect(spread.usagePercpuNs).toBeNull();
    expect(readUsageNs(cgroupPathsOf(43, cg, join(root, 'proc')))).toBe(2_500_000_000);
  });

  it('charges through cpu.max: writes the quota alone (the period stays), restores it, says max for unlimited', () => {
    const dir = join(cg, 'system.slice/docker-abc.scope');
    const c = new ChargingController([{ name: 'n', cgroup: { version: 2, cpu: dir } }], { io: fsQuotaIo });
    expect(c.originals()).toEqual([{ file: join(dir, 'cpu.max'), quotaUs: 50_000 }]);
    expect(c.state('n')!.periodUs).toBe(100_000);
    const d = c.period(new Map([['n', { elapsedUs: 100_000, usedUs: 20_000, chargeUs: 30_000, creditUs: 0 }]]));
    expect(readFileSync(join(dir, 'cpu.max'), 'utf8')).toBe(String(d.get('n')!.quotaUs));
    c.restore();
    expect(readFileSync(join(dir, 'cpu.max'), 'utf8')).toBe('50000');
    expect(parseQuotaUs('max 100000\n')).toBe(-1);
    expect(formatQuota(join(dir, 'cpu.max'), -1)).toBe('max');
    expect(formatQuota('/x/cpu.cfs_quota_us', -1)).toBe('-1');
  });

  it('a run on several cores leaves the victim/neighbours/other split out instead of guessing it', () => {
    const snap = (usage: number, percpu: number[] | null, at: number): Snapshot => ({
      atMs: at,
      cores: new Map([[0, { user: at / 10, nice: 0, system: 0, idle: 0, iowait: 0, irq: 0, softirq: 0, steal: 0 }]]),
      softirqs: {},
      ksoftirqdTicks: new Map(),
      cgroups: new Map([['victim', { nrPeriods: 0, nrThrottled: 0, throttledNs: 0, usageNs: usage, usagePercpuNs: percpu }]]),
      netns: new Map(),
    });
    const cats = (percpu: (u: number) => number[] | null) =>
      windowSamples(testRun(), snap(0, percpu(0), 0), snap(1e9, percpu(1e9), 1000), ['victim'])
        .filter((s) => s.metric === METRIC.coreTimeS)
        .map((s) => s.labels.category);
    expect(cats((u) => [u])).toContain('victim');
    const unknown = cats(() => null);
    expect(unknown).not.toContain('victim');
    expect(unknown).not.toContain('other');
    expect(unknown).toContain('idle');
  });
});

describe('cgroup v1 (this machine)', () => {
  const root = tree({
    'cg/cpu/cpu.cfs_quota_us': '-1\n',
    'cg/cpu/docker/x/cpu.stat': 'nr_periods 3\nnr_throttled 1\nthrottled_time 5000\n',
    'cg/cpuacct/docker/x/cpuacct.usage': '900\n',
    'cg/cpuacct/docker/x/cpuacct.usage_percpu': '400 500 \n',
    'proc/7/cgroup': '5:cpuacct:/docker/x\n4:cpu:/docker/x\n0::/\n',
  });
  const cg = join(root, 'cg');

  it('is detected, and reads cpu.stat and cpuacct as before', () => {
    expect(cgroupVersion(cg)).toBe(1);
    const p = cgroupPathsOf(7, cg, join(root, 'proc'));
    expect(p).toEqual({ version: 1, cpu: join(cg, 'cpu/docker/x'), cpuacct: join(cg, 'cpuacct/docker/x') });
    expect(readCgroup(p)).toEqual({ nrPeriods: 3, nrThrottled: 1, throttledNs: 5000, usageNs: 900, usagePercpuNs: [400, 500] });
  });

  it('says which hierarchy a process lacks', () => {
    const bare = tree({ 'cg/x': '', 'proc/9/cgroup': '0::/\n' });
    expect(() => cgroupPathsOf(9, join(bare, 'cg'), join(bare, 'proc'))).toThrow(/no cgroup v1 cpu\/cpuacct group and no cgroup v2 group/);
  });
});

describe('the ebpf arm on old kernels', () => {
  it('is refused with one reason before 5.11, and not for lacking bpf_rdonly_cast (6.1: the probe-read variant)', () => {
    const proc = tree({ 'sys/kernel/osrelease': '5.10.0-28\n' });
    expect(ebpfMissing({ procRoot: proc, mount: false })).toEqual([
      expect.stringMatching(/^Linux 5\.10\.0-28 is older than 5\.11: .*bpf_get_current_task_btf/),
    ]);
    expect(kernelTooOldForEbpf(tree({ 'sys/kernel/osrelease': '6.1.0-iron\n' }))).toBeNull();
    expect(kernelTooOldForEbpf(tree({ 'sys/kernel/osrelease': '6.12.5\n' }))).toBeNull();
  });
});
