// iperf3 --json client output -> what a flood achieved. zod checks the shape: it is tool output, a trust boundary.
import { z } from 'zod';

const Sum = z.object({
  seconds: z.number(),
  bytes: z.number(),
  bits_per_second: z.number(),
  retransmits: z.number().optional(),
  packets: z.number().optional(),
  lost_packets: z.number().optional(),
});
const Interval = z.object({
  sum: z.object({ start: z.number(), end: z.number(), bytes: z.number(), packets: z.number().optional(), omitted: z.boolean().optional() }),
});
const Iperf3Json = z.object({
  end: z.object({ sum_sent: Sum.optional(), sum_received: Sum.optional(), sum: Sum.optional() }).passthrough(),
  intervals: z.array(Interval).optional(),
  error: z.string().optional(),
});

/** One of the client's interval reports (1 s by default): seconds since the test started, what it sent. */
export interface Iperf3Interval {
  startS: number;
  endS: number;
  bytes: number;
  /** UDP datagrams; null for TCP (iperf3 does not count segments). */
  packets: number | null;
}

export interface FloodResult {
  /** Goodput as the receiving application saw it, bits/s (over the whole flood, warm-up included). */
  receivedBps: number;
  sentBytes: number;
  receivedBytes: number;
  /** UDP: datagrams sent / lost (as the server counted them); TCP: null. */
  packetsSent: number | null;
  packetsLost: number | null;
  /** TCP retransmits of the sender; null for UDP. */
  retransmits: number | null;
  error: string | null;
  /** The client's interval reports (the sending side's bytes for a client that sends, as every flood's does). */
  intervals: Iperf3Interval[];
}

export function parseIperf3Json(text: string): FloodResult {
  const start = text.indexOf('{');
  if (start < 0) throw new Error('iperf3 printed no JSON');
  const doc = Iperf3Json.parse(JSON.parse(text.slice(start)));
  const sent = doc.end.sum_sent;
  const received = doc.end.sum_received ?? doc.end.sum;
  const udpSum = doc.end.sum;
  return {
    receivedBps: received?.bits_per_second ?? 0,
    sentBytes: sent?.bytes ?? 0,
    receivedBytes: received?.bytes ?? 0,
    packetsSent: udpSum?.packets ?? null,
    packetsLost: udpSum?.lost_packets ?? null,
    retransmits: sent?.retransmits ?? null,
    error: doc.error ?? null,
    intervals: (doc.intervals ?? [])
      .filter((i) => !i.sum.omitted)
      .map((i) => ({ startS: i.sum.start, endS: i.sum.end, bytes: i.sum.bytes, packets: i.sum.packets ?? null })),
  };
}

/**
 * What the client sent inside [fromS, toS] (seconds since its test started): whole intervals inside, and the
 * overlapping part of those at the edges, pro rata (the rate inside one interval is taken as even). Null when
 * no interval reaches into the range (a flood that ended before, or a report without intervals).
 */
export function sentWithin(
  intervals: Iperf3Interval[],
  fromS: number,
  toS: number,
): { seconds: number; bytes: number; packets: number | null } | null {
  let seconds = 0;
  let bytes = 0;
  let packets: number | null = 0;
  for (const i of intervals) {
    const overlap = Math.min(i.endS, toS) - Math.max(i.startS, fromS);
    if (overlap <= 0 || i.endS <= i.startS) continue;
    const f = overlap / (i.endS - i.startS);
    seconds += overlap;
    bytes += i.bytes * f;
    packets = packets === null || i.packets === null ? null : packets + i.packets * f;
  }
  return seconds > 0 ? { seconds, bytes, packets } : null;
}
