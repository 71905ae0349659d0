// The workload registry and the two workloads added as modules (redis victim, sockperf ping-pong neighbour):
// what the image installs, what the containers run and where, how their output becomes samples, the campaign
// file's victim workload, the penalty's direction for a latency victim, and the simulator's refusal.
import { describe, expect, it } from 'vitest';
import { controlOf, IMAGE_PACKAGES, NEIGHBOUR_KINDS, primaryMetricOf, simRefusal, VICTIM_KINDS } from '../../workloads/registry.ts';
import { RECIPE, imageTag } from '../../workloads/image.ts';
import { parseRedisTicks, quantileMs, redisDriverArgv, redisWindow } from '../../workloads/redis.ts';
import { parseSockperfSummary, sockperfClientArgv } from '../../workloads/sockperf.ts';
import { plan } from '../../agents/backends/docker-backend.ts';
import { bridgeAddresses } from '../../agents/docker/traffic-network.ts';
import { SimBackend } from '../../agents/backends/sim-backend.ts';
import { parseCampaign } from '../../orchestrator/campaign/spec.ts';
import { expandCells } from '../../orchestrator/campaign/matrix.ts';
import { summarizePenalties, type RunRecord } from '../../orchestrator/analysis/penalty.ts';
import { reportTable } from '../../orchestrator/report/table.ts';
import { testRun } from '../fakes/fake-backend.ts';

describe('the workload registry', () => {
  it("lists victims and neighbours, and the image installs every workload's packages", () => {
    expect(VICTIM_KINDS).toEqual(['sysbench', 'redis']);
    expect(NEIGHBOUR_KINDS).toEqual(['sysbench', 'udp-sender', 'udp-receiver', 'tcp-sender', 'tcp-receiver', 'sockperf-pingpong', 'idle']);
    expect(IMAGE_PACKAGES).toEqual(['iperf3', 'perl', 'redis-server', 'sockperf', 'sysbench']);
    expect(RECIPE.packages).toBe(IMAGE_PACKAGES);
    // the tag is the recipe's hash: a new workload's packages make a new image
    expect(imageTag({ ...RECIPE, packages: ['iperf3', 'sysbench'] })).not.toBe(imageTag());
  });

  it('gives each victim its primary metric and direction', () => {
    expect(primaryMetricOf()).toEqual({ metric: 'victim_events_per_sec', unit: 'events/s', higherIsBetter: true });
    expect(primaryMetricOf('redis')).toEqual({ metric: 'victim_p99_latency_ms', unit: 'ms', higherIsBetter: false });
  });

  it('names the workloads the simulated kernel does not model', async () => {
    expect(simRefusal(['sysbench', 'udp-receiver'])).toBeNull();
    expect(simRefusal(['redis'])).toMatch(/workload 'redis' cannot run on a simulated host/);
    const sim = new SimBackend({ hostId: 'sim-1' });
    await expect(
      sim.setup(testRun({ workload: 'sockperf-pingpong', params: { flows: 1, messageBytes: 64 } }), new AbortController().signal),
    ).rejects.toThrow(/workload 'sockperf-pingpong' cannot run on a simulated host/);
    await expect(
      sim.setup(testRun({ victim: { quotaUs: 50000, periodUs: 100000, cpus: [0], workload: 'redis' } }), new AbortController().signal),
    ).rejects.toThrow(/workload 'redis'/);
  });
});

