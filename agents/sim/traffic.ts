// The network side of one network neighbour: its peer across the link, its share of the NIC ring, its socket,
// its qdisc, its TCP state, and the work each of these creates in softirq or in the application's own
// system calls. Packet counts are fluids (fractional packets) so a 50 us step moves hundreds of packets at once.
// Every packet is offered, then delivered, dropped with a reason, or still queued (see `conservation`).
import type { WorkloadKind } from '../../workloads/catalog.ts';
import type { AccountingPolicy } from './accounting.ts';
import { Htb } from './htb.ts';
import type { HostProfile } from './profile.ts';
import { TcpRxFlow, TcpTxFlow, acksFor, groBatch } from './tcp.ts';

export const DROP_REASONS = ['socket_buffer', 'nic_throttled', 'ebpf_throttled', 'qdisc', 'ring'] as const;
export type DropReason = (typeof DROP_REASONS)[number];
const R_SOCK = 0, R_NIC = 1, R_EBPF = 2, R_QDISC = 3, R_RING = 4;

/** Shared per-core NIC receive ring occupancy (all owners whose traffic lands on that core). */
export class RxRings {
  readonly queued: Float64Array;
  constructor(cores: number, readonly capacityPackets: number) {
    this.queued = new Float64Array(cores);
  }
  room(core: number): number {
    return Math.max(0, this.capacityPackets - this.queued[core]);
  }
}

export interface TrafficParams {
  kind: WorkloadKind;
  owner: number;
  appCore: number;
  nicCore: number;
  rateGbps: number | undefined;
  flows: number;
  messageBytes: number;
}

/** Result of one softirq service call, split by vector. */
export interface SoftirqUse {
  rxNs: number;
  txNs: number;
  packets: number;
}

export class Traffic {
  readonly kind: WorkloadKind;
  readonly owner: number;
  readonly appCore: number;
  readonly nicCore: number;
  private readonly isUdp: boolean;
  private readonly isSender: boolean;
  // Packet geometry
  private readonly payloadBytes: number;
  private readonly wireBytesPerPacket: number;
  // Receive side
  ringPackets = 0;
  private peerRateBytesPerNs = 0;
  socketPackets = 0; // udp receiver
  private readonly socketCapPackets: number;
  readonly tcpRx: TcpRxFlow | null = null;
  // Send side
  private wmemPackets = 0; // udp sender: skbs charged to the socket until TX completion frees them
  private readonly wmemCapPackets: number;
  readonly htb: Htb | null = null;
  readonly tcpTx: TcpTxFlow | null = null;
  wireBytes = 0; // queued for the link, not yet transmitted
  private wirePackets = 0;
  txCompletions = 0;
  private pendingAcks = 0;
  private pendingAckedBytes = 0;
  ackPacketsInRing = 0;
  private ackedBytesInRing = 0;
  private readonly ackEverySegments: number;
  // Counters (packets are segments for TCP)
  offered = 0; // sent by the peer (receivers) or by the application (senders)
  delivered = 0; // read by the application (receivers) or put on the wire (senders)
  goodputBytes = 0;
  retransmits = 0;
  readonly dropped = new Float64Array(DROP_REASONS.length);
  private nowNs = 0;
  private rxUsedNs = 0;

