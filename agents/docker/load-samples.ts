// Offered and achieved load of each flood, so that a run whose flood fell short is seen as such. Every sample
// is labelled with the flood's neighbour (`neighbour-i`), whichever side runs the iperf3 client.
//   offered_gbps {container}                 the scenario's rateGbps (HTB on a sender, iperf3 -b at a receiver's
//                                            peer); absent when the flood is unlimited
//   achieved_gbps / achieved_pps {source: nic}     the neighbour's eth0 over the window (tx for a sender, rx for
//                                            a receiver, everything that reached it, socket drops included),
//                                            as application payload: headers taken off per packet, so that it
//                                            compares with the offered rate. HTB limits whole frames, so a
//                                            1470-byte-datagram sender limited to 1 Gbit/s carries ~0.97 Gbit/s
//                                            of payload. veth counts a TCP GSO super-packet as one packet.
//   achieved_gbps / achieved_pps {source: iperf3}  iperf3's own interval reports of the sending client, cut to
//                                            the window (intervals at its edges pro rata, aligned on the client
//                                            container's start: within a few ms); pps for UDP only
import type { RunSpec } from '../run-spec.ts';
import { METRIC, neighbourName, sample, type Sample } from '../samples.ts';
import { defaultMessageBytes, directionOf, floodRateGbps, protocolOf } from '../../workloads/catalog.ts';
import { sentWithin, type FloodResult } from '../../workloads/iperf3-output.ts';
import type { Snapshot } from './counters.ts';
import type { DevCounters } from './proc-parsers.ts';

/** Ethernet + IPv4 + TCP with timestamps: subtracted per received segment to approximate TCP goodput. */
export const TCP_HEADER_BYTES = 14 + 20 + 32;

/** Ethernet + IPv4 per frame, UDP per datagram; IPv4 fragments of a datagram carry 1480 bytes each at MTU 1500. */
const ETH_IP_BYTES = 14 + 20;
const UDP_HEADER_BYTES = 8;
const FRAGMENT_PAYLOAD = 1480;

/** offered_gbps and the nic-sourced achieved load of neighbour `n`'s flood (flood-samples.ts calls it per flood). */
export function nicLoadSamples(
  run: RunSpec,
  n: string,
  x: DevCounters | null | undefined,
  y: DevCounters | null | undefined,
  windowS: number,
): Sample[] {
  const dir = directionOf(run.workload);
  const proto = protocolOf(run.workload);
  const out: Sample[] = [];
  const offeredGbps = floodRateGbps(run.params, run.neighbours);
  if (offeredGbps) out.push(sample(METRIC.offeredGbps, offeredGbps, 'Gbit/s', { container: n }));
  if (!x || !y || windowS <= 0 || !dir || !proto) return out;
  const bytes = dir === 'send' ? y.txBytes - x.txBytes : y.rxBytes - x.rxBytes;
  const packets = dir === 'send' ? y.txPackets - x.txPackets : y.rxPackets - x.rxPackets;
  let payload: number;
  if (proto === 'udp') {
    const message = run.params.messageBytes ?? defaultMessageBytes(run.workload) ?? 0;
    const fragments = Math.max(1, Math.ceil((message + UDP_HEADER_BYTES) / FRAGMENT_PAYLOAD));
    payload = bytes - packets * ETH_IP_BYTES - (packets / fragments) * UDP_HEADER_BYTES;
  } else payload = bytes - packets * TCP_HEADER_BYTES;
  const labels = { container: n, source: 'nic' };
  out.push(sample(METRIC.achievedGbps, (Math.max(0, payload) * 8) / 1e9 / windowS, 'Gbit/s', labels));
  out.push(sample(METRIC.achievedPps, packets / windowS, 'packets/s', labels));
  return out;
}

/**
 * The iperf3-sourced achieved load of neighbour `i`'s flood, from its client's report. `clientStartMs`: when the
 * client container started (its test starts within milliseconds: the server was already listening).
 */
export function iperf3LoadSamples(run: RunSpec, i: number, report: FloodResult, clientStartMs: number, a: Snapshot, b: Snapshot): Sample[] {
  const sent = sentWithin(report.intervals, (a.atMs - clientStartMs) / 1000, (b.atMs - clientStartMs) / 1000);
  if (!sent) return [];
  const labels = { container: neighbourName(i), source: 'iperf3' };
  const out = [sample(METRIC.achievedGbps, (sent.bytes * 8) / 1e9 / sent.seconds, 'Gbit/s', labels)];
  if (protocolOf(run.workload) === 'udp' && sent.packets !== null)
    out.push(sample(METRIC.achievedPps, sent.packets / sent.seconds, 'packets/s', labels));
  return out;
}
