// A network neighbour's traffic over the measurement window, from the kernel's per-namespace counters of the
// sending and receiving containers (/proc/<pid>/net/snmp and net/dev read at the window's edges). These are
// exact to the window, which iperf3's own report (averaged over the whole flood, warm-up included) is not;
// that report is kept in the run's provenance. When the peers run on another host, each host reports the
// samples read from its own containers' counters (`local`): the server the neighbours', the peer host the
// peers'; the neighbour's goodput comes from whichever side receives. Labels are the same either way.
import type { RunSpec } from '../run-spec.ts';
import { METRIC, neighbourName, peerName, sample, type Sample } from '../samples.ts';
import { defaultMessageBytes, directionOf, protocolOf } from '../../workloads/catalog.ts';
import type { NetnsCounters, Snapshot } from './counters.ts';
import { nicLoadSamples, TCP_HEADER_BYTES } from './load-samples.ts';

export function floodSamples(run: RunSpec, a: Snapshot, b: Snapshot, local: (container: string) => boolean = () => true): Sample[] {
  const dir = directionOf(run.workload);
  const proto = protocolOf(run.workload);
  if (!dir || !proto) return [];
  const windowS = (b.atMs - a.atMs) / 1000;
  const out: Sample[] = [];
  for (let i = 0; i < run.neighbours; i++) {
    const n = neighbourName(i);
    const p = peerName(i);
    const [sender, receiver] = dir === 'send' ? [n, p] : [p, n];
    const d = (name: string, f: (c: NetnsCounters) => number) => {
      const x = a.netns.get(name);
      const y = b.netns.get(name);
      return x && y ? f(y) - f(x) : 0;
    };
    const snmp = (table: string, key: string) => (c: NetnsCounters) => c.snmp[table]?.[key] ?? 0;
    // Offered and achieved load, from the neighbour's own NIC counters (on the server side of a cross-host run).
    if (local(n)) out.push(...nicLoadSamples(run, n, a.netns.get(n)?.eth0, b.netns.get(n)?.eth0, windowS));
    const fromSender = local(sender);
    const fromReceiver = local(receiver);
    let goodputBytes: number;
    if (proto === 'udp') {
      const delivered = d(receiver, snmp('Udp', 'InDatagrams'));
      goodputBytes = delivered * (run.params.messageBytes ?? defaultMessageBytes(run.workload) ?? 0);
      if (fromSender) out.push(sample(METRIC.packetsSent, d(sender, snmp('Udp', 'OutDatagrams')), 'packets', { container: sender }));
      if (fromReceiver) out.push(sample(METRIC.packetsReceived, delivered, 'packets', { container: receiver }));
      if (fromReceiver)
        out.push(
          sample(METRIC.packetsDropped, d(receiver, snmp('Udp', 'RcvbufErrors')), 'packets', {
            container: receiver,
            reason: 'socket_buffer',
          }),
        );
      if (fromSender) out.push(sample(METRIC.retransmits, 0, 'count', { container: n }));
    } else {
      const segs = d(receiver, snmp('Tcp', 'InSegs'));
      goodputBytes = Math.max(0, d(receiver, (c) => c.eth0?.rxBytes ?? 0) - segs * TCP_HEADER_BYTES);
      if (fromSender) out.push(sample(METRIC.packetsSent, d(sender, snmp('Tcp', 'OutSegs')), 'packets', { container: sender }));
      if (fromReceiver) out.push(sample(METRIC.packetsReceived, segs, 'packets', { container: receiver }));
      if (fromSender) out.push(sample(METRIC.retransmits, d(sender, snmp('Tcp', 'RetransSegs')), 'count', { container: n }));
    }
    if (!fromReceiver) continue;
    out.push(
      sample(
        METRIC.packetsDropped,
        d(receiver, (c) => c.eth0?.rxDropped ?? 0),
        'packets',
        { container: receiver, reason: 'ring' },
      ),
    );
    out.push(sample(METRIC.neighbourThroughputGbps, windowS > 0 ? (goodputBytes * 8) / 1e9 / windowS : 0, 'Gbit/s', { container: n }));
  }
  return out;
}
