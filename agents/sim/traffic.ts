// The network side of one network neighbour, as fluids: its peer across the link, its NIC ring, its socket,
// its qdisc, its TCP state, and the CPU work each of these creates in softirq or in the application's own
// system calls. Between two events of the engine (host-kernel.ts) every rate here is constant; the engine
// asks for the rates (`update`), advances the levels (`advance`) and asks when a level next crosses a
// threshold (`updateThreshold`: ring empty/full, socket empty/full, send queue empty/full).
// Every packet is offered, then delivered, dropped with a reason, or still queued (see `queued`).
import type { WorkloadKind } from '../../workloads/catalog.ts';
import type { AccountingPolicy } from './accounting.ts';
import type { HostProfile } from './profile.ts';
import { groBatch, groBatchOf, groFlowDivisor, superPacketStackNs } from './tcp.ts';

export const DROP_REASONS = ['socket_buffer', 'nic_throttled', 'ebpf_throttled', 'qdisc', 'ring'] as const;
export type DropReason = (typeof DROP_REASONS)[number];
const R_SOCK = 0,
  R_NIC = 1,
  R_EBPF = 2,
  R_RING = 4;
const EPS = 1e-6; // packets (or bytes for the TCP send queue): below this a buffer counts as empty

export interface TrafficParams {
  kind: WorkloadKind;
  owner: number;
  appCore: number;
  nicCore: number;
  rateGbps: number | undefined;
  flows: number;
  messageBytes: number;
}

