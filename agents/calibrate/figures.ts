// From the calibration floods' samples and counters to profile values. Pure, so the arithmetic is unit-tested.
//
// What is measured, per run (a veth "NIC" with RPS onto the NIC core, as the docker backend sets it up):
// - NET_RX time owned by the receivers: the eBPF accounting (tp_btf softirq_entry/exit + netif_receive_skb,
//   attributed by destination IP), summed over the neighbours; without accounting, /proc/stat's tick-sampled
//   softirq time of the NIC core split by /proc/softirqs counts (coarser; the source is printed).
// - per packet: divided by the skbs the receiver's eth0 counted (UDP: one per datagram); TCP per segment:
//   divided by Tcp InSegs (a TSO skb crosses a veth whole, so skbs < segments).
// - the application's cost: the receiver cgroup's CPU time minus the softirq that ran on its own time (IRQ
//   time accounting off charges that to it; the accounting knows how much), per datagram or per byte.
// - the interrupt/poll pattern: NET_RX softirqs on the NIC core per received skb, and the mean time between
//   them, which stands for the interrupt interval (`irqModerationUs`) on this host.
// - sysbench speed: victim events/s per CPU-second of its cgroup in the control run.
// - a timer interrupt's cost to the task it lands on: the control run again with a cpu-clock hrtimer firing on
//   the victim's core (timer-interrupts.ts); the events per CPU-second it loses, times the period, paired with
//   the control of the same repetition.
import type { HostProfile } from '../sim/profile.ts';
import { METRIC, sumOf, type Sample } from '../samples.ts';
import type { FloodRun } from './floods.ts';
import type { Measurement } from './host-profile.ts';

export interface RunFigures {
  workload: string;
  repetition: number;
  messageBytes: number | null;
  rateGbps: number | null;
  /** Where the NET_RX time came from: 'ebpf' (accounting) or 'stat' (tick-sampled /proc/stat). */
  netRxSource: 'ebpf' | 'stat' | null;
  netRxS: number;
  skbs: number;
  /** Bytes the receivers' eth0 counted (skb lengths: payload plus one set of headers per skb). */
  rxBytes: number;
  /** Delivered to the application: UDP datagrams or TCP segments (InSegs). */
  delivered: number;
  /** Senders: NET_TX time owned by the senders (accounting: attributed at net_dev_start_xmit inside NET_TX). */
  netTxS: number;
  /** Senders: datagrams / segments the senders' sockets sent (Udp OutDatagrams, Tcp OutSegs). */
  sent: number;
  /** Senders: skbs and bytes their eth0 transmitted. */
  txSkbs: number;
  txBytes: number;
  /** NET_TX softirqs on the senders' core (an HTB watchdog wakeup raises one). */
  netTxSoftirqs: number;
  appBytes: number;
  appCpuS: number;
  softirqs: number;
  windowS: number;
  ticksPerS: number;
  victimEventsPerCpuS: number | null;
  /** The timer stimulus's period (ns), or null for a run without one. */
  timerPeriodNs: number | null;
  /** Local timer interrupts per second on the victim's core. */
  victimTicksPerS: number;
}

const neighbourLabels = (s: readonly Sample[], metric: string) => [
  ...new Set(s.filter((x) => x.metric === metric && x.labels.container?.startsWith('neighbour-')).map((x) => x.labels.container!)),
];