describe('redis victim', () => {
  // The driver's ticks as `docker logs --timestamps` shows them: from, to (ms since the epoch), completed, buckets.
  const at = (iso: string) => Date.parse(iso);
  const tick = (from: string, to: string, completed: number, buckets: string) =>
    `${to} rtt ${at(from)}.000 ${at(to)}.250 ${completed} ${buckets}`;
  const log = [
    tick('2026-11-30T20:00:00.800Z', '2026-11-30T20:00:00.900Z', 500, '300:500'), // before the window
    tick('2026-11-30T20:00:01.000Z', '2026-11-30T20:00:01.100Z', 1000, '300:990,400:10'),
    tick('2026-11-30T20:00:01.100Z', '2026-11-30T20:00:01.200Z', 0, ''), // nothing completed in this tick: still counted as time
    tick('2026-11-30T20:00:01.200Z', '2026-11-30T20:00:01.300Z', 1000, '320:980,480:20'),
    tick('2026-11-30T20:00:09.000Z', '2026-11-30T20:00:09.100Z', 700, '300:700'), // after
  ].join('\n');

  it('reports by time: p99, p50 and requests/s of the requests that completed in the window, and their count', () => {
    const ticks = parseRedisTicks(log);
    expect(ticks.map((t) => t.completed)).toEqual([500, 1000, 0, 1000, 700]);
    const w = redisWindow(ticks, { startMs: at('2026-11-30T20:00:01Z'), endMs: at('2026-11-30T20:00:01.300Z') })!;
    expect(w.completed).toBe(2000);
    expect(w.opsPerSec).toBeCloseTo(2000 / 0.30075, 0); // over the three ticks' time, the empty one included
    // 2000 requests in buckets 300 (990), 320 (980), 400 (10), 480 (20): the 1980th is the last of bucket 400,
    // so p99 is 2^(400.5/32) us; the 1000th lies in bucket 320
    expect(w.p99Ms).toBeCloseTo(2 ** (400.5 / 32) / 1000, 6);
    expect(w.p50Ms).toBeCloseTo(2 ** (320.5 / 32) / 1000, 6);
    expect(
      quantileMs(
        new Map([
          [300, 98],
          [480, 2],
        ]),
        0.99,
      ),
    ).toBeCloseTo(2 ** (480.5 / 32) / 1000, 6);
    // a window no tick lies in, or one where nothing completed: no result
    expect(redisWindow(ticks, { startMs: at('2026-11-30T20:00:03Z'), endMs: at('2026-11-30T20:00:04Z') })).toBeNull();
    expect(redisWindow(ticks, { startMs: at('2026-11-30T20:00:01.100Z'), endMs: at('2026-11-30T20:00:01.200Z') })).toBeNull();
  });

  it("runs redis-server on the victim's shape and its load generator on the peer cores, bounded, link-local", () => {
    const run = testRun({
      victim: { quotaUs: 50000, periodUs: 100000, cpus: [0], workload: 'redis' },
      neighbours: 1,
      warmupS: 1,
      durationS: 3,
    });
    const p = plan(run, bridgeAddresses('169.254.7.'));
    expect(p.map((c) => `${c.name} ${c.shape} ${c.spec.ip} ${c.spec.cpus} ${c.spec.quotaUs ?? '-'} ${c.program}`)).toEqual([
      'victim victim 169.254.7.2 0 50000 redis-server',
      'victim-load peer 169.254.7.101 1 - redis-driver',
      'neighbour-0 neighbour 169.254.7.10 0 50000 sysbench',
    ]);
    // the driver runs until the agent stops it at the window's end, bounded by the latest that can be (1 + 3 +
    // 2 x 60 s = 124 s); timeout is its backstop should the driver hang
    expect(p[1].stopAtWindowEnd).toBe(true);
    expect(p[1].spec.argv.slice(0, 4)).toEqual(['timeout', '129', 'perl', '-e']);
    expect(p[1].spec.argv.slice(5)).toEqual(['169.254.7.2', '6379', '4', '124', '100', '64', '32']);
    expect(() => redisDriverArgv('10.0.0.1', 5)).toThrow(/non-link-local/);
  });

  it('is named in the campaign file, checked with line:col, and its penalty is p99 with neighbours / p99 with the idle control', () => {
    const text = (victim: string, backend = 'docker', control = 'sysbench') =>
      `name: t\nhosts: [{ id: h, backend: ${backend} }]\ndefaults:\n  victim: { workload: ${victim} }\nmatrix:\n  - workload: ${control}\n  - workload: sockperf-pingpong\n`;
    expect(controlOf('redis')).toBe('idle');
    expect(controlOf()).toBe('sysbench');
    const cells = expandCells(parseCampaign(text('redis', 'docker', 'idle')).spec);
    expect(cells.map((c) => c.scenarioId)).toEqual(['redis: idle', 'redis: sockperf-pingpong']);
    // a latency victim's control is the idle neighbour: a file without one is refused, naming it
    expect(() => parseCampaign(text('redis'))).toThrow(
      /campaign.yaml:\d+:\d+: matrix: no idle entry: penalties of the redis victim need the idle-neighbour control/,
    );
    expect(() => parseCampaign(text('memcached'))).toThrow(/campaign.yaml:4:\d+.*expected one of sysbench, redis/);
    expect(() => parseCampaign(text('redis', 'sim'))).toThrow(/workload 'redis' cannot run on a simulated host/);
    // a file naming sysbench means what one without a victim workload does
    expect(parseCampaign(text('sysbench')).hash).toBe(
      parseCampaign(text('sysbench').replace('  victim: { workload: sysbench }\n', '  victim: {}\n')).hash,
    );

    const rec = (runId: string, workload: RunRecord['workload'], repetition: number, p99: number): RunRecord => ({
      runId,
      scenarioId: workload,
      workload,
      params: {},
      enforcement: 'none',
      repetition,
      status: 'done',
      victimCore: 0,
      victimWorkload: 'redis',
      samples: [{ metric: 'victim_p99_latency_ms', value: p99, unit: 'ms', labels: { container: 'victim' } }],
    });
    const summaries = summarizePenalties(
      [
        rec('a', 'idle', 0, 0.5),
        rec('b', 'idle', 1, 0.5),
        rec('c', 'sockperf-pingpong', 0, 1.0),
        rec('d', 'sockperf-pingpong', 1, 1.5),
        rec('e', 'sysbench', 0, 20),
        rec('f', 'sysbench', 1, 30),
      ],
      { design: 'shuffled' },
    );
    const [s, cpu] = summaries;
    expect(s.victimMetric.higherIsBetter).toBe(false);
    expect(s.controlWorkload).toBe('idle');
    expect(s.penalty.mean).toBeCloseTo(2.5); // (1.0 + 1.5) / 2 over 0.5: slower under the neighbour, > 1
    // the CPU-bound neighbour is a scenario beside a latency victim, compared with the idle control too
    expect(cpu.scenarioId).toBe('sysbench');
    expect(cpu.penalty.mean).toBeCloseTo(50);
    // the table's footer names the victim's metric, its unit and its control
    expect(reportTable(summaries)).toContain(
      'penalty = victim p99 latency (ms) with these neighbours / with idle neighbours (lower is better, so > 1 = slower',
    );
    expect(reportTable(summaries)).not.toContain('events/s');
  });
});