export class Traffic {
  readonly kind: WorkloadKind;
  readonly owner: number = 0;
  readonly appCore: number = 0;
  readonly nicCore: number = 0;
  readonly isReceiver: boolean = false;
  readonly isTcp: boolean = false;
  // The kind as flags: the hot paths test these instead of comparing strings. Every boolean field here is tested as
  // `=== true` / `!== true` on the per-event paths: V8 does not track that a field holds a boolean, so `if (this.flag)`
  // compiles to the generic truth test (false, '', undetectable, number, bigint), `=== true` to one compare.
  readonly isTcpReceiver: boolean = false;
  readonly isUdpSender: boolean = false;
  readonly isTcpSender: boolean = false;
  readonly flows: number = 0;
  readonly payloadBytes: number = 0;
  readonly wireBytesPerPacket: number = 0;
  /** Packets per ns the link carries at most for this neighbour (its share is set by the engine). */
  linePpns = 0;
  /** Packets per ns of the whole link in this neighbour's direction (a lone sender gets all of it). */
  readonly linkPpns: number = 0;
  // ---- Receiver state ----
  ring = 0;
  /** Socket receive queue: datagrams (UDP) or MSS segments (TCP) not yet read. */
  socket = 0;
  readonly socketCap: number = 0;
  /** The peer's offered rate limit (packets/ns): iperf3 -b, the peer's own CPU (UDP), the link. */
  readonly peerCapPpns: number = 0;
  /** TCP peer: congestion-controlled sending rate (packets/ns), cut on loss, grown per RTT. */
  tcpRatePpns = 0;
  lastCutNs = -Infinity;
  /**
   * TCP peer: packets iperf3 is behind its target rate. iperf3 -b throttles on the average since the stream
   * started (iperf_check_throttle), so after the window held it back it writes as fast as TCP lets it until it
   * has caught up: the peer then offers up to the line rate, not the nominal rate.
   */
  peerDeficit = 0;
  private rDeficit = 0;
  ringCap = 0;
  // ---- Sender state ----
  readonly htbPpns: number = 0; // Infinity without a rate limit
  /** TCP sender: bytes written by the application, not yet transmitted. */
  sendQueueBytes = 0;
  readonly sndbufBytes: number = 0;
  // ---- Jitter (redrawn by the engine every arrivalJitterIntervalUs) ----
  arrivalJitter = 1;
  /** Softirq (kernel path) cost factor and the application's own cost factor: separate code, separate draws. */
  costJitter = 1;
  appJitter = 1;
  // ---- Costs (ns) ----
  private readonly cApp: number = 0; // per packet (receivers, UDP sender queued), per byte (TCP sender copy)
  private readonly cDirect: number = 0; // UDP sender: syscall + driver per packet
  private readonly cDeq: number = 0; // HTB dequeue + driver per packet, in NET_TX softirq
  private readonly cCompl: number = 0; // TX completion per skb
  private readonly cTsoPerByte: number = 0; // TCP transmit per byte (TSO super-segment cost / size)
  private readonly cAckRx: number = 0; // TCP sender: per ACK received
  private readonly ackBytes: number = 0; // TCP sender: payload bytes per ACK from the sink (GRO batch)
  private readonly tsoBytes: number = 0;
  // Receive-path constants (profile sums, read at every rate update): same operands in the same order as the
  // formulas they stand for, so the results are the same to the bit.
  private readonly cRxDrop: number = 0; // eBPF drop after the driver, + accounting
  private readonly cRxUdp: number = 0; // driver + UDP stack, + accounting
  private readonly cRxTcpDriver: number = 0; // driver + GRO, + accounting
  private readonly cAckTx: number = 0; // an ACK sent + its TX completion
  private readonly groDivisor: number = 0; // groFlowDivisor(flows, interleave penalty)
  private readonly napiWeight: number = 0;
  /** irqModerationUs in ns: in interrupt mode one poll finds what arrived in one moderation interval. */
  private readonly moderationNs: number = 0;
  private readonly groMaxSegments: number = 0;
  private readonly ackEverySegments: number = 0;
  private readonly backlogInReader: boolean = false;
  // The last rxCost inputs and results: a secant iteration often asks again with the same inputs.
  private memoPpp = -1;
  private memoJitter = 0;
  private memoQueued = false;
  private memoDrop = false;
  private memoCost = 0;
  private memoBacklog = 0;
  // ---- Rates of the current interval (per ns), set by update() ----
  rArrive = 0; // offered by the peer (receivers) / sent by the application (senders)
  rNicDrop = 0;
  rIn = 0; // into the ring
  rServe = 0; // processed by softirq out of the ring
  rRingDrop = 0;
  rEbpfDrop = 0;
  rSockIn = 0;
  rSockDrop = 0;
  rApp = 0; // read by the application (receivers), sent (senders, packets or bytes for TCP)
  rWire = 0; // TCP sender: bytes/ns leaving for the link
  private qNet = 0; // TCP sender queue change, bytes/ns
  windowLimited = false;
  /**
   * TCP receiver: the advertised window is used up (zero window). __tcp_select_window (net/ipv4/tcp_output.c,
   * 4.x) advertises 0 while free space < allowed_space >> 4 (rcvbuf's window / 16), and tcp_cleanup_rbuf
   * (net/ipv4/tcp.c) sends the window update once a read leaves free space >= that (new_window >= 2 x
   * rcv_window_now, which is ~0): the peer stays silent until the reader has freed `reopenSegments`.
   */
  windowClosed = false;
  /** Between a window update and the next zero window (or the reader draining everything): a window-limited burst. */
  windowBurst = false;
  private lastArrivalPpns = 0;
  /** Free space (segments) a closed window needs before __tcp_select_window returns non-zero. */
  readonly reopenSegments: number = 0;
  dropping = false; // NIC/eBPF drops for this owner (IRON / eBPF enforcement)
  /** Softirq work this neighbour creates, ns per ns, on its NIC core (NET_RX) and on its app core (NET_TX). */
  sqNic = 0;
  sqApp = 0;
  /** Softirq packets per ns (for the NAPI budget of an episode). */
  sqPackets = 0;
  /** Per-packet softirq cost of the ring (ns), for the service the engine grants. */
  ringCostNs = 0;
  // Counters (packets are segments for TCP)
  offered = 0;
  delivered = 0;
  goodputBytes = 0;
  retransmits = 0;
  readonly dropped = new Float64Array(DROP_REASONS.length);
  private readonly rwndSegments: number = 0;
  /**
   * TCP receiver, ns per segment of tcp_rcv_established + ACK that the reader runs in its own context (socket
   * backlog processed at release_sock) instead of softirq: non-zero while the reader owns the socket.
   */
  private cBacklog = 0;
  /** Inputs of update() (see there). */
  inAppShare = 0;
  inRingSvcNs = 0;
  /** How many packets one poll finds (GRO batching), set by updateReceiveSide from the ring's service and rIn. */
  private packetsPerPoll = 0;
  /** Set by updateThreshold. */
  thresholdNs = 0;
  /** ramping() for the interval's rates (set by the engine once they are final). */
  rampingNow = false;
  /** The interval advanceStep and growStep integrate over (ns). */
  stepNs = 0;

