// redis: a latency-sensitive victim. redis-server runs in the victim's container (its cores and quota); the
// load comes from a small closed-loop driver in a `victim-load` container on the peer's cores: a fixed number of
// connections, each sending a GET as soon as its previous reply arrived, from the warm-up until the agent
// interrupts it at the window's end. Every tick it prints how many requests completed and a histogram of their
// latencies, so a run reports by time, not after a fixed number of requests: under heavy interference fewer requests
// complete, and the window still has a result. The window keeps the ticks that lie inside it: primary metric the p99
// latency of the requests that completed there (lower is better, so a penalty > 1 means slower), requests/s and the
// completed count beside it. Closed loop: a slower server also sees fewer requests. Not modelled by the simulated
// kernel (it has no request/response server model).
//
// Why a driver of our own: redis-benchmark reports only after a fixed number of requests (-n), and under a TCP
// receiver flood not even batches of 1000 ended inside a 3 s window; memtier_benchmark (time-bounded) is not in
// Debian. The driver is a Perl script (Debian's perl: sockets and Time::HiRes), given to perl as argv.
import { assertLinkLocal, timestamped, wholeSeconds, type Window, type Workload, type WorkloadSample } from './workload.ts';

export const REDIS_PORT = 6379;
/** Open connections, one request in flight on each: enough to keep the server busy, few enough that queueing does not hide the tail. */
export const REDIS_CONNECTIONS = 4;
export const REDIS_VALUE_BYTES = 64;
/** How often the driver reports (ms): a 3 s window holds about 30 ticks; its edges cut at most half a tick. */
export const REDIS_TICK_MS = 100;
/** Histogram buckets per doubling of latency: a bucket is 2.2% wide, the p99's resolution. */
export const BUCKETS_PER_OCTAVE = 32;

export function redisServerArgv(): string[] {
  // No persistence (nothing to fork or write), one I/O thread: the victim is the event loop on its core.
  return ['redis-server', '--port', String(REDIS_PORT), '--bind', '0.0.0.0', '--protected-mode', 'no', '--save', '', '--appendonly', 'no'];
}

// The driver: SET the key once, then on every connection GET it, time the reply, GET again. Every tick one line
// `rtt FROM_MS TO_MS COMPLETED BUCKET:COUNT,...` (bucket = floor(32 * log2(latency in µs))). It ends by itself.
const DRIVER = String.raw`
use strict; use warnings; use IO::Socket::INET; use IO::Select; use Time::HiRes qw(time);
my ($host, $port, $conns, $secs, $tickMs, $valueBytes, $perOctave) = @ARGV;
$| = 1;
my $get = "*2\r\n\$3\r\nGET\r\n\$3\r\nkey\r\n";
my $replyBytes = length("\$$valueBytes\r\n") + $valueBytes + 2;
my (@socks, %buf, %sent);
for (1 .. $conns) {
  my $s = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port, Proto => 'tcp') or die "connect $host:$port: $!\n";
  $s->setsockopt(6, 1, 1);
  push @socks, $s;
}
my $value = 'x' x $valueBytes;
syswrite $socks[0], "*3\r\n\$3\r\nSET\r\n\$3\r\nkey\r\n\$$valueBytes\r\n$value\r\n";
my $ok = '';
sysread($socks[0], $ok, 64, length $ok) or die "SET: no reply\n" until $ok =~ /\r\n/;
die "SET: $ok" unless $ok =~ /^\+OK/;
my $sel = IO::Select->new(@socks);
my $from = time; my $end = $from + $secs; my $tick = $tickMs / 1000; my $next = $from + $tick;
my ($n, %h) = (0);
for my $s (@socks) { $buf{$s} = ''; $sent{$s} = time; syswrite $s, $get }
while (1) {
  my $now = time;
  if ($now >= $next) {
    print join(' ', 'rtt', sprintf('%.3f', $from * 1000), sprintf('%.3f', $now * 1000), $n, join(',', map { "$_:$h{$_}" } sort { $a <=> $b } keys %h)), "\n";
    ($n, %h) = (0); $from = $now; $next = $now + $tick;
    last if $now >= $end;
  }
  for my $s ($sel->can_read($next - $now)) {
    my $r = sysread $s, $buf{$s}, 65536, length $buf{$s};
    die 'read: ' . (defined $r ? 'server closed the connection' : $!) . "\n" unless $r;
    next if length $buf{$s} < $replyBytes;
    my $t = time; my $us = ($t - $sent{$s}) * 1e6;
    $h{int($perOctave * log($us < 1 ? 1 : $us) / log(2))}++; $n++;
    $buf{$s} = ''; $sent{$s} = $t; syswrite $s, $get;
  }
}
`;

/** The load generator for `timeS` seconds; coreutils' timeout is a backstop should the driver hang. */
export function redisDriverArgv(serverIp: string, timeS: number): string[] {
  const secs = wholeSeconds(timeS);
  return [
    'timeout',
    String(secs + 5),
    'perl',
    '-e',
    DRIVER,
    assertLinkLocal(serverIp),
    String(REDIS_PORT),
    String(REDIS_CONNECTIONS),
    String(secs),
    String(REDIS_TICK_MS),
    String(REDIS_VALUE_BYTES),
    String(BUCKETS_PER_OCTAVE),
  ];
}