  constructor(
    p: TrafficParams,
    private readonly prof: HostProfile,
    private readonly rings: RxRings,
    private readonly policy: AccountingPolicy,
  ) {
    this.kind = p.kind;
    this.owner = p.owner;
    this.appCore = p.appCore;
    this.nicCore = p.nicCore;
    this.isUdp = p.kind.startsWith('udp');
    this.isSender = p.kind.endsWith('-sender');
    const linkBytesPerNs = prof.linkGbps / 8;
    if (this.isUdp) {
      this.payloadBytes = Math.min(p.messageBytes, prof.mtuBytes - 28);
      this.wireBytesPerPacket = this.payloadBytes + 28 + 14 + prof.wireOverheadBytesPerFrame;
    } else {
      this.payloadBytes = prof.tcpMssBytes;
      this.wireBytesPerPacket = prof.tcpMssBytes + (prof.mtuBytes - prof.tcpMssBytes) + 14 + prof.wireOverheadBytesPerFrame;
    }
    this.socketCapPackets = prof.udpRcvbufBytes / prof.skbTruesizeBytes;
    this.wmemCapPackets = prof.udpSndbufBytes / prof.skbTruesizeBytes;
    const rate = p.rateGbps !== undefined ? p.rateGbps / 8 : Infinity; // bytes per ns
    if (p.kind === 'udp-receiver') {
      const peerMax = (prof.peerUdpMaxPacketsPerSecond * this.payloadBytes) / 1e9;
      this.peerRateBytesPerNs = Math.min(rate, peerMax, linkBytesPerNs);
    }
    if (p.kind === 'udp-sender' && p.rateGbps !== undefined) {
      const l2 = this.payloadBytes + 28 + 14;
      this.htb = new Htb(rate, rate * prof.htbBurstUs * 1000 + l2, l2, prof.qdiscQueuePackets, prof.htbTimerMinUs * 1000);
    }
    if (p.kind === 'tcp-receiver') {
      this.tcpRx = new TcpRxFlow(
        p.flows,
        prof.tcpMssBytes,
        Math.min(rate, linkBytesPerNs),
        prof.tcpRmemMaxBytes,
        prof.tcpWmemMaxBytes * p.flows,
        prof.tcpCubicBeta,
        prof.linkRttUs * 1000,
        prof.tcpInitialCwndSegments,
      );
    }
    if (p.kind === 'tcp-sender') {
      const tsq = linkBytesPerNs * 1e6; // TSQ: about 1 ms of the link may sit below the socket
      this.tcpTx = new TcpTxFlow(p.flows, prof.tcpMssBytes, prof.tcpWmemMaxBytes * p.flows, prof.tcpTsoMaxBytes, tsq, Infinity);
    }
    // The sink across the link coalesces our segments with GRO and ACKs each super-packet.
    this.ackEverySegments = Math.max(
      prof.tcpAckEverySegments,
      groBatch(prof.napiWeightPackets, p.flows, prof.groMaxSegments, prof.groFlowInterleavePenalty),
    );
  }

  // ---- The link -------------------------------------------------------------------------------------

  /** The peer sends towards us for `dtNs` within `linkBytes` of the receive link; returns wire bytes used. */
  arrive(now: number, dtNs: number, linkBytes: number, jitter: number): number {
    this.nowNs = now;
    // ACKs from the sink for what left last step.
    if (this.pendingAcks > 0) {
      const space = this.rings.room(this.nicCore);
      const acc = Math.min(this.pendingAcks, space);
      this.ackPacketsInRing += acc;
      this.ackedBytesInRing += this.pendingAckedBytes * (acc / this.pendingAcks);
      this.rings.queued[this.nicCore] += acc;
      // An ACK lost to a full ring is covered by the next cumulative ACK: fold its bytes into what arrived.
      if (acc < this.pendingAcks) this.ackedBytesInRing += this.pendingAckedBytes * (1 - acc / this.pendingAcks);
      this.pendingAcks = 0;
      this.pendingAckedBytes = 0;
    }
    let segments = 0;
    if (this.kind === 'udp-receiver') {
      segments = Math.min(this.peerRateBytesPerNs * dtNs * jitter, linkBytes * (this.payloadBytes / this.wireBytesPerPacket)) / this.payloadBytes;
    } else if (this.tcpRx) {
      segments = this.tcpRx.sendable(dtNs, linkBytes * (this.payloadBytes / this.wireBytesPerPacket)) * jitter;
      this.tcpRx.onSent(segments);
    } else {
      return 0;
    }
    this.offered += segments;
    let lost = 0;
    if (this.policy.dropAtNic(this.owner)) {
      this.dropped[R_NIC] += segments;
      lost = segments;
    } else {
      const accepted = Math.min(segments, this.rings.room(this.nicCore));
      this.ringPackets += accepted;
      this.rings.queued[this.nicCore] += accepted;
      lost = segments - accepted;
      this.dropped[R_RING] += lost;
    }
    if (lost > 0 && this.tcpRx) {
      this.tcpRx.onLoss(lost, now);
      this.retransmits += lost;
    }
    return segments * this.wireBytesPerPacket;
  }