  constructor(
    p: TrafficParams,
    private readonly prof: HostProfile,
    private readonly policy: AccountingPolicy,
  ) {
    this.kind = p.kind;
    this.owner = p.owner;
    this.appCore = p.appCore;
    this.nicCore = p.nicCore;
    this.flows = p.flows;
    this.isReceiver = p.kind.endsWith('-receiver');
    this.isTcp = p.kind.startsWith('tcp');
    this.isTcpReceiver = p.kind === 'tcp-receiver';
    this.isUdpSender = p.kind === 'udp-sender';
    this.isTcpSender = p.kind === 'tcp-sender';
    if (!this.isTcp) {
      this.payloadBytes = Math.min(p.messageBytes, prof.mtuBytes - 28);
      this.wireBytesPerPacket = this.payloadBytes + 28 + 14 + prof.wireOverheadBytesPerFrame;
    } else {
      this.payloadBytes = prof.tcpMssBytes;
      this.wireBytesPerPacket = prof.mtuBytes + 14 + prof.wireOverheadBytesPerFrame;
    }
    const linkBytesPerNs = prof.linkGbps / 8;
    this.linePpns = linkBytesPerNs / this.wireBytesPerPacket;
    this.linkPpns = this.linePpns;
    const rate = p.rateGbps !== undefined ? p.rateGbps / 8 / this.payloadBytes : Infinity; // packets per ns
    this.ringCap = prof.rxRingPackets;
    this.tsoBytes = prof.tcpTsoMaxBytes;
    // Socket receive queue: UDP counts skb truesize against rmem; TCP advertises a window of
    // rmem * (1 - 2^-tcp_adv_win_scale), the rest of the buffer being reserved for skb overhead.
    this.rwndSegments = (prof.tcpRmemMaxBytes * (1 - Math.pow(2, -prof.tcpAdvWinScale))) / prof.tcpMssBytes;
    this.socketCap = this.isTcp ? this.rwndSegments : prof.udpRcvbufBytes / prof.skbTruesizeBytes;
    this.reopenSegments = Math.max(1, this.rwndSegments / 16);
    this.sndbufBytes = prof.tcpWmemMaxBytes * p.flows;
    if (p.kind === 'udp-receiver') this.peerCapPpns = Math.min(rate, prof.peerUdpMaxPacketsPerSecond / 1e9, this.linePpns);
    else if (p.kind === 'tcp-receiver') this.peerCapPpns = Math.min(rate, this.linePpns);
    else this.peerCapPpns = 0;
    this.tcpRatePpns = Math.min(this.peerCapPpns, (prof.tcpInitialCwndSegments * p.flows) / (prof.linkRttUs * 1000));
    this.htbPpns = p.kind === 'udp-sender' && p.rateGbps !== undefined ? rate : Infinity;

    const acct = policy.overheadNsPerPacket;
    this.cCompl = prof.txCompletionNsPerPacket + acct;
    // On a veth host every transmit also runs the peer's receive path on this CPU (veth_xmit -> netif_rx raises
    // NET_RX here): in the sender's own context after sendmsg's local_bh_enable, or inside the NET_TX / NET_RX
    // softirq that transmitted (HTB watchdog, ACK-clocked tcp_write_xmit). So it is part of each transmit's cost.
    const peerRx = prof.vethPeerRxNsPerPacket ?? 0;
    this.cDirect = prof.udpTxSyscallNsPerPacket + prof.driverTxNsPerPacket + peerRx;
    const ppw = this.htbPpns < Infinity ? Math.max(1, this.htbPpns * prof.htbTimerMinUs * 1000) : 1;
    this.cDeq = prof.htbDequeueNsPerPacket + prof.driverTxNsPerPacket + prof.htbWatchdogNsPerWakeup / ppw + acct + peerRx;
    this.cTsoPerByte = prof.tcpTxNsPerTsoSegment / prof.tcpTsoMaxBytes + (prof.vethPeerRxNsPerByte ?? 0);
    this.cAckRx = prof.tcpAckRxNsPerPacket + acct;
    this.cRxDrop = prof.ebpfDropNsPerPacket + acct;
    this.cRxUdp = prof.driverRxNsPerPacket + prof.udpRxStackNsPerPacket + acct;
    this.cRxTcpDriver = prof.driverRxNsPerPacket + prof.tcpRxGroNsPerPacket + acct;
    this.cAckTx = prof.tcpAckTxNsPerPacket + prof.txCompletionNsPerPacket;
    this.groDivisor = groFlowDivisor(p.flows, prof.groFlowInterleavePenalty);
    this.napiWeight = prof.napiWeightPackets;
    this.moderationNs = prof.irqModerationUs * 1000;
    this.groMaxSegments = prof.groMaxSegments;
    this.ackEverySegments = prof.tcpAckEverySegments;
    this.backlogInReader = prof.tcpBacklogInReaderContext;
    // The sink across the link coalesces our segments with GRO and ACKs each super-packet.
    this.ackBytes =
      prof.tcpMssBytes *
      Math.max(prof.tcpAckEverySegments, groBatch(prof.napiWeightPackets, p.flows, prof.groMaxSegments, prof.groFlowInterleavePenalty));
    switch (p.kind) {
      case 'udp-receiver':
        this.cApp = prof.udpRecvSyscallNsPerPacket;
        break;
      case 'tcp-receiver':
        this.cApp = prof.tcpMssBytes * (prof.tcpRxCopyNsPerByte + prof.tcpSyscallNsPerCall / p.messageBytes);
        break;
      case 'udp-sender':
        this.cApp = prof.udpTxSyscallNsPerPacket;
        break;
      default:
        this.cApp = prof.tcpTxCopyNsPerByte + prof.tcpSyscallNsPerCall / p.messageBytes;
    }
  }

