// redis: a latency-sensitive victim. redis-server runs in the victim's container (its cores and quota); the
// load comes from redis-benchmark in a `victim-load` container on the peer's cores, a fixed number of
// connections doing GETs in batches (-l repeats them until `timeout` ends it), one CSV line per batch with its
// requests/s and latency percentiles. The window keeps the batches that lie inside it: primary metric the p99
// latency (lower is better, so a penalty > 1 means slower), requests/s beside it. Closed loop: a slower server
// also sees fewer requests. Not modelled by the simulated kernel (it has no request/response server model).
import { assertLinkLocal, timestamped, wholeSeconds, type Window, type Workload, type WorkloadSample } from './workload.ts';

export const REDIS_PORT = 6379;
/** Requests per batch (one CSV line each): tens of ms at tens of thousands of requests/s, and short enough that
 *  several batches end inside a 3 s window even when a TCP receiver flood slows the server a hundredfold (5000
 *  was not: no batch lay inside the window under tcp-receiver on this machine). */
export const REDIS_BATCH = 1000;
/** Open connections: enough to keep the server busy, few enough that queueing does not hide the tail. */
export const REDIS_CONNECTIONS = 4;
export const REDIS_VALUE_BYTES = 64;

export function redisServerArgv(): string[] {
  // No persistence (nothing to fork or write), one I/O thread: the victim is the event loop on its core.
  return ['redis-server', '--port', String(REDIS_PORT), '--bind', '0.0.0.0', '--protected-mode', 'no', '--save', '', '--appendonly', 'no'];
}

/** The load generator, bounded by coreutils' timeout (redis-benchmark -l alone would loop forever). */
export function redisBenchmarkArgv(serverIp: string, timeS: number): string[] {
  return [
    'timeout', String(wholeSeconds(timeS)),
    'redis-benchmark', '-h', assertLinkLocal(serverIp), '-p', String(REDIS_PORT),
    '-c', String(REDIS_CONNECTIONS), '-n', String(REDIS_BATCH), '-d', String(REDIS_VALUE_BYTES), '-t', 'get', '-l', '--csv',
  ];
}

export interface RedisBatch {
  /** When the batch's line was printed (its end), ms since the epoch. */
  atMs: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
}

/** `"GET","48076.92","0.567","0.128","0.551","0.775","0.935","2.175"` lines (test, rps, avg, min, p50, p95, p99, max). */
export function parseRedisBatches(log: string): RedisBatch[] {
  const out: RedisBatch[] = [];
  for (const raw of log.split('\n')) {
    const line = timestamped(raw.replace(/\r$/, ''));
    const f = line?.text.match(/"([^"]*)"/g)?.map((s) => s.slice(1, -1));
    if (!line || !f || f.length < 8 || f[0] === 'test') continue;
    const [rps, , , p50, , p99] = f.slice(1).map(Number);
    if ([rps, p50, p99].every(Number.isFinite) && rps > 0) out.push({ atMs: line.atMs, rps, p50Ms: p50, p99Ms: p99 });
  }
  return out;
}

/** Batches that lie inside the window (a batch began REDIS_BATCH / rps seconds before its line). */
export function redisWindow(batches: RedisBatch[], window: Window, toleranceMs = 150): { p99Ms: number; p50Ms: number; opsPerSec: number; batches: number } | null {
  const inside = batches.filter((b) => b.atMs - (REDIS_BATCH / b.rps) * 1000 >= window.startMs - toleranceMs && b.atMs <= window.endMs + toleranceMs);
  if (!inside.length) return null;
  const mean = (f: (b: RedisBatch) => number) => inside.reduce((a, b) => a + f(b), 0) / inside.length;
  // Equal batches: the mean of their p99s; requests/s = requests / the time the batches took.
  const seconds = inside.reduce((a, b) => a + REDIS_BATCH / b.rps, 0);
  return { p99Ms: mean((b) => b.p99Ms), p50Ms: mean((b) => b.p50Ms), opsPerSec: (inside.length * REDIS_BATCH) / seconds, batches: inside.length };
}

export const redis = {
  kind: 'redis',
  description: 'redis-server GETs driven by redis-benchmark from the peer cores (latency victim: p99)',
  packages: ['redis-server', 'redis-tools'],
  victim: {
    plan: (ctx) => [
      { name: 'victim', shape: 'victim', argv: redisServerArgv(), program: 'redis-server', readyLine: 'Ready to accept connections' },
      { name: 'victim-load', shape: 'peer', argv: redisBenchmarkArgv(ctx.victimIp, ctx.runS + 5), program: 'redis-benchmark' },
    ],
    metrics: [
      { metric: 'victim_p99_latency_ms', unit: 'ms', higherIsBetter: false },
      { metric: 'victim_p50_latency_ms', unit: 'ms', higherIsBetter: false },
      { metric: 'victim_ops_per_sec', unit: 'ops/s', higherIsBetter: true },
    ],
    collect(container: string, log: string, window: Window): WorkloadSample[] | null {
      if (container !== 'victim-load') return [];
      const w = redisWindow(parseRedisBatches(log), window);
      if (!w) return null;
      const labels = { container: 'victim' };
      return [
        { metric: 'victim_p99_latency_ms', value: w.p99Ms, unit: 'ms', labels },
        { metric: 'victim_p50_latency_ms', value: w.p50Ms, unit: 'ms', labels },
        { metric: 'victim_ops_per_sec', value: w.opsPerSec, unit: 'ops/s', labels },
      ];
    },
  },
  sim: { refusal: 'the simulated kernel models sysbench victims only (no request/response server model for redis)' },
} satisfies Workload<'redis'>;
