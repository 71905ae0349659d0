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
const Iperf3Json = z.object({
  end: z.object({ sum_sent: Sum.optional(), sum_received: Sum.optional(), sum: Sum.optional() }).passthrough(),
  error: z.string().optional(),
});

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
  };
}