  /**
   * Softirq cost of one packet out of the ring (ns), given how many packets one interrupt finds. Sets cBacklog:
   * while the reader has data queued it sits in tcp_recvmsg owning the socket (also when preempted there), so
   * tcp_v4_rcv puts each segment on the socket backlog and tcp_rcv_established and the ACK run in the reader's
   * context at release_sock; only the driver, GRO and IP/TCP demultiplexing stay in softirq.
   */
  private setRxCost(drop: boolean): void {
    const ppp = this.packetsPerPoll;
    const queued = this.socket > EPS;
    if (ppp === this.memoPpp && this.costJitter === this.memoJitter && queued === this.memoQueued && drop === this.memoDrop) {
      this.ringCostNs = this.memoCost;
      this.cBacklog = this.memoBacklog;
      return;
    }
    this.rxCost(drop, queued);
    this.memoPpp = ppp;
    this.memoJitter = this.costJitter;
    this.memoQueued = queued;
    this.memoDrop = drop;
    this.memoCost = this.ringCostNs;
    this.memoBacklog = this.cBacklog;
  }

  /** Sets ringCostNs and cBacklog for packetsPerPoll (what one poll finds), the drop flag and whether data is queued. */
  private rxCost(drop: boolean, queued: boolean): void {
    const packetsPerPoll = this.packetsPerPoll;
    this.cBacklog = 0;
    if (drop) {
      this.ringCostNs = this.cRxDrop * this.costJitter;
      return;
    }
    if (this.isTcp !== true) {
      this.ringCostNs = this.cRxUdp * this.costJitter;
      return;
    }
    // GRO merges what one poll finds of each flow; each super-packet goes up the stack once (a + b x segments)
    // and is ACKed (a GRO skb of >= 2 MSS triggers an immediate ACK; single segments are ACKed every second one).
    const batch = groBatchOf(Math.min(packetsPerPoll, this.napiWeight), this.groDivisor, this.groMaxSegments);
    const stack = superPacketStackNs(this.prof, batch) / batch;
    const tcpLayer = (stack + this.cAckTx / Math.max(batch, this.ackEverySegments)) * this.costJitter;
    const driver = this.cRxTcpDriver * this.costJitter;
    if (this.backlogInReader === true && this.isTcpReceiver === true && queued) {
      this.cBacklog = tcpLayer;
      this.ringCostNs = driver;
      return;
    }
    this.ringCostNs = driver + tcpLayer;
  }