  /** The link transmits `share` of our queued bytes; completions follow in softirq, ACKs come back. */
  drainWire(maxBytes: number): number {
    if (this.wireBytes <= 0) return 0;
    const bytes = Math.min(this.wireBytes, maxBytes);
    const frac = bytes / this.wireBytes;
    const pkts = this.wirePackets * frac;
    this.wireBytes -= bytes;
    this.wirePackets -= pkts;
    if (this.wireBytes < 1e-6) this.wireBytes = this.wirePackets = 0;
    this.txCompletions += pkts;
    if (this.tcpTx) {
      const payload = bytes * (this.payloadBytes / this.wireBytesPerPacket);
      const segs = payload / this.payloadBytes;
      this.delivered += segs;
      this.goodputBytes += payload;
      this.pendingAcks += acksFor(segs, this.ackEverySegments);
      this.pendingAckedBytes += payload;
    } else {
      this.delivered += pkts;
      this.goodputBytes += pkts * this.payloadBytes;
    }
    return bytes;
  }

  /** Queue `n` packets (skbs) of `payload` bytes each for the link. */
  private toWire(n: number, payloadBytes: number): void {
    this.wirePackets += n;
    this.wireBytes += n * payloadBytes * (this.wireBytesPerPacket / this.payloadBytes);
  }

  // ---- Softirq --------------------------------------------------------------------------------------

  hasSoftirqWork(core: number): boolean {
    if (core === this.nicCore) {
      if (this.ringPackets > 1e-9 || this.ackPacketsInRing > 1e-9 || this.txCompletions > 1e-9) return true;
      if (this.tcpTx && this.tcpTx.pushPending && this.tcpTx.transmittable(this.wireBytes) > 0) return true;
    }
    if (core === this.appCore && this.htb && this.htb.releasable() >= 1) return true;
    return false;
  }

  /** Process softirq work on `core` within `budgetNs` and `budgetPackets`; costs scaled by `scale`. */
  softirq(core: number, budgetNs: number, budgetPackets: number, scale: number, out: SoftirqUse): void {
    out.rxNs = out.txNs = out.packets = 0;
    const p = this.prof;
    const acct = this.policy.overheadNsPerPacket;
    let left = budgetNs;
    let pk = budgetPackets;
    if (core === this.nicCore) {
      // TX completion (ixgbe cleans the TX ring in its NAPI poll, so it counts as NET_RX).
      if (this.txCompletions > 0 && left > 0 && pk > 0) {
        const c = (p.txCompletionNsPerPacket + acct) * scale;
        const n = Math.min(this.txCompletions, left / c, pk);
        this.txCompletions -= n;
        if (this.txCompletions < 1e-9) this.txCompletions = 0;
        this.wmemPackets = Math.max(0, this.wmemPackets - n);
        if (this.tcpTx) this.tcpTx.pushPending = true; // TSQ: completions let the tasklet push more
        left -= n * c;
        pk -= n;
        out.packets += n;
      }
      if (this.ringPackets > 0 && left > 0 && pk > 0) {
        const n = this.kind === 'udp-receiver' ? this.udpRx(left, pk, scale, acct) : this.tcpDataRx(left, pk, scale, acct);
        left -= this.rxUsedNs;
        pk -= n;
        out.packets += n;
      }
      if (this.ackPacketsInRing > 0 && left > 0 && pk > 0 && this.tcpTx) {
        const c = (p.tcpAckRxNsPerPacket + acct) * scale;
        const n = Math.min(this.ackPacketsInRing, left / c, pk);
        const bytes = this.ackedBytesInRing * (n / this.ackPacketsInRing);
        this.ackPacketsInRing -= n;
        this.ackedBytesInRing -= bytes;
        this.rings.queued[this.nicCore] -= n;
        if (this.ackPacketsInRing < 1e-9) {
          this.tcpTx.onAcked(bytes + this.ackedBytesInRing);
          this.ackPacketsInRing = this.ackedBytesInRing = 0;
        } else this.tcpTx.onAcked(bytes);
        left -= n * c;
        pk -= n;
        out.packets += n;
      }
      // tcp_write_xmit from softirq: ACKs and completions opened the window while the app sleeps.
      if (this.tcpTx && this.tcpTx.pushPending && left > 0) left -= this.tcpPush(left, scale);
      out.rxNs = budgetNs - left;
    }
    if (core === this.appCore && this.htb && left > 0 && pk > 0) {
      // The qdisc watchdog fires and net_tx_action dequeues what the tokens allow, then the driver sends it.
      const c = (p.htbDequeueNsPerPacket + p.driverTxNsPerPacket + p.htbWatchdogNsPerWakeup / this.htb.packetsPerWakeup + acct) * scale;
      const n = Math.min(this.htb.releasable(), left / c, pk);
      if (n > 0) {
        this.htb.dequeue(n);
        this.toWire(n, this.payloadBytes);
        out.txNs = n * c;
        out.packets += n;
      }
    }
  }

