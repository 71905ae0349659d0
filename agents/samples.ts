// The uniform sample record (after PerfKitBenchmarker's Sample): every backend reports a run as a list of
// {metric, value, unit, labels}. Metric names are the contract between agents, the store and the analysis.
import { z } from 'zod';

export const Sample = z
  .object({
    metric: z.string().min(1).max(100),
    value: z.number().finite(),
    unit: z.string().max(20),
    labels: z.record(z.string(), z.string()).default({}),
  })
  .strict();
export type Sample = z.infer<typeof Sample>;

/** Metric names. Labels in comments; times are seconds over the measurement window unless said otherwise. */
export const METRIC = {
  windowS: 'window_s', // length of the measurement window
  victimEventsPerSec: 'victim_events_per_sec', // sysbench events/s of the victim {container}
  neighbourEventsPerSec: 'neighbour_events_per_sec', // sysbench neighbours {container}
  neighbourThroughputGbps: 'neighbour_throughput_gbps', // application goodput of a network neighbour {container}
  coreTimeS: 'core_time_s', // {core, category: victim|neighbours|softirq_task|ksoftirqd|idle|other}
  softirqTimeS: 'softirq_time_s', // {core, vec: NET_RX|NET_TX}, wherever it ran (task context or ksoftirqd)
  ksoftirqdTimeS: 'ksoftirqd_time_s', // {core}
  ksoftirqdShare: 'ksoftirqd_share', // {core}: ksoftirqd time / window on the victim's core(s)
  cgroupUsageS: 'cgroup_usage_s', // {container}: CPU time charged to the cgroup (what cpuacct shows)
  cgroupNrPeriods: 'cgroup_nr_periods', // {container}
  cgroupNrThrottled: 'cgroup_nr_throttled', // {container}
  cgroupThrottledTimeS: 'cgroup_throttled_time_s', // {container}
  packetsReceived: 'packets_received', // {container}: delivered to the application
  packetsSent: 'packets_sent', // {container}: put on the wire
  packetsDropped: 'packets_dropped', // {container, reason: socket_buffer|nic_throttled|ebpf_throttled|qdisc|ring}
  retransmits: 'retransmits', // {container}
  chargedTimeS: 'charged_time_s', // {container}: network softirq time charged to it as owner (enforcement)
  creditedTimeS: 'credited_time_s', // {container}: time given back for others' softirq run on its time
  attributedSoftirqS: 'attributed_softirq_s', // {container}: softirq time whose packets it owns (accounting)
  // Run conditions (why a run varies; the orchestrator's guards read them). A backend that cannot measure one
  // leaves it out: a guard with no metric present does not fire.
  offeredGbps: 'offered_gbps', // {container}: the rate a flood was asked for (absent = unlimited); the orchestrator's load guard reads it for open-loop UDP receiver floods only
  achievedGbps: 'achieved_gbps', // {container, source: iperf3|nic}: the rate it reached over the window
  achievedPps: 'achieved_pps', // {container, source: iperf3|nic}: packets/s it reached over the window
  stealTimeS: 'steal_time_s', // {core}: time the hypervisor ran something else on the core
  foreignCpuTimeS: 'foreign_cpu_time_s', // {core, who: agent|dockerd|containerd|orchestrator|other}: CPU outside the experiment
  softirqCount: 'softirq_count', // {core, vec: NET_RX|NET_TX}: softirqs raised over the window
  // The ebpf controller, one sample per CFS period {container, t: seconds since the window began}
  controllerChargedS: 'controller_charged_s', // its packets' softirq time run on others' time in the period
  controllerCreditedS: 'controller_credited_s', // others' softirq time run on its tasks in the period
  controllerDebtS: 'controller_debt_s', // what it consumed beyond its quota, carried (> 0: its packets are dropped; < 0: owed to it)
  ironKernelCounter: 'iron_kernel_counter', // {counter}: /proc/iron_stats over the window (iron-kernel arm)
  controllerQuotaUs: 'controller_quota_us', // cfs_quota_us it gets for the next period
  controllerDrops: 'controller_drops', // packets dropped for it in the period {on: 1 while flagged}
} as const;

export const CORE_CATEGORIES = ['victim', 'neighbours', 'softirq_task', 'ksoftirqd', 'idle', 'other'] as const;
export type CoreCategory = (typeof CORE_CATEGORIES)[number];
/** Who a foreign_cpu_time_s sample is about (anything on a victim core that is not the experiment's containers). */
export const FOREIGN_CPU_WHO = ['agent', 'dockerd', 'containerd', 'orchestrator', 'other'] as const;
export type ForeignCpuWho = (typeof FOREIGN_CPU_WHO)[number];
/** Where an achieved load was read: iperf3's own report or the NIC's counters. */
export const LOAD_SOURCES = ['iperf3', 'nic'] as const;

/** Container names used in labels: `victim`, `neighbour-0..K-1`, `peer-0..K-1`. */
export const victimName = 'victim';
export const neighbourName = (i: number) => `neighbour-${i}`;
export const peerName = (i: number) => `peer-${i}`;

export function sample(metric: string, value: number, unit: string, labels: Record<string, string> = {}): Sample {
  return { metric, value, unit, labels };
}

/** Sum of a metric's values over samples whose labels match `where`. */
export function sumOf(samples: readonly Sample[], metric: string, where: Record<string, string> = {}): number {
  let total = 0;
  for (const s of samples) {
    if (s.metric !== metric) continue;
    if (Object.entries(where).every(([k, v]) => s.labels[k] === v)) total += s.value;
  }
  return total;
}