  /** The application's own work per system call (ns): one datagram, or one message for TCP. */
  syscallNs(messageBytes: number): number {
    const p = this.prof;
    if (this.isTcpReceiver === true) return (this.cApp / p.tcpMssBytes) * messageBytes;
    if (this.isTcpSender === true) return this.cApp * messageBytes;
    return this.cApp;
  }

  /**
   * Packets per ns while packets arrive (what one interrupt finds). A window-limited TCP peer is not a smooth
   * stream at the reader's pace: it is silent while the window is closed and sends each window update at the
   * line rate (windowBurst), so rIn itself is the burst rate and the ring holds what softirq has not yet served.
   */
  burstPpns(): number {
    return this.rIn;
  }

  /**
   * Arrival rate that set the GRO batches of the segments now queued: the current one, or while the window is
   * closed (nothing arrives) the last burst's. The reader's backlog work is per super-packet as it arrived.
   */
  groPpns(): number {
    return this.rIn > 0 ? this.rIn : this.lastArrivalPpns;
  }

  /**
   * The window state from the levels (idempotent for the same levels): closed once socket + ring hold the whole
   * window, reopened (a line-rate burst) once the reader has freed reopenSegments, the burst over when the
   * window closes again or the reader has drained everything (the flow is no longer window-limited).
   */
  windowState(): void {
    const fill = this.socket + this.ring;
    if (fill >= this.rwndSegments - EPS) {
      this.windowClosed = true;
      this.windowBurst = false;
    } else if (this.windowClosed === true && fill <= this.rwndSegments - this.reopenSegments + EPS) {
      this.windowClosed = false;
      this.windowBurst = true;
    } else if (this.windowBurst === true && fill <= EPS) this.windowBurst = false;
  }

  /** A receiver whose socket is empty sleeps in recvmsg and is woken by each delivery. */
  readerBlocked(): boolean {
    return this.isReceiver === true && this.socket <= EPS;
  }

  /** The application's demand for CPU (fraction of its core): Infinity when it is CPU-bound. */
  appDemand(): number {
    const j = this.appJitter;
    if (this.isReceiver === true) return this.socket > EPS ? Infinity : this.rSockIn * this.cApp * j;
    if (this.isUdpSender === true) return this.htbPpns < Infinity ? this.htbPpns * this.cApp * j : this.linePpns * this.cDirect * j;
    return this.sendQueueBytes >= this.sndbufBytes - EPS ? this.linePpns * this.payloadBytes * this.cApp * j : Infinity;
  }

  /**
   * Rates for the next interval. `appShare`: the application's fraction of its core; `ringSvcNs`: ns of
   * softirq per ns the NIC core grants this ring (Infinity in interrupt mode: the ring is served as packets
   * come).
   */
  update(appShare: number, ringSvcNs: number): void {
    this.inAppShare = appShare;
    this.inRingSvcNs = ringSvcNs;
    if (this.isTcpReceiver === true) this.windowState();
    this.updateRates();
  }

  /**
   * update() with its inputs already in inAppShare and inRingSvcNs: the engine calls this, so no double is passed
   * as an argument (each would be boxed into a fresh heap number at every call).
   */
  updateRates(): void {
    const appShare = this.inAppShare;
    if (this.isReceiver === true) {
      this.updateReceiveSide();
      this.updateReaderSide();
      return;
    }
    this.sqNic = this.sqApp = this.sqPackets = 0;
    this.rNicDrop = this.rIn = this.rServe = this.rRingDrop = this.rEbpfDrop = this.rSockIn = this.rSockDrop = this.rApp = this.rWire = 0;
    this.qNet = 0;
    const j = this.costJitter;
    const ja = this.appJitter;
    if (this.isUdpSender === true) {
      const need = this.htbPpns * this.cApp * ja;
      let sent: number;
      if (this.htbPpns < Infinity && appShare >= need * (1 - 1e-9)) {
        // The class is saturated: packets wait in the qdisc and the watchdog dequeues them in NET_TX softirq.
        sent = this.htbPpns;
        this.sqApp = sent * this.cDeq * j;
      } else sent = Math.min(appShare / (this.cDirect * ja), this.linePpns, this.htbPpns);
      this.rApp = sent;
      this.sqNic = sent * this.cCompl * j;
      this.sqPackets = sent;
      return;
    }
    // tcp-sender: the application copies into the socket; while data waits there, ACKs (NET_RX on the NIC core)
    // clock it out with tcp_write_xmit from softirq (TSQ); otherwise sendmsg's tcp_push sends it in process context.
    const L = this.linePpns * this.payloadBytes; // bytes per ns
    const cCopy = this.cApp * ja;
    const cTso = this.cTsoPerByte * j;
    let fromSoftirq: boolean;
    if (this.sendQueueBytes > EPS) {
      this.rWire = L;
      const W = appShare / cCopy;
      this.rApp = this.sendQueueBytes >= this.sndbufBytes - EPS ? Math.min(W, L) : W;
      this.qNet = this.rApp - L;
      fromSoftirq = true;
    } else {
      const W = appShare / (cCopy + cTso);
      if (W >= L) {
        this.rApp = appShare / cCopy;
        this.rWire = L;
        this.qNet = this.rApp - L;
        fromSoftirq = true;
      } else {
        this.rApp = W;
        this.rWire = W;
        fromSoftirq = false;
      }
    }
    const acks = this.rWire / this.ackBytes;
    const skbs = this.rWire / this.tsoBytes;
    this.sqNic = acks * this.cAckRx * j + skbs * this.cCompl * j + (fromSoftirq ? this.rWire * cTso : 0);
    this.sqPackets = acks + skbs;
  }

