// A group's CPU files under either cgroup hierarchy, detected once per host (it cannot change while the host
// is up).
//   v1 (this machine): cpu and cpuacct hierarchies; cpu.cfs_quota_us / cpu.cfs_period_us; cpu.stat in ns
//      (throttled_time); cpuacct.usage and cpuacct.usage_percpu in ns.
//   v2 (unified: Debian 12, the QEMU lab's guests): one directory per group; cpu.max "QUOTA|max PERIOD";
//      cpu.stat in us (usage_usec, nr_periods, nr_throttled, throttled_usec); no per-CPU usage file at all.
// What stands in for per-CPU usage on v2: a group whose cpuset allows one core ran only there, so its usage is
// that core's. A group on several cores has no per-CPU figure (null), and the samples that need one are left
// out rather than guessed (window-samples.ts).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cgroupPathFor, parseCpuList, parseKeyValues, parseUsagePercpu } from './proc-parsers.ts';

export const CGROUP_ROOT = '/sys/fs/cgroup';

export type CgroupVersion = 1 | 2;

export interface CgroupPaths {
  version: CgroupVersion;
  /** v1: the cpu hierarchy's directory; v2: the group's one directory. */
  cpu: string;
  /** v1: the cpuacct hierarchy's directory; v2: the same as `cpu`. */
  cpuacct: string;
}

export interface CgroupCounters {
  nrPeriods: number;
  nrThrottled: number;
  throttledNs: number;
  usageNs: number;
  /** ns per CPU; null where the kernel does not say (v2, group not pinned to one core). */
  usagePercpuNs: number[] | null;
}

/** Which hierarchy carries the cpu controller at `root`; null when neither does. */
export function cgroupVersion(root = CGROUP_ROOT): CgroupVersion | null {
  if (existsSync(join(root, 'cpu', 'cpu.cfs_quota_us'))) return 1;
  if (readOr(join(root, 'cgroup.controllers')).split(/\s+/).includes('cpu')) return 2;
  return null;
}

const detected = new Map<string, CgroupVersion | null>();
/** cgroupVersion, looked at once per root for the life of the process. */
export function hostCgroupVersion(root = CGROUP_ROOT): CgroupVersion | null {
  if (!detected.has(root)) detected.set(root, cgroupVersion(root));
  return detected.get(root)!;
}

/** A process's cpu group: v1's cpu and cpuacct directories (Docker's cgroupfs driver: .../docker/<id>), or v2's one. */
export function cgroupPathsOf(pid: number, root = CGROUP_ROOT, proc = '/proc'): CgroupPaths {
  const text = readFileSync(join(proc, String(pid), 'cgroup'), 'utf8');
  const cpu = cgroupPathFor(text, 'cpu');
  const cpuacct = cgroupPathFor(text, 'cpuacct');
  // cpu and cpuacct may be co-mounted (cpu,cpuacct) or separate (this machine): both names resolve.
  if (cpu !== null && cpuacct !== null) return { version: 1, cpu: join(root, 'cpu', cpu), cpuacct: join(root, 'cpuacct', cpuacct) };
  const unified = /^0::(.*)$/m.exec(text)?.[1];
  if (unified !== undefined && hostCgroupVersion(root) === 2) {
    const dir = join(root, unified);
    return { version: 2, cpu: dir, cpuacct: dir };
  }
  throw new Error(`process ${pid} has no cgroup v1 cpu/cpuacct group and no cgroup v2 group with the cpu controller under ${root}`);
}

/** CPU time charged to the group, in ns. */
export function readUsageNs(p: CgroupPaths): number {
  if (p.version === 1) return Number(readFileSync(join(p.cpuacct, 'cpuacct.usage'), 'utf8').trim());
  return (parseKeyValues(readFileSync(join(p.cpu, 'cpu.stat'), 'utf8')).usage_usec ?? 0) * 1000;
}

export function readCgroup(p: CgroupPaths): CgroupCounters {
  const stat = parseKeyValues(readFileSync(join(p.cpu, 'cpu.stat'), 'utf8'));
  if (p.version === 1)
    return {
      nrPeriods: stat.nr_periods ?? 0,
      nrThrottled: stat.nr_throttled ?? 0,
      throttledNs: stat.throttled_time ?? 0,
      usageNs: Number(readFileSync(join(p.cpuacct, 'cpuacct.usage'), 'utf8').trim()),
      usagePercpuNs: parseUsagePercpu(readFileSync(join(p.cpuacct, 'cpuacct.usage_percpu'), 'utf8')),
    };
  const usageNs = (stat.usage_usec ?? 0) * 1000;
  const cores = parseCpuList(readOr(join(p.cpu, 'cpuset.cpus.effective')));
  const percpu = cores.length === 1 ? Array.from({ length: cores[0] + 1 }, (_, i) => (i === cores[0] ? usageNs : 0)) : null;
  return {
    nrPeriods: stat.nr_periods ?? 0,
    nrThrottled: stat.nr_throttled ?? 0,
    throttledNs: (stat.throttled_usec ?? 0) * 1000,
    usageNs,
    usagePercpuNs: percpu,
  };
}

/** The file that holds a group's CFS quota (what the eBPF controller rewrites and the reaper restores). */
export function quotaFileOf(cpuDir: string, version: CgroupVersion): string {
  return join(cpuDir, version === 1 ? 'cpu.cfs_quota_us' : 'cpu.max');
}

/** The quota in us (-1 = unlimited) from either file: v1 "-1" / "50000", v2 "max 100000" / "50000 100000". */
export function parseQuotaUs(text: string): number {
  const first = text.trim().split(/\s+/)[0];
  return first === 'max' ? -1 : Number(first);
}

/** The period in us: v2 says it in cpu.max beside the quota, v1 in its own file. */
export function readPeriodUs(cpuDir: string, version: CgroupVersion, read = (f: string) => readFileSync(f, 'utf8')): number {
  if (version === 1) return Number(read(join(cpuDir, 'cpu.cfs_period_us')).trim());
  return Number(read(join(cpuDir, 'cpu.max')).trim().split(/\s+/)[1]);
}

/** What to write to `file` for a quota of `us`: v2 has no -1 (it says max); one number keeps the period on both. */
export function formatQuota(file: string, us: number): string {
  return file.endsWith('cpu.max') && us < 0 ? 'max' : String(us);
}

export function readQuotaUs(p: CgroupPaths): number {
  return parseQuotaUs(readFileSync(quotaFileOf(p.cpu, p.version), 'utf8'));
}

function readOr(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return '';
  }
}
