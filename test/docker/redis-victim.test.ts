// The redis latency victim on a real engine: redis-server in the victim's container, redis-benchmark on the
// peer's core, p99 and requests/s cut to the window; nothing left behind.
import Docker from 'dockerode';
import { beforeAll, describe, expect, it } from 'vitest';
import { DockerBackend } from '../../agents/backends/docker-backend.ts';
import { sumOf } from '../../agents/samples.ts';
import { testRun } from '../fakes/fake-backend.ts';
import { dockerReadiness } from './helpers/ready.ts';

const { ready } = await dockerReadiness();
const hostId = 'docker-test-redis';
const never = new AbortController().signal;

describe.skipIf(!ready)('redis victim (real engine)', () => {
  let backend: DockerBackend;
  beforeAll(async () => {
    backend = new DockerBackend({ hostId });
    await backend.reap();
  });

  it('reports p99 latency and requests/s of the window beside a UDP receiver flood', { timeout: 90_000 }, async () => {
    const run = testRun({ runId: 'redis-1', workload: 'udp-receiver', params: { rateGbps: 0.2, flows: 1, messageBytes: 1470 }, warmupS: 1, durationS: 2, victim: { quotaUs: 50000, periodUs: 100000, cpus: [0], workload: 'redis' } });
    await backend.setup(run, never);
    try {
      await backend.warmup(run.runId, never, () => {});
      await backend.measure(run.runId, never, () => {});
      const { samples, provenance } = await backend.collect(run.runId);
      expect(provenance.victimWorkload).toBe('redis');
      const p99 = sumOf(samples, 'victim_p99_latency_ms');
      const ops = sumOf(samples, 'victim_ops_per_sec');
      expect(p99).toBeGreaterThan(0.01);
      expect(p99).toBeLessThan(1000);
      expect(ops).toBeGreaterThan(100);
      expect(sumOf(samples, 'victim_p50_latency_ms')).toBeLessThanOrEqual(p99);
    } finally {
      await backend.teardown(run.runId);
    }
    await backend.reap(); // the campaign's containers outlive its runs (container-pool.ts)
    const left = await new Docker().listContainers({ all: true, filters: { label: [`ironlab.host=${hostId}`] } });
    expect(left).toEqual([]);
  });
});
