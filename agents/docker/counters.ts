// Kernel counters read at the edges of the measurement window (never in between: reading costs the host CPU
// we are measuring). One snapshot = /proc/stat per core, /proc/softirqs, each core's ksoftirqd time, and each
// container's cgroup counters (cgroup-files.ts: v1 or v2). samples.ts turns two snapshots into samples.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { readCgroup, type CgroupCounters, type CgroupPaths } from './cgroup-files.ts';
import {
  parseNetDev,
  parsePidStat,
  parseSnmp,
  parseProcStat,
  parseSoftirqs,
  parseUsagePercpu,
  parseIpiCounts,
  parseSchedstat,
  parseSoftnetStat,
  type CpuTimes,
  type SoftnetRow,
  type DevCounters,
} from './proc-parsers.ts';

export interface Snapshot {
  atMs: number;
  cores: Map<number, CpuTimes>;
  softirqs: Record<string, number[]>;
  /** ksoftirqd/N utime+stime in ticks, by core. */
  ksoftirqdTicks: Map<number, number>;
  cgroups: Map<string, CgroupCounters>;
  /** Per-container network namespace counters (read through /proc/<pid>/net, no entering the namespace). */
  netns: Map<string, NetnsCounters>;
  /** Who else used the cores (host-cpu-samples.ts); absent on a side that does not measure it (a peer host). */
  host?: HostCpuCounters;
}

/** Where the cores' time went outside the containers, and how receive work moved between cores. */
export interface HostCpuCounters {
  /** cpuacct.usage_percpu (ns) of: the hierarchy's root (every task), Docker's parent of all containers, and
   *  each of the experiment's own groups made for the window (quiet-cores.ts). Empty where absent (cgroup v2
   *  has no per-CPU usage: the `other` foreign CPU is then not measured, host-cpu-samples.ts). */
  rootPercpuNs: number[];
  dockerPercpuNs: number[];
  whoPercpuNs: Map<string, number[]>;
  /** ksoftirqd/N run time in ns, from schedstat (exact, not ticks). */
  ksoftirqdNs: Map<number, number>;
  softnet: Map<number, SoftnetRow>;
  /** /proc/interrupts per-CPU event rows: CAL (function-call IPIs, RPS's kicks among them), RES... */
  ipis: Record<string, number[]>;
}

/** Where to read HostCpuCounters: cpuacct directories (absent ones read as empty). */
export interface HostCpuSources {
  cpuacctRoot: string | null;
  dockerCpuacct: string | null;
  who: Map<string, string>;
}

export function readHostCpu(src: HostCpuSources, ksoftirqd: Map<number, number>): HostCpuCounters {
  const percpu = (dir: string | null | undefined) => {
    try {
      return dir ? parseUsagePercpu(readFileSync(join(dir, 'cpuacct.usage_percpu'), 'utf8')) : [];
    } catch {
      return [];
    }
  };
  const ksoftirqdNs = new Map<number, number>();
  for (const [core, pid] of ksoftirqd) {
    try {
      ksoftirqdNs.set(core, parseSchedstat(readFileSync(`/proc/${pid}/schedstat`, 'utf8')).runNs);
    } catch {
      // no schedstat (CONFIG_SCHED_INFO off): the ksoftirqd ticks stand in
    }
  }
  return {
    rootPercpuNs: percpu(src.cpuacctRoot),
    dockerPercpuNs: percpu(src.dockerCpuacct),
    whoPercpuNs: new Map([...src.who].map(([w, d]) => [w, percpu(d)])),
    ksoftirqdNs,
    softnet: parseSoftnetStat(readFileSync('/proc/net/softnet_stat', 'utf8')),
    ipis: parseIpiCounts(readFileSync('/proc/interrupts', 'utf8')),
  };
}

export interface NetnsCounters {
  snmp: Record<string, Record<string, number>>;
  eth0: DevCounters | null;
}

export function readNetns(pid: number): NetnsCounters {
  return {
    snmp: parseSnmp(readFileSync(`/proc/${pid}/net/snmp`, 'utf8')),
    eth0: parseNetDev(readFileSync(`/proc/${pid}/net/dev`, 'utf8')).get('eth0') ?? null,
  };
}

/** ksoftirqd/N pids, found once (kernel threads live as long as the CPU is online). */
export function findKsoftirqd(proc = '/proc'): Map<number, number> {
  const out = new Map<number, number>();
  for (const entry of readdirSync(proc)) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const m = readFileSync(join(proc, entry, 'comm'), 'utf8')
        .trim()
        .match(/^ksoftirqd\/(\d+)$/);
      if (m) out.set(Number(m[1]), Number(entry));
    } catch {
      // processes exit while we scan
    }
  }
  return out;
}

export function takeSnapshot(
  ksoftirqd: Map<number, number>,
  cgroups: Map<string, CgroupPaths>,
  pids: Map<string, number> = new Map(),
  host?: HostCpuSources,
): Snapshot {
  const ksoftirqdTicks = new Map<number, number>();
  for (const [core, pid] of ksoftirqd) {
    const s = parsePidStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    ksoftirqdTicks.set(core, s.utime + s.stime);
  }
  const cg = new Map<string, CgroupCounters>();
  for (const [name, paths] of cgroups) cg.set(name, readCgroup(paths));
  const netns = new Map<string, NetnsCounters>();
  for (const [name, pid] of pids) {
    try {
      netns.set(name, readNetns(pid));
    } catch {
      // a flood client that already exited has no namespace left to read
    }
  }
  return {
    atMs: Date.now(),
    cores: parseProcStat(readFileSync('/proc/stat', 'utf8')),
    softirqs: parseSoftirqs(readFileSync('/proc/softirqs', 'utf8')),
    ksoftirqdTicks,
    cgroups: cg,
    netns,
    ...(host ? { host: readHostCpu(host, ksoftirqd) } : {}),
  };
}