export function runFigures(run: FloodRun): RunFigures {
  const s = run.samples;
  const nic = String(run.spec.nicCpus[0] ?? 0);
  const windowS = sumOf(s, METRIC.windowS) || run.windowS;
  const neighbours = neighbourLabels(s, METRIC.cgroupUsageS);
  const attributed = (vec: string) => neighbours.reduce((a, n) => a + sumOf(s, METRIC.attributedSoftirqS, { container: n, vec }), 0);
  const hasAcct = s.some((x) => x.metric === METRIC.attributedSoftirqS);
  const netRxS = hasAcct ? attributed('NET_RX') : sumOf(s, METRIC.softirqTimeS, { core: nic, vec: 'NET_RX' });
  // Softirq that ran on the receivers' own time (IRQ time accounting off: in their cgroup usage).
  const ownSoftirqS = hasAcct
    ? Math.max(
        0,
        attributed('NET_RX') + attributed('NET_TX') - neighbours.reduce((a, n) => a + sumOf(s, METRIC.chargedTimeS, { container: n }), 0),
      )
    : 0;
  const usage = neighbours.reduce((a, n) => a + sumOf(s, METRIC.cgroupUsageS, { container: n }), 0);
  const delivered = neighbours.reduce((a, n) => a + sumOf(s, METRIC.packetsReceived, { container: n }), 0);
  const sent = neighbours.reduce((a, n) => a + sumOf(s, METRIC.packetsSent, { container: n }), 0);
  const appCore = String(run.spec.neighbour.cpus[0] ?? nic);
  const gbps = neighbours.reduce((a, n) => a + sumOf(s, METRIC.neighbourThroughputGbps, { container: n }), 0);
  const victimUsage = sumOf(s, METRIC.cgroupUsageS, { container: 'victim' });
  const victimEps = sumOf(s, METRIC.victimEventsPerSec);
  const perS = (core: number | undefined) => (run.windowS > 0 ? (run.locPerCore[core ?? 0] ?? 0) / run.windowS : 0);
  return {
    workload: run.spec.workload,
    repetition: run.spec.repetition,
    messageBytes: run.spec.params.messageBytes ?? null,
    rateGbps: run.spec.params.rateGbps ?? null,
    netRxSource: run.spec.workload === 'sysbench' ? null : hasAcct ? 'ebpf' : 'stat',
    netRxS,
    skbs: run.rxSkbs,
    rxBytes: run.rxBytes,
    delivered,
    netTxS: hasAcct ? attributed('NET_TX') : sumOf(s, METRIC.softirqTimeS, { core: appCore, vec: 'NET_TX' }),
    sent,
    txSkbs: run.txSkbs ?? 0,
    txBytes: run.txBytes ?? 0,
    netTxSoftirqs: sumOf(s, 'softirq_count', { core: appCore, vec: 'NET_TX' }),
    appBytes: (gbps * 1e9 * windowS) / 8,
    appCpuS: Math.max(0, usage - ownSoftirqS),
    softirqs: sumOf(s, 'softirq_count', { core: nic, vec: 'NET_RX' }),
    windowS,
    ticksPerS: perS(Number(nic)),
    victimEventsPerCpuS: victimUsage > 0 ? victimEps / (victimUsage / windowS) : null,
    timerPeriodNs: run.timerPeriodNs,
    victimTicksPerS: perS(run.spec.victim.cpus[0]),
  };
}

/** Ethernet + IPv4 + TCP with timestamps: the headers of one skb. */
const TCP_SKB_HEADER_BYTES = 14 + 20 + 32;

/**
 * MSS-sized segments a TCP run received: payload bytes / MSS. A veth passes the sender's TSO skb whole and
 * Tcp InSegs counts it once on this path, so neither skbs nor InSegs count the segments a NIC would carry.
 */
export function mssSegments(f: Pick<RunFigures, 'rxBytes' | 'skbs'>, mssBytes: number): number {
  return Math.max(0, f.rxBytes - TCP_SKB_HEADER_BYTES * f.skbs) / mssBytes;
}

/**
 * A timer interrupt's cost to the task it interrupts (ns), from a stimulus run and the control of its repetition:
 * the share of events per CPU-second the stimulus took, times its period. The period is the rate the running
 * victim sees: on a busy core the cpu-clock hrtimer fires at it (9,990/s at 100 us, measured), while on an idle
 * core it fired at a quarter of it; the victim core's LOC count is printed beside it as a check.
 */
export function timerInterruptNs(
  stimulus: Pick<RunFigures, 'victimEventsPerCpuS' | 'timerPeriodNs'>,
  controlEventsPerCpuS: number,
): number {
  return (1 - (stimulus.victimEventsPerCpuS ?? NaN) / controlEventsPerCpuS) * (stimulus.timerPeriodNs ?? NaN);
}

const isControl = (f: RunFigures) => f.workload === 'sysbench' && !!f.victimEventsPerCpuS && f.timerPeriodNs === null;

/** timerInterruptNs of a stimulus run against the control of its repetition among `figs`; NaN without one. */
export function pairedTimerInterruptNs(stimulus: RunFigures, figs: readonly RunFigures[]): number {
  const c = figs.find((x) => isControl(x) && x.repetition === stimulus.repetition);
  return c ? timerInterruptNs(stimulus, c.victimEventsPerCpuS!) : NaN;
}