  /** What a receiver's reader takes from its socket at inAppShare (after updateReceiveSide). */
  updateReaderSide(): void {
    const appPpns = this.inAppShare / (this.cApp * this.appJitter + this.cBacklog);
    this.rSockDrop = 0;
    this.rApp = this.socket <= EPS && appPpns >= this.rSockIn ? this.rSockIn : appPpns;
    if (this.isTcp !== true && this.socket >= this.socketCap - EPS && this.rSockIn > this.rApp) this.rSockDrop = this.rSockIn - this.rApp;
  }

  /**
   * A receiver's rates up to its socket (all but what its reader takes), for ring service inRingSvcNs. They do
   * not depend on the reader's share.
   */
  updateReceiveSide(): void {
    const ringSvcNs = this.inRingSvcNs;
    // Only the rates set on some paths below are reset (sqNic, sqPackets and rServe are always set; sqApp, rWire and
    // qNet are a sender's and stay 0 for a receiver).
    this.rNicDrop = this.rIn = this.rRingDrop = this.rEbpfDrop = this.rSockIn = 0;
    let A: number;
    if (this.isTcp === true) {
      A = Math.min(this.tcpRatePpns * this.arrivalJitter, this.linePpns, this.peerLimitPpns());
    } else A = this.peerCapPpns * this.arrivalJitter;
    // Zero window (windowState, from the levels: the caller has set it): the peer is silent (its deficit grows).
    // After the window update it sends as fast as its congestion window and iperf3 let it (the line while iperf3
    // catches up), not at the reader's pace.
    if (this.isTcp === true && this.windowClosed === true) A = 0;
    this.windowLimited = this.windowClosed === true || this.windowBurst === true;
    this.rArrive = A;
    if (this.isTcp === true) {
      this.rDeficit = this.peerCapPpns - A;
      if (this.peerDeficit <= EPS && this.rDeficit < 0) this.rDeficit = 0;
    }
    const atNic = this.policy.dropAtNic(this.owner);
    const afterDriver = this.policy.dropAfterDriver(this.owner);
    this.dropping = atNic || afterDriver;
    if (atNic) this.rNicDrop = A;
    else this.rIn = A;
    // What one poll finds: a full napi_weight when NAPI polls a backlog; in interrupt mode what arrived in one
    // moderation interval (at least the packet that raised it), at this interval's arrival rate.
    this.packetsPerPoll = ringSvcNs === Infinity ? Math.max(1, this.groPpns() * this.moderationNs) : this.napiWeight;
    this.setRxCost(afterDriver);
    const c = this.ringCostNs;
    if (ringSvcNs === Infinity) this.rServe = this.rIn;
    else {
      const cap = ringSvcNs / c;
      this.rServe = this.ring <= EPS && cap >= this.rIn ? this.rIn : cap;
    }
    if (this.ring >= this.ringCap - EPS && this.rIn > this.rServe) this.rRingDrop = this.rIn - this.rServe;
    if (afterDriver) this.rEbpfDrop = this.rServe;
    else this.rSockIn = this.rServe;
    this.sqNic = this.rServe * c;
    this.sqPackets = this.rServe;
  }