/** One tick of the driver: the requests that completed between `fromMs` and `toMs`, by latency bucket. */
export interface RedisTick {
  fromMs: number;
  toMs: number;
  completed: number;
  buckets: Map<number, number>;
}

/** `rtt 1796079961215.345 1796079961465.473 6991 163:1,164:4,...` lines (docker's timestamps, if any, are skipped). */
export function parseRedisTicks(log: string): RedisTick[] {
  const out: RedisTick[] = [];
  for (const raw of log.split('\n')) {
    const text = timestamped(raw.replace(/\r$/, ''))?.text ?? raw;
    const m = text.match(/^rtt (\d+(?:\.\d+)?) (\d+(?:\.\d+)?) (\d+) ?(\S*)$/);
    if (!m) continue;
    const buckets = new Map<number, number>();
    for (const pair of m[4] ? m[4].split(',') : []) {
      const [b, c] = pair.split(':').map(Number);
      if (Number.isInteger(b) && Number.isInteger(c)) buckets.set(b, (buckets.get(b) ?? 0) + c);
    }
    out.push({ fromMs: Number(m[1]), toMs: Number(m[2]), completed: Number(m[3]), buckets });
  }
  return out;
}

/** A bucket's latency in ms: the geometric middle of its range. */
const bucketMs = (b: number) => 2 ** ((b + 0.5) / BUCKETS_PER_OCTAVE) / 1000;

/** The latency at quantile q (0..1) of a histogram: the bucket where the count reaches q of the total. */
export function quantileMs(buckets: Map<number, number>, q: number): number {
  const total = [...buckets.values()].reduce((a, c) => a + c, 0);
  let seen = 0;
  const sorted = [...buckets.entries()].sort((a, b) => a[0] - b[0]);
  for (const [b, c] of sorted) {
    seen += c;
    if (seen >= q * total) return bucketMs(b);
  }
  return bucketMs(sorted[sorted.length - 1][0]);
}

/**
 * The ticks that lie inside the window (up to half a tick beyond its edges): p99 and p50 of the requests that
 * completed there, requests/s over the ticks' time, and how many completed. Null when no tick lies inside, or
 * no request completed in the window at all.
 */
export function redisWindow(
  ticks: RedisTick[],
  window: Window,
  toleranceMs = REDIS_TICK_MS / 2,
): { p99Ms: number; p50Ms: number; opsPerSec: number; completed: number } | null {
  const inside = ticks.filter((t) => t.fromMs >= window.startMs - toleranceMs && t.toMs <= window.endMs + toleranceMs);
  const completed = inside.reduce((a, t) => a + t.completed, 0);
  if (!inside.length || completed === 0) return null;
  const merged = new Map<number, number>();
  for (const t of inside) for (const [b, c] of t.buckets) merged.set(b, (merged.get(b) ?? 0) + c);
  const seconds = inside.reduce((a, t) => a + (t.toMs - t.fromMs), 0) / 1000;
  return { p99Ms: quantileMs(merged, 0.99), p50Ms: quantileMs(merged, 0.5), opsPerSec: completed / seconds, completed };
}

export const redis = {
  kind: 'redis',
  description: 'redis-server GETs from a closed-loop driver on the peer cores, reported by time (latency victim: p99)',
  packages: ['redis-server', 'perl'],
  victim: {
    plan: (ctx) => [
      { name: 'victim', shape: 'victim', argv: redisServerArgv(), program: 'redis-server', readyLine: 'Ready to accept connections' },
      // It must report through the whole window, however late it opens: interrupted at its end, bounded by boundS.
      {
        name: 'victim-load',
        shape: 'peer',
        argv: redisDriverArgv(ctx.victimIp, ctx.boundS),
        program: 'redis-driver',
        stopAtWindowEnd: true,
      },
    ],
    metrics: [
      { metric: 'victim_p99_latency_ms', unit: 'ms', higherIsBetter: false },
      { metric: 'victim_p50_latency_ms', unit: 'ms', higherIsBetter: false },
      { metric: 'victim_ops_per_sec', unit: 'ops/s', higherIsBetter: true },
      { metric: 'victim_completed_requests', unit: 'requests', higherIsBetter: true },
    ],
    control: 'idle',
    collect(container: string, log: string, window: Window): WorkloadSample[] | null {
      if (container !== 'victim-load') return [];
      const w = redisWindow(parseRedisTicks(log), window);
      if (!w) return null;
      const labels = { container: 'victim' };
      return [
        { metric: 'victim_p99_latency_ms', value: w.p99Ms, unit: 'ms', labels },
        { metric: 'victim_p50_latency_ms', value: w.p50Ms, unit: 'ms', labels },
        { metric: 'victim_ops_per_sec', value: w.opsPerSec, unit: 'ops/s', labels },
        { metric: 'victim_completed_requests', value: w.completed, unit: 'requests', labels },
      ];
    },
  },
  sim: { refusal: 'the simulated kernel models sysbench victims only (no request/response server model for redis)' },
} satisfies Workload<'redis'>;
