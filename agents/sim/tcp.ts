// TCP as fluid flows. Only what changes CPU time on the host matters here: GRO coalescing (fewer, larger
// packets through the stack; worse as flows interleave), ACKs (one per GRO super-packet, at least every two
// segments), congestion control (CUBIC-like multiplicative decrease on loss) and flow control (the receive
// window closes when the application does not read, so a receiver that cannot keep up slows its sender).

/** Segments merged per GRO super-packet when `packetsInPoll` packets of `flows` interleaved flows arrive in one poll. */
export function groBatch(packetsInPoll: number, flows: number, maxSegments: number, interleavePenalty: number): number {
  const perFlow = packetsInPoll / (flows * (1 + interleavePenalty * (flows - 1)));
  return Math.max(1, Math.min(maxSegments, perFlow));
}

/** ACKs a receiver sends for `segments` arriving in super-packets of `batch` segments (delayed ACK: >= every 2). */
export function acksFor(segments: number, batch: number): number {
  return segments / Math.max(batch, 2);
}

/** Traffic from a peer across the link into a local receiver (tcp-receiver). */
export class TcpRxFlow {
  cwndBytes: number;
  inflightBytes = 0;
  /** Data delivered to the socket, not yet read by the application. */
  socketBytes = 0;
  private lastLossNs = -Infinity;

  constructor(
    readonly flows: number,
    readonly mssBytes: number,
    readonly rateBytesPerNs: number,
    readonly rcvbufBytes: number,
    readonly cwndMaxBytes: number,
    readonly beta: number,
    readonly rttNs: number,
    initialCwndSegments: number,
  ) {
    this.cwndBytes = initialCwndSegments * mssBytes * flows;
  }

  /** Segments the peer may send in `dtNs`: its rate, the link share, and min(cwnd, rwnd) minus what is in flight. */
  sendable(dtNs: number, linkBytes: number): number {
    const rwnd = this.rcvbufBytes - this.socketBytes;
    const window = Math.max(0, Math.min(this.cwndBytes, rwnd) - this.inflightBytes);
    return Math.min(this.rateBytesPerNs * dtNs, linkBytes, window) / this.mssBytes;
  }

  onSent(segments: number): void {
    this.inflightBytes += segments * this.mssBytes;
  }

  /** Segments lost (ring overflow, NIC drop): retransmitted later, window cut at most once per RTT. */
  onLoss(segments: number, now: number): void {
    this.inflightBytes = Math.max(0, this.inflightBytes - segments * this.mssBytes);
    if (now - this.lastLossNs >= this.rttNs) {
      this.cwndBytes = Math.max(2 * this.mssBytes * this.flows, this.cwndBytes * this.beta);
      this.lastLossNs = now;
    }
  }

  /** Segments processed by the stack: into the socket, acknowledged, window grows. */
  onDelivered(segments: number): void {
    const bytes = segments * this.mssBytes;
    this.inflightBytes = Math.max(0, this.inflightBytes - bytes);
    this.socketBytes += bytes;
    this.grow(bytes);
  }

  private grow(ackedBytes: number): void {
    // Congestion avoidance growth per flow (~1 MSS per RTT per flow), fast enough to refill after a loss.
    const inc = (this.mssBytes * this.flows * ackedBytes) / Math.max(this.cwndBytes, this.mssBytes);
    this.cwndBytes = Math.min(this.cwndMaxBytes, this.cwndBytes + Math.max(inc, ackedBytes * 0.05));
  }
}

/** A local sender (tcp-sender) towards a sink across the link that acknowledges everything it gets. */
export class TcpTxFlow {
  /** Application data in the socket not yet transmitted. */
  writeQueueBytes = 0;
  /** Transmitted, not yet acknowledged (on the wire, at the sink, or as ACKs waiting in our ring). */
  inflightBytes = 0;
  /** Set when ACKs or TX completions opened room: the next softirq pushes queued data (tcp_write_xmit/TSQ). */
  pushPending = false;

  constructor(
    readonly flows: number,
    readonly mssBytes: number,
    readonly sndbufBytes: number,
    readonly tsoBytes: number,
    readonly tsqLimitBytes: number,
    public cwndBytes: number,
  ) {}

  /** Room the application may fill with new data. */
  writeRoom(): number {
    return Math.max(0, this.sndbufBytes - this.writeQueueBytes - this.inflightBytes);
  }

  /** Bytes that may be transmitted now: queued data within cwnd and the TSQ limit (about 1 ms of the link). */
  transmittable(bytesNotYetOnWire: number): number {
    const window = this.cwndBytes - this.inflightBytes;
    const tsq = this.tsqLimitBytes - bytesNotYetOnWire;
    return Math.max(0, Math.min(this.writeQueueBytes, window, tsq));
  }

  transmit(bytes: number): void {
    this.writeQueueBytes -= bytes;
    this.inflightBytes += bytes;
    if (this.writeQueueBytes < 1e-6) this.writeQueueBytes = 0;
  }

  onAcked(bytes: number): void {
    this.inflightBytes = Math.max(0, this.inflightBytes - bytes);
    this.pushPending = true;
  }
}
