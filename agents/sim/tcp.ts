// TCP pieces shared by the fluid model (traffic.ts): GRO coalescing and the stack cost of a super-packet. Congestion control of a receiver's peer
// (multiplicative decrease on loss, one MSS per flow per RTT of growth) and flow control (the advertised
// window paces the peer when the reader falls behind) live with the flows in traffic.ts.

/** Segments merged per GRO super-packet when `packetsInPoll` packets of `flows` interleaved flows arrive in one poll. */
export function groBatch(packetsInPoll: number, flows: number, maxSegments: number, interleavePenalty: number): number {
  return groBatchOf(packetsInPoll, groFlowDivisor(flows, interleavePenalty), maxSegments);
}

/** Packets of a poll per GRO flow slot: flows, widened by the interleaving penalty. */
export function groFlowDivisor(flows: number, interleavePenalty: number): number {
  return flows * (1 + interleavePenalty * (flows - 1));
}

/** groBatch with the flows' divisor computed once (groFlowDivisor). */
export function groBatchOf(packetsInPoll: number, divisor: number, maxSegments: number): number {
  return Math.max(1, Math.min(maxSegments, packetsInPoll / divisor));
}

/**
 * Stack cost (ns) of one GRO super-packet of `segments` segments: a fixed part per skb (ip_rcv, tcp_v4_rcv,
 * socket queueing, wakeup) plus a part per segment, so a batch of one costs about one datagram's stack walk.
 */
export function superPacketStackNs(p: { tcpRxStackNsPerSuperPacket: number; tcpRxStackNsPerSegment: number }, segments: number): number {
  return p.tcpRxStackNsPerSuperPacket + p.tcpRxStackNsPerSegment * segments;
}