  /** Receive up to the budget; returns packets, leaves the time used in rxUsedNs. */
  private udpRx(budgetNs: number, budgetPackets: number, scale: number, acct: number): number {
    const p = this.prof;
    const dropping = this.policy.dropAfterDriver(this.owner);
    const c = (dropping ? p.ebpfDropNsPerPacket + acct : p.driverRxNsPerPacket + p.udpRxStackNsPerPacket + acct) * scale;
    const n = Math.min(this.ringPackets, budgetNs / c, budgetPackets);
    this.takeFromRing(n);
    if (dropping) this.dropped[R_EBPF] += n;
    else {
      const fit = Math.min(n, Math.max(0, this.socketCapPackets - this.socketPackets));
      this.socketPackets += fit;
      this.dropped[R_SOCK] += n - fit;
    }
    this.rxUsedNs = n * c;
    return n;
  }

  private tcpDataRx(budgetNs: number, budgetPackets: number, scale: number, acct: number): number {
    const p = this.prof;
    const flow = this.tcpRx!;
    const dropping = this.policy.dropAfterDriver(this.owner);
    if (dropping) {
      const c = (p.ebpfDropNsPerPacket + acct) * scale;
      const n = Math.min(this.ringPackets, budgetNs / c, budgetPackets);
      this.takeFromRing(n);
      this.dropped[R_EBPF] += n;
      flow.onLoss(n, this.nowNs);
      this.retransmits += n;
      this.rxUsedNs = n * c;
    return n;
    }
    // GRO merges what one poll finds of each flow; each super-packet goes up the stack once and is ACKed.
    const batch = groBatch(Math.min(this.ringPackets, p.napiWeightPackets), flow.flows, p.groMaxSegments, p.groFlowInterleavePenalty);
    const c = (p.driverRxNsPerPacket + p.tcpRxGroNsPerPacket + acct + p.tcpRxStackNsPerSuperPacket / batch + p.tcpAckTxNsPerPacket / Math.max(batch, 2)) * scale;
    const n = Math.min(this.ringPackets, budgetNs / c, budgetPackets);
    this.takeFromRing(n);
    flow.onDelivered(n);
    this.rxUsedNs = n * c;
    return n;
  }

  private takeFromRing(n: number): void {
    this.ringPackets -= n;
    this.rings.queued[this.nicCore] -= n;
    if (this.ringPackets < 1e-9) {
      this.rings.queued[this.nicCore] -= this.ringPackets;
      this.ringPackets = 0;
    }
  }

  /** Transmit queued TCP data from softirq; returns the time used. */
  private tcpPush(budgetNs: number, scale: number): number {
    const tx = this.tcpTx!;
    const c = this.prof.tcpTxNsPerTsoSegment * scale;
    const bytes = Math.min(tx.transmittable(this.wireBytes), (budgetNs / c) * tx.tsoBytes);
    if (bytes <= 0) {
      tx.pushPending = false;
      return 0;
    }
    tx.transmit(bytes);
    this.toWire(bytes / tx.tsoBytes, tx.tsoBytes);
    if (tx.transmittable(this.wireBytes) <= 0) tx.pushPending = false;
    return (bytes / tx.tsoBytes) * c;
  }

  // ---- The application (process context, charged to the neighbour's cgroup) -------------------------

