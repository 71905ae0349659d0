// Two counter snapshots (the window's edges) plus the workloads' own reports -> the uniform samples, with the
// metric names and labels the sim backend uses, so the orchestrator cannot tell the backends apart.
//
// What is exact and what is approximate on a kernel without CONFIG_IRQ_TIME_ACCOUNTING (this machine's):
// - cgroup usage, nr_periods, nr_throttled, throttled_time, ksoftirqd thread time: exact kernel counters.
// - cgroup v2 has no per-CPU usage (cgroup-files.ts): a container pinned to one core has its usage there; for
//   one on several cores the victim / neighbours / other split of core_time_s is not emitted.
// - /proc/stat's softirq column is tick-sampled: a tick that lands while a softirq is served counts as
//   softirq time, whether in ksoftirqd or in the context of an interrupted task. Good to ~10 ms per second.
// - core_time_s partition: softirq_task = stat softirq - ksoftirqd time (ticks in ksoftirqd are also softirq
//   ticks). The kernel charges softirq run in task context to the interrupted task's cgroup and we cannot
//   tell which one from these counters, so it is taken out of victim and neighbours in proportion to their
//   usage on that core. `other` is what remains (host processes, the agent, dockerd, peers off their cores).
// - softirq_time_s {vec}: /proc/softirqs counts events, not time. The core's softirq time is split between
//   NET_RX and NET_TX in proportion to their counts, i.e. it assumes the softirq time on the core is network
//   work (true under a flood; in the sysbench control the total is near zero anyway).
import type { RunSpec } from '../run-spec.ts';
import { CORE_CATEGORIES, METRIC, sample, victimName, type CoreCategory, type Sample } from '../samples.ts';
import type { Snapshot } from './counters.ts';
import { totalTicks } from './proc-parsers.ts';

/** USER_HZ: the unit of /proc/stat and /proc/<pid>/stat, fixed at 100 by the kernel's ABI on x86 and arm64. */
export const USER_HZ = 100;

export function windowSamples(run: RunSpec, a: Snapshot, b: Snapshot, containers: string[]): Sample[] {
  const out: Sample[] = [];
  const windowS = (b.atMs - a.atMs) / 1000;
  out.push(sample(METRIC.windowS, windowS, 's'));

  for (const name of containers) {
    const x = a.cgroups.get(name);
    const y = b.cgroups.get(name);
    if (!x || !y) continue;
    const labels = { container: name };
    out.push(sample(METRIC.cgroupUsageS, (y.usageNs - x.usageNs) / 1e9, 's', labels));
    out.push(sample(METRIC.cgroupNrPeriods, y.nrPeriods - x.nrPeriods, 'count', labels));
    out.push(sample(METRIC.cgroupNrThrottled, y.nrThrottled - x.nrThrottled, 'count', labels));
    out.push(sample(METRIC.cgroupThrottledTimeS, (y.throttledNs - x.throttledNs) / 1e9, 's', labels));
  }

  // Without per-CPU usage (cgroup v2, a group on several cores) victim, neighbours and other are not known: left out.
  const known = containers.every((n) => !a.cgroups.has(n) || (a.cgroups.get(n)!.usagePercpuNs && b.cgroups.get(n)?.usagePercpuNs));
  for (const [core, tb] of b.cores) {
    const ta = a.cores.get(core);
    if (!ta) continue;
    const c = String(core);
    const cat = coreCategories(core, a, b, containers);
    for (const category of CORE_CATEGORIES)
      if (known || !CONTAINER_SPLIT.includes(category)) out.push(sample(METRIC.coreTimeS, cat[category], 's', { core: c, category }));
    const softirqS = (tb.softirq - ta.softirq) / USER_HZ;
    const rx = countDelta(a, b, 'NET_RX', core);
    const tx = countDelta(a, b, 'NET_TX', core);
    const net = rx + tx;
    out.push(sample(METRIC.softirqTimeS, net ? (softirqS * rx) / net : 0, 's', { core: c, vec: 'NET_RX' }));
    out.push(sample(METRIC.softirqTimeS, net ? (softirqS * tx) / net : 0, 's', { core: c, vec: 'NET_TX' }));
    out.push(sample(METRIC.ksoftirqdTimeS, cat.ksoftirqd, 's', { core: c }));
    if (run.victim.cpus.includes(core)) out.push(sample(METRIC.ksoftirqdShare, cat.ksoftirqd / windowS, 'fraction', { core: c }));
  }
  return out;
}

function countDelta(a: Snapshot, b: Snapshot, vec: string, core: number): number {
  return (b.softirqs[vec]?.[core] ?? 0) - (a.softirqs[vec]?.[core] ?? 0);
}

/** The categories that need each container's per-CPU usage. */
const CONTAINER_SPLIT: CoreCategory[] = ['victim', 'neighbours', 'other'];

/** One core's window split into the categories (seconds); see the header for what is approximate. */
export function coreCategories(core: number, a: Snapshot, b: Snapshot, containers: string[]): Record<CoreCategory, number> {
  const ta = a.cores.get(core)!;
  const tb = b.cores.get(core)!;
  const totalS = (totalTicks(tb) - totalTicks(ta)) / USER_HZ;
  const idle = (tb.idle + tb.iowait - ta.idle - ta.iowait) / USER_HZ;
  const ksoftirqd = ((b.ksoftirqdTicks.get(core) ?? 0) - (a.ksoftirqdTicks.get(core) ?? 0)) / USER_HZ;
  const softirqTask = Math.max(0, (tb.softirq - ta.softirq) / USER_HZ - ksoftirqd);
  const usageOn = (name: string) =>
    ((b.cgroups.get(name)?.usagePercpuNs?.[core] ?? 0) - (a.cgroups.get(name)?.usagePercpuNs?.[core] ?? 0)) / 1e9;
  const victimRaw = usageOn(victimName);
  const neighboursRaw = containers.filter((n) => n.startsWith('neighbour-')).reduce((s, n) => s + usageOn(n), 0);
  const charged = victimRaw + neighboursRaw;
  const share = charged > 0 ? Math.min(softirqTask, charged) / charged : 0;
  const victim = victimRaw * (1 - share);
  const neighbours = neighboursRaw * (1 - share);
  const other = Math.max(0, totalS - idle - ksoftirqd - softirqTask - victim - neighbours);
  return { victim, neighbours, softirq_task: softirqTask, ksoftirqd, idle, other };
}