  /** Application CPU actually used at `appShare` (a demand-limited app uses less than its share). */
  appUse(appShare: number): number {
    const j = this.appJitter;
    if (this.isReceiver === true) return Math.min(appShare, this.rApp * (this.cApp * j + this.cBacklog));
    if (this.isUdpSender === true)
      return this.htbPpns < Infinity && this.sqApp > 0
        ? Math.min(appShare, this.rApp * this.cApp * j)
        : Math.min(appShare, this.rApp * this.cDirect * j);
    return Math.min(
      appShare,
      this.sendQueueBytes > EPS || this.qNet > 0 ? this.rApp * this.cApp * j : this.rApp * (this.cApp + this.cTsoPerByte) * j,
    );
  }

  /**
   * Time (ns) until a buffer level crosses a threshold at the current rates, into thresholdNs (a field, not a
   * return value: a double returned from a call that is not inlined is boxed on the heap).
   */
  updateThreshold(): void {
    // By kind, each part small enough for V8 to inline into the engine's nextEventDt (see advanceStep).
    if (this.isReceiver === true) this.thresholdNs = this.receiverThresholdNs();
    else if (this.isTcpSender === true) this.thresholdNs = this.sendQueueThresholdNs();
    else this.thresholdNs = Infinity;
  }

  /** A receiver's: ring empty or full, socket empty or full, then TCP's own (Math.min is exact, so in any order). */
  private receiverThresholdNs(): number {
    let t = Infinity;
    const dRing = this.rIn - this.rServe - this.rRingDrop;
    if (dRing < -1e-15) t = Math.min(t, this.ring / -dRing);
    else if (dRing > 1e-15 && this.ring < this.ringCap - EPS) t = Math.min(t, (this.ringCap - this.ring) / dRing);
    const dSock = this.rSockIn - this.rApp - this.rSockDrop;
    if (dSock < -1e-15) t = Math.min(t, this.socket / -dSock);
    else if (dSock > 1e-15 && this.socket < this.socketCap - EPS) t = Math.min(t, (this.socketCap - this.socket) / dSock);
    return this.isTcp === true ? Math.min(t, this.tcpThresholdNs(dSock + dRing)) : t;
  }

  /** TCP receiver, socket + ring filling at `dFill`: the window closing or reopening, the peer caught up. */
  private tcpThresholdNs(dFill: number): number {
    let t = Infinity;
    if (this.windowClosed !== true && dFill > 1e-15) t = Math.max(0, this.rwndSegments - this.socket - this.ring) / dFill;
    // A closed window reopens when the reader has freed reopenSegments (the window update).
    if (this.windowClosed === true && dFill < -1e-15)
      t = Math.max(0, this.socket + this.ring - (this.rwndSegments - this.reopenSegments)) / -dFill;
    if (this.peerDeficit > EPS && this.rDeficit < -1e-15) t = Math.min(t, this.peerDeficit / -this.rDeficit);
    return t;
  }

  /** A TCP sender's: its send queue empty or full. */
  private sendQueueThresholdNs(): number {
    if (this.qNet < -1e-12) return this.sendQueueBytes / -this.qNet;
    if (this.qNet > 1e-12 && this.sendQueueBytes < this.sndbufBytes - EPS) return (this.sndbufBytes - this.sendQueueBytes) / this.qNet;
    return Infinity;
  }

  /** Advance levels and counters by `dt` ns at the current rates. */
  advance(dt: number): void {
    this.stepNs = dt;
    this.advanceStep();
  }

  /**
   * advance() by stepNs, set by the engine (no double argument to box at every call). One small function per kind:
   * V8 never inlines a function of more than 460 bytes of bytecode, and this is called for each neighbour at every
   * event of the engine's advance.
   */
  advanceStep(): void {
    if (this.isReceiver === true) this.advanceReceiver();
    else this.advanceSender();
  }