  appRunnable(): boolean {
    switch (this.kind) {
      case 'udp-sender':
        return this.wmemCapPackets - this.wmemPackets >= 1;
      case 'udp-receiver':
        return this.socketPackets >= 1;
      case 'tcp-sender':
        return this.tcpTx!.writeRoom() >= this.prof.tcpTsoMaxBytes;
      case 'tcp-receiver':
        return this.tcpRx!.socketBytes >= this.prof.tcpMssBytes;
      default:
        return false;
    }
  }

  /** Run the application for at most `maxNs`; returns the time used (less when it blocks). */
  appRun(maxNs: number, scale: number, messageBytes: number): number {
    const p = this.prof;
    switch (this.kind) {
      case 'udp-sender': {
        const room = this.wmemCapPackets - this.wmemPackets;
        const cDirect = (p.udpTxSyscallNsPerPacket + p.driverTxNsPerPacket) * scale;
        const cQueued = p.udpTxSyscallNsPerPacket * scale;
        const direct = Math.min(room, maxNs / cDirect, this.htb ? this.htb.directAllowance() : Infinity);
        let used = direct * cDirect;
        let queued = 0;
        if (this.htb && direct < room && used < maxNs) queued = Math.min(room - direct, (maxNs - used) / cQueued);
        used += queued * cQueued;
        if (this.htb) this.htb.sendDirect(direct);
        this.toWire(direct, this.payloadBytes);
        let qdrop = 0;
        if (queued > 0) qdrop = this.htb!.enqueue(queued);
        this.dropped[R_QDISC] += qdrop;
        this.wmemPackets += direct + queued - qdrop;
        this.offered += direct + queued;
        return used;
      }
      case 'udp-receiver': {
        const c = p.udpRecvSyscallNsPerPacket * scale;
        const n = Math.min(this.socketPackets, maxNs / c);
        this.socketPackets -= n;
        this.delivered += n;
        this.goodputBytes += n * this.payloadBytes;
        return n * c;
      }
      case 'tcp-sender': {
        const tx = this.tcpTx!;
        const perByte = (p.tcpTxCopyNsPerByte + p.tcpSyscallNsPerCall / messageBytes) * scale;
        const c = p.tcpTxNsPerTsoSegment * scale;
        // Copy, then tcp_push inside sendmsg: what the window and TSQ allow goes out in process context,
        // so budget the transmit cost of the data written while there is room below the socket.
        const canPush = tx.transmittable(this.wireBytes) + tx.writeRoom() > 0 && this.wireBytes < tx.tsqLimitBytes;
        const bytes = Math.min(tx.writeRoom(), maxNs / (perByte + (canPush ? c / tx.tsoBytes : 0)));
        tx.writeQueueBytes += bytes;
        this.offered += bytes / this.payloadBytes;
        let used = bytes * perByte;
        const out = Math.min(tx.transmittable(this.wireBytes), ((maxNs - used) / c) * tx.tsoBytes);
        if (out > 0) {
          tx.transmit(out);
          this.toWire(out / tx.tsoBytes, tx.tsoBytes);
          used += (out / tx.tsoBytes) * c;
        }
        return used;
      }
      case 'tcp-receiver': {
        const rx = this.tcpRx!;
        const perByte = (p.tcpRxCopyNsPerByte + p.tcpSyscallNsPerCall / messageBytes) * scale;
        const bytes = Math.min(rx.socketBytes, maxNs / perByte);
        rx.socketBytes -= bytes;
        this.delivered += bytes / this.payloadBytes;
        this.goodputBytes += bytes;
        return bytes * perByte;
      }
      default:
        return 0;
    }
  }

  // ---- Bookkeeping ----------------------------------------------------------------------------------

  /** Packets (segments for TCP) still inside the host or the link: queued in a ring, socket, qdisc or queue. */
  queued(): number {
    let q = this.ringPackets + this.socketPackets;
    if (this.tcpRx) q += this.tcpRx.socketBytes / this.payloadBytes;
    if (this.htb) q += this.htb.queuePackets;
    if (this.tcpTx) q += (this.tcpTx.writeQueueBytes + this.wireBytes * (this.payloadBytes / this.wireBytesPerPacket)) / this.payloadBytes;
    else if (this.isSender) q += this.wirePackets;
    return q;
  }

  totalDropped(): number {
    let d = 0;
    for (let i = 0; i < this.dropped.length; i++) d += this.dropped[i];
    return d;
  }
}
