// sockperf ping-pong: a request-response neighbour. The neighbour runs `sockperf server` (it answers), its traffic
// peer `sockperf ping-pong` with small UDP messages as fast as the round trips allow: many transactions per
// second, so per byte the most packets, the most softirq on the NIC's cores (the victim's). Its load begins 2 s
// after it starts (sockperf sleeps after its own warm-up messages): the run's warm-up counts from then. The
// client is interrupted at the window's end and prints its summary; transactions/s are over sockperf's valid
// duration (its test minus the first 0.4 s and the last 50 ms). Not modelled by the simulated kernel (its traffic
// model is one-way floods).
import { assertLinkLocal, timestamped, wholeSeconds, type Workload, type WorkloadSample } from './workload.ts';

export const SOCKPERF_PORT = 11111;
/** Default message size: a small request, as key-value and RPC traffic sends. */
export const SOCKPERF_MESSAGE_BYTES = 64;

export function sockperfServerArgv(): string[] {
  return ['sockperf', 'server', '-i', '0.0.0.0', '-p', String(SOCKPERF_PORT)];
}

/** Ping-pong for at most `timeS` (sockperf -t bounds it), `messageBytes` per request. */
export function sockperfClientArgv(serverIp: string, timeS: number, messageBytes = SOCKPERF_MESSAGE_BYTES): string[] {
  return [
    'sockperf',
    'ping-pong',
    '-i',
    assertLinkLocal(serverIp),
    '-p',
    String(SOCKPERF_PORT),
    '-t',
    String(wholeSeconds(timeS)),
    '-m',
    String(messageBytes),
    '--mps=max',
  ];
}

/** `sockperf: [Valid Duration] RunTime=9.550 sec; SentMessages=386752; ReceivedMessages=386752` -> round trips/s. */
export function parseSockperfSummary(log: string): { transactionsPerSec: number; runTimeS: number } | null {
  for (const raw of log.split('\n')) {
    const text = timestamped(raw)?.text ?? raw;
    const m = text.match(/\[Valid Duration\]\s+RunTime=([\d.]+)\s*sec;\s*SentMessages=(\d+);\s*ReceivedMessages=(\d+)/);
    if (m && Number(m[1]) > 0) return { transactionsPerSec: Number(m[3]) / Number(m[1]), runTimeS: Number(m[1]) };
  }
  return null;
}

export const sockperf = {
  kind: 'sockperf-pingpong',
  description: 'sockperf UDP ping-pong, small messages (request-response neighbour)',
  packages: ['sockperf'],
  neighbour: {
    plan: (ctx, i) => [
      { name: `neighbour-${i}`, shape: 'neighbour', argv: sockperfServerArgv(), program: 'sockperf-server', readyLine: 'sockperf: Warmup' },
      {
        name: `peer-${i}`,
        shape: 'peer',
        program: 'sockperf-client',
        stopAtWindowEnd: true,
        // sockperf sleeps 2 s after its warm-up messages (client.cpp, unconditionally), then starts its -t timer
        loadStartsLine: 'sockperf: Starting test',
        // Bounded by the planned run plus a margin, not by boundS like a flood: sockperf allocates and touches a
        // record per message for its whole -t at 600 k messages/s (MPS_MAX_PP): 1.2 GB resident at -t 124, 80 MB
        // at -t 7 (measured in the workload image). A window that opens later than the margin misses its load.
        argv: sockperfClientArgv(ctx.neighbourIp(i), ctx.runS + 3, ctx.params.messageBytes ?? SOCKPERF_MESSAGE_BYTES),
      },
    ],
    collect(container: string, log: string): WorkloadSample[] | null {
      if (!container.startsWith('peer-')) return [];
      const s = parseSockperfSummary(log);
      if (!s) return null;
      return [
        {
          metric: 'neighbour_transactions_per_sec',
          value: s.transactionsPerSec,
          unit: 'transactions/s',
          labels: { container: container.replace('peer-', 'neighbour-') },
        },
      ];
    },
    network: { protocol: 'udp', direction: 'request-response', defaultMessageBytes: SOCKPERF_MESSAGE_BYTES },
  },
  sim: { refusal: 'the simulated kernel models one-way iperf3 floods only (no request/response traffic model for sockperf-pingpong)' },
} satisfies Workload<'sockperf-pingpong'>;