describe('sockperf ping-pong neighbour', () => {
  it('answers in the neighbour, pings from the peer with small messages, and reports transactions/s', () => {
    const p = plan(
      testRun({ workload: 'sockperf-pingpong', params: { flows: 1 }, warmupS: 1, durationS: 3 }),
      bridgeAddresses('169.254.7.'),
    );
    expect(p.map((c) => `${c.name} ${c.shape} ${c.program} ${c.network}`)).toEqual([
      'victim victim sysbench false',
      'neighbour-0 neighbour sockperf-server true',
      'peer-0 peer sockperf-client true',
    ]);
    // bounded by warm-up + window + 3 s (its per-message record is sized by -t), stopped at the window's end
    expect(p[2].spec.argv).toEqual(sockperfClientArgv('169.254.7.10', 7, 64));
    expect(p[2].stopAtWindowEnd).toBe(true);
    expect(p[2].loadStartsLine).toBe('sockperf: Starting test'); // the warm-up counts from its load
    const out =
      'sockperf: ========= Printing statistics for Server No: 0\nsockperf: [Valid Duration] RunTime=4.000 sec; SentMessages=200000; ReceivedMessages=199996\n';
    expect(parseSockperfSummary(out)).toEqual({ transactionsPerSec: 49999, runTimeS: 4 });
    expect(p[2].collect!('peer-0', out, { startMs: 0, endMs: 1 })).toEqual([
      { metric: 'neighbour_transactions_per_sec', value: 49999, unit: 'transactions/s', labels: { container: 'neighbour-0' } },
    ]);
    expect(parseSockperfSummary('sockperf: Warmup stage')).toBeNull();
  });
});

describe('idle neighbour (a latency victim control)', () => {
  it('is one sleeping container on the neighbour shape, off the network, asleep through the window, that reports nothing', () => {
    const p = plan(
      testRun({ workload: 'idle', warmupS: 1, durationS: 3, victim: { quotaUs: 50000, periodUs: 100000, cpus: [0], workload: 'redis' } }),
      bridgeAddresses('169.254.7.'),
    );
    expect(p.map((c) => `${c.name} ${c.shape} ${c.program} ${c.network}`)).toEqual([
      'victim victim redis-server true',
      'victim-load peer redis-driver true',
      'neighbour-0 neighbour sleep false',
    ]);
    expect(p[2].spec.argv[0]).toBe('sleep');
    expect(p[2].spec.argv).toEqual(['sleep', '124']); // the latest the window can end
    expect(p[2].stopAtWindowEnd).toBe(true);
    expect(p[2].collect).toBeUndefined();
    expect(simRefusal(['idle'])).toMatch(/workload 'idle' cannot run on a simulated host/);
  });
});
