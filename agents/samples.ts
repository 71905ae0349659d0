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
  offeredGbps: 'offered_gbps', // {container}: the flood's configured rate; absent = unlimited
  achievedGbps: 'achieved_gbps', // {container, source: iperf3|nic}: what the flood carried in the window
  achievedPps: 'achieved_pps', // {container, source: iperf3|nic}
  stealTimeS: 'steal_time_s', // {core}: time the hypervisor ran something else
  foreignCpuTimeS: 'foreign_cpu_time_s', // {core, who: agent|dockerd|containerd|orchestrator|other}: CPU outside the experiment's containers
  softirqCount: 'softirq_count', // {core, vec}: softirqs run, every vector of /proc/softirqs
} as const;

export const CORE_CATEGORIES = ['victim', 'neighbours', 'softirq_task', 'ksoftirqd', 'idle', 'other'] as const;
export type CoreCategory = (typeof CORE_CATEGORIES)[number];

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
