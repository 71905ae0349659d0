// Turn two kernel snapshots (start and end of the measurement window) into the uniform sample records of
// agents/samples.ts, with the same metric names and labels the docker backend produces.
import type { RunSpec } from '../run-spec.ts';
import { CORE_CATEGORIES, METRIC, neighbourName, peerName, sample, victimName, type Sample } from '../samples.ts';
import { defaultMessageBytes, directionOf, floodRateGbps } from '../../workloads/catalog.ts';
import { loadProfile } from './profile.ts';
import { N_CATS, type KernelSnapshot } from './host-kernel.ts';
import { DROP_REASONS } from './traffic.ts';

const round = (x: number) => Math.round(x);

export function samplesFromSim(spec: RunSpec, start: KernelSnapshot, end: KernelSnapshot, cores: number): Sample[] {
  const out: Sample[] = [];
  const windowS = (end.nowNs - start.nowNs) / 1e9;
  out.push(sample(METRIC.windowS, windowS, 's'));
  const name = (i: number) => (i === 0 ? victimName : neighbourName(i - 1));
  const direction = directionOf(spec.workload);
  // payload bytes per packet, as the traffic model counts them (UDP: one datagram per packet; TCP: MSS segments)
  const profile = loadProfile(spec.profile);
  const payloadBytes = spec.workload.startsWith('udp')
    ? Math.min(spec.params.messageBytes ?? defaultMessageBytes(spec.workload) ?? profile.mtuBytes - 28, profile.mtuBytes - 28)
    : profile.tcpMssBytes;

  for (let i = 0; i < end.containers.length; i++) {
    const a = start.containers[i];
    const b = end.containers[i];
    const container = name(i);
    const labels = { container };
    const events = (b.sysbenchEvents - a.sysbenchEvents) / windowS;
    if (i === 0) out.push(sample(METRIC.victimEventsPerSec, events, 'events/s', labels));
    else if (direction === null) out.push(sample(METRIC.neighbourEventsPerSec, events, 'events/s', labels));
    else out.push(sample(METRIC.neighbourThroughputGbps, ((b.goodputBytes - a.goodputBytes) * 8) / 1e9 / windowS, 'Gbit/s', labels));

    out.push(sample(METRIC.cgroupUsageS, (b.usageNs - a.usageNs) / 1e9, 's', labels));
    out.push(sample(METRIC.cgroupNrPeriods, b.nrPeriods - a.nrPeriods, 'count', labels));
    out.push(sample(METRIC.cgroupNrThrottled, b.nrThrottled - a.nrThrottled, 'count', labels));
    out.push(sample(METRIC.cgroupThrottledTimeS, (b.throttledNs - a.throttledNs) / 1e9, 's', labels));
    out.push(sample(METRIC.attributedSoftirqS, (b.attributedNs - a.attributedNs) / 1e9, 's', labels));
    if (spec.enforcement !== 'none') {
      out.push(sample(METRIC.chargedTimeS, (b.chargedNs - a.chargedNs) / 1e9, 's', labels));
      out.push(sample(METRIC.creditedTimeS, (b.creditedNs - a.creditedNs) / 1e9, 's', labels));
    }
    if (i === 0 || direction === null) continue;

    // Packet counters of a network neighbour (TCP counts MSS-sized segments). The peer's view is labelled peer-i.
    const offered = round(b.offered - a.offered);
    const delivered = round(b.delivered - a.delivered);
    if (direction === 'send') {
      out.push(sample(METRIC.packetsSent, delivered, 'packets', labels));
      out.push(sample(METRIC.packetsReceived, delivered, 'packets', { container: peerName(i - 1) }));
    } else {
      out.push(sample(METRIC.packetsReceived, delivered, 'packets', labels));
      out.push(sample(METRIC.packetsSent, offered, 'packets', { container: peerName(i - 1) }));
    }
    out.push(sample(METRIC.retransmits, round(b.retransmits - a.retransmits), 'count', labels));
    // The flood's load at the NIC: what the sender put on the wire, or what arrived for the receiver (before any
    // drop). Offered: only where an unconstrained generator runs open loop at a set rate (the UDP receiver's peer).
    const atNic = direction === 'send' ? delivered : offered;
    out.push(sample(METRIC.achievedPps, atNic / windowS, 'packets/s', { container, source: 'nic' }));
    out.push(sample(METRIC.achievedGbps, (atNic * payloadBytes * 8) / 1e9 / windowS, 'Gbit/s', { container, source: 'nic' }));
    const offeredGbps = floodRateGbps(spec.params, spec.neighbours);
    if (spec.workload === 'udp-receiver' && offeredGbps !== undefined) out.push(sample(METRIC.offeredGbps, offeredGbps, 'Gbit/s', labels));
    DROP_REASONS.forEach((reason, r) => {
      out.push(sample(METRIC.packetsDropped, round(b.dropped[r] - a.dropped[r]), 'packets', { container, reason }));
    });
  }

  for (let c = 0; c < cores; c++) {
    const core = String(c);
    CORE_CATEGORIES.forEach((category, k) => {
      const idx = c * N_CATS + k;
      out.push(sample(METRIC.coreTimeS, (end.coreCatNs[idx] - start.coreCatNs[idx]) / 1e9, 's', { core, category }));
    });
    out.push(sample(METRIC.softirqTimeS, (end.softirqVecNs[c * 2] - start.softirqVecNs[c * 2]) / 1e9, 's', { core, vec: 'NET_RX' }));
    out.push(
      sample(METRIC.softirqTimeS, (end.softirqVecNs[c * 2 + 1] - start.softirqVecNs[c * 2 + 1]) / 1e9, 's', { core, vec: 'NET_TX' }),
    );
    const ksoft = (end.coreCatNs[c * N_CATS + 3] - start.coreCatNs[c * N_CATS + 3]) / 1e9;
    out.push(sample(METRIC.ksoftirqdTimeS, ksoft, 's', { core }));
    out.push(sample(METRIC.stealTimeS, 0, 's', { core })); // a simulated host has no hypervisor
    if (spec.victim.cpus.includes(c)) out.push(sample(METRIC.ksoftirqdShare, ksoft / windowS, 'fraction', { core }));
  }
  return out;
}