  private advanceReceiver(): void {
    const dt = this.stepNs;
    this.offered += this.rArrive * dt;
    if (this.rIn > 0) this.lastArrivalPpns = this.rIn;
    // Drops are rare: adding zeros would leave every counter as it is, so skip them.
    if (this.rNicDrop + this.rRingDrop + this.rEbpfDrop + this.rSockDrop > 0) this.countDrops();
    this.ring = clamp(this.ring + (this.rIn - this.rServe - this.rRingDrop) * dt, this.ringCap);
    this.socket = clamp(this.socket + (this.rSockIn - this.rApp - this.rSockDrop) * dt, Infinity);
    if (this.isTcp === true) this.peerDeficit = clamp(this.peerDeficit + this.rDeficit * dt, Infinity);
    this.delivered += this.rApp * dt;
    this.goodputBytes += this.rApp * dt * this.payloadBytes;
  }

  private countDrops(): void {
    const dt = this.stepNs;
    this.dropped[R_NIC] += this.rNicDrop * dt;
    this.dropped[R_RING] += this.rRingDrop * dt;
    this.dropped[R_EBPF] += this.rEbpfDrop * dt;
    this.dropped[R_SOCK] += this.rSockDrop * dt;
    if (this.isTcp === true) this.retransmits += (this.rNicDrop + this.rRingDrop + this.rEbpfDrop) * dt;
  }

  private advanceSender(): void {
    const dt = this.stepNs;
    if (this.isUdpSender === true) {
      this.offered += this.rApp * dt;
      this.delivered += this.rApp * dt;
      this.goodputBytes += this.rApp * dt * this.payloadBytes;
      return;
    }
    this.offered += (this.rApp * dt) / this.payloadBytes;
    this.delivered += (this.rWire * dt) / this.payloadBytes;
    this.goodputBytes += this.rWire * dt;
    this.sendQueueBytes = clamp(this.sendQueueBytes + this.qNet * dt, this.sndbufBytes);
  }

  // ---- TCP congestion control of the peer (tcp-receiver) -----------------------------------------------

  /** Round-trip time now: the base RTT plus the time the ring's backlog takes to be served. */
  rttNs(): number {
    const base = this.prof.linkRttUs * 1000;
    return base + (this.ring > EPS ? this.ring / Math.max(this.rServe, 1 / Math.max(this.ringCostNs, 1)) : 0);
  }

  /** The peer's rate may grow (congestion avoidance: one MSS per flow per RTT). */
  ramping(): boolean {
    return (
      this.isTcpReceiver === true &&
      this.dropping !== true &&
      this.windowClosed !== true &&
      this.rRingDrop <= 0 &&
      this.tcpRatePpns < this.peerLimitPpns()
    );
  }

  /** Grow the peer's rate over stepNs (cwnd += flows * MSS per RTT, rate = cwnd / RTT). */
  growStep(): void {
    const dt = this.stepNs;
    const rtt = this.rttNs();
    this.tcpRatePpns = Math.min(this.peerLimitPpns(), this.tcpRatePpns + (this.flows * dt) / (rtt * rtt));
  }

  /**
   * What the peer's application writes, and so what its congestion window needs to cover: the line while iperf3
   * is behind its target (iperf_check_throttle), else its nominal rate.
   */
  private peerLimitPpns(): number {
    return this.peerDeficit > EPS ? this.linePpns : this.peerCapPpns;
  }

  /** The peer reacts to loss at `now`: multiplicative decrease at most once per RTT; returns true if it cut. */
  onLoss(now: number): boolean {
    const rtt = this.rttNs();
    const floor = (2 * this.flows) / rtt;
    if (this.dropping === true) {
      // Every packet is dropped: repeated cuts collapse the window to its floor.
      const changed = this.tcpRatePpns > floor;
      this.tcpRatePpns = Math.min(this.tcpRatePpns, floor);
      return changed;
    }
    if (now - this.lastCutNs < rtt) return false;
    this.lastCutNs = now;
    this.tcpRatePpns = Math.max(floor, this.tcpRatePpns * this.prof.tcpCubicBeta);
    return true;
  }

  // ---- Bookkeeping ----------------------------------------------------------------------------------

  queued(): number {
    if (this.isReceiver === true) return this.ring + this.socket;
    if (this.isTcpSender === true) return this.sendQueueBytes / this.payloadBytes;
    return 0;
  }

  totalDropped(): number {
    let d = 0;
    for (let i = 0; i < this.dropped.length; i++) d += this.dropped[i];
    return d;
  }
}

function clamp(x: number, max: number): number {
  if (x < 1e-9) return 0;
  return x > max ? max : x;
}