/** Figures of every run -> the profile measurements (each key: one value per repetition). */
export function measurementsFrom(figs: readonly RunFigures[], base: HostProfile): Measurement[] {
  const out: Measurement[] = [];
  const add = (key: Measurement['key'], unit: string, how: string, values: number[]) => {
    const ok = values.filter((v) => Number.isFinite(v) && v >= 0);
    if (ok.length) out.push({ key, unit, how, values: ok });
  };
  const udp = figs.filter((f) => f.workload === 'udp-receiver' && f.skbs > 0 && f.netRxS > 0);
  const tcp = figs.filter((f) => f.workload === 'tcp-receiver' && mssSegments(f, base.tcpMssBytes) > 0 && f.netRxS > 0);
  const ctl = figs.filter(isControl);
  const timed = figs.filter((f) => f.workload === 'sysbench' && f.victimEventsPerCpuS && f.timerPeriodNs !== null);
  const htb = figs.filter((f) => f.workload === 'udp-sender' && f.rateGbps !== null && f.sent > 0);
  const tcpTx = figs.filter((f) => f.workload === 'tcp-sender' && f.appBytes > 0);
  const net = [...udp, ...tcp];
  if (net.length) {
    // A veth has no driver ring and no GRO of its own: the whole receive path is in the stack figures below.
    add(
      'driverRxNsPerPacket',
      'ns',
      'veth: no NIC driver ring (veth_xmit hands the skb to the backlog of the RPS core); the whole per-skb NET_RX path is in udpRxStackNsPerPacket and tcpRxGroNsPerPacket.',
      net.map(() => 0),
    );
  }
  if (udp.length) {
    add(
      'udpRxStackNsPerPacket',
      'ns',
      "NET_RX time on the NIC core per received UDP datagram (eBPF accounting of the receivers' NET_RX time / skbs on their eth0), bridge and both veth crossings included.",
      udp.map((f) => (f.netRxS * 1e9) / f.skbs),
    );
    add(
      'udpRecvSyscallNsPerPacket',
      'ns',
      'Receiver task CPU per delivered datagram: its cgroup usage minus the softirq that ran on its time, / Udp InDatagrams.',
      udp.filter((f) => f.delivered > 0).map((f) => (f.appCpuS * 1e9) / f.delivered),
    );
  }
  if (tcp.length) {
    const ack = base.tcpAckTxNsPerPacket + base.txCompletionNsPerPacket;
    add(
      'tcpRxGroNsPerPacket',
      'ns',
      `NET_RX time on the NIC core per received MSS-sized TCP segment (eBPF accounting / (payload bytes on the receivers' eth0 / ${base.tcpMssBytes})), minus the base profile's ACK cost (${ack} ns) per skb, which the model adds per super-packet; veth passes the sender's TSO skb whole, so this is the whole per-segment path.`,
      tcp.map((f) => (f.netRxS * 1e9 - ack * f.skbs) / mssSegments(f, base.tcpMssBytes)),
    );
    add(
      'tcpRxStackNsPerSuperPacket',
      'ns',
      'Folded into tcpRxGroNsPerPacket (measured per segment).',
      tcp.map(() => 0),
    );
    add(
      'tcpRxStackNsPerSegment',
      'ns',
      'Folded into tcpRxGroNsPerPacket (measured per segment).',
      tcp.map(() => 0),
    );
    add(
      'tcpRxCopyNsPerByte',
      'ns/byte',
      `Receiver task CPU (cgroup usage minus softirq on its time) per goodput byte, minus the base profile's per-call cost (${base.tcpSyscallNsPerCall} ns per message).`,
      tcp.filter((f) => f.appBytes > 0).map((f) => (f.appCpuS * 1e9) / f.appBytes - base.tcpSyscallNsPerCall / (f.messageBytes ?? 131072)),
    );
  }
  if (net.length) {
    add(
      'irqModerationUs',
      'us',
      'Mean time between NET_RX softirqs on the NIC core during the receive floods (RPS IPIs on a veth host: its interrupt pattern).',
      net.filter((f) => f.softirqs > 0).map((f) => (f.windowS * 1e6) / f.softirqs),
    );
  }
  if (htb.length) {
    // With the HTB class saturated every datagram waits in the qdisc and is dequeued in NET_TX softirq (watchdog
    // wakeups): the accounted NET_TX time per datagram is the whole dequeue path, veth_xmit included.
    add(
      'htbDequeueNsPerPacket',
      'ns',
      'NET_TX time owned by the HTB-limited UDP senders (eBPF accounting, attributed at net_dev_start_xmit) per datagram sent (Udp OutDatagrams): htb_dequeue, qdisc_restart and veth_xmit, watchdog wakeups included (htbWatchdogNsPerWakeup and driverTxNsPerPacket are folded in).',
      htb.map((f) => (f.netTxS * 1e9) / f.sent),
    );
    add(
      'driverTxNsPerPacket',
      'ns',
      'veth: the xmit (veth_xmit) is in the measured per-packet figures (htbDequeueNsPerPacket for queued datagrams).',
      htb.map(() => 0),
    );
    add(
      'vethPeerRxNsPerPacket',
      'ns',
      "NET_RX time owned by the HTB-limited UDP senders (eBPF accounting: the backlog softirq after veth_xmit has the enqueuer as owner) per datagram sent: the peer's receive path (bridge, the peer's veth, its UDP receive) that a veth runs on the sender's core.",
      htb.map((f) => (f.netRxS * 1e9) / f.sent),
    );
    add(
      'udpTxSyscallNsPerPacket',
      'ns',
      'HTB-limited UDP sender task CPU per datagram sent: its cgroup usage minus the softirq that ran on its time (accounting), / Udp OutDatagrams (sendmsg with the enqueue; the dequeue is NET_TX).',
      htb.map((f) => (f.appCpuS * 1e9) / f.sent),
    );
  }
  if (tcpTx.length) {
    add(
      'tcpTxCopyNsPerByte',
      'ns/byte',
      `TCP sender task CPU (cgroup usage minus the softirq on its time) per byte sent, minus the base profile's per-call cost (${base.tcpSyscallNsPerCall} ns per message); includes the transmits sendmsg runs itself.`,
      tcpTx.map((f) => (f.appCpuS * 1e9) / f.appBytes - base.tcpSyscallNsPerCall / (f.messageBytes ?? 131072)),
    );
    add(
      'txCompletionNsPerPacket',
      'ns',
      'NET_TX time owned by the TCP senders (accounting) per skb their eth0 transmitted (a veth frees the skb at the peer; NET_TX here is what is left of TX completion and requeues).',
      tcpTx.filter((f) => f.txSkbs > 0).map((f) => (f.netTxS * 1e9) / f.txSkbs),
    );
    add(
      'vethPeerRxNsPerByte',
      'ns/byte',
      "NET_RX time owned by the TCP senders (eBPF accounting) per byte sent: the peer's receive path of the data, which a veth runs on the sender's core (the peer's ACKs to the sender, a small part, included).",
      tcpTx.map((f) => (f.netRxS * 1e9) / f.appBytes),
    );
    // Not tcpAckRxNsPerPacket: on a veth host the NET_RX time owned by a sender is mostly the peer's receive
    // path of its data (the backlog softirq after veth_xmit starts with the enqueuer as owner), not its ACKs
    // (60 us per ACK skb measured here); a NIC host's figure would be. Printed, not written.
  }
  const pairs = timed.map((t) => pairedTimerInterruptNs(t, figs)).filter(Number.isFinite);
  if (pairs.length)
    // Not clamped at 0 by add(): a negative value (noise over a small cost) is dropped there, not written as 0.
    add(
      'htbWatchdogNsPerWakeup',
      'ns',
      `What a timer interrupt costs the task it lands on, beyond any softirq it raises (which the accounting sees in htbDequeueNsPerPacket): the victim's sysbench events per CPU-second with a cpu-clock hrtimer firing every ${timed[0]!.timerPeriodNs! / 1000} us on its core (perf_event_open, no task woken, no network), against the control of the same repetition: (1 - stimulus / control) x period. An HTB watchdog wakeup is such an interrupt.`,
      pairs,
    );
  if (ctl.length)
    add(
      'sysbenchEventsPerCpuSecond',
      'events/CPU-s',
      'sysbench cpu events per CPU-second of the victim cgroup in the control run.',
      ctl.map((f) => f.victimEventsPerCpuS!),
    );
  return out;
}
