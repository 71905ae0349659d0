// The redis latency victim on a real engine: redis-server in the victim's container, the driver on the
// peer's core, p99, requests/s and the completed count cut to the window; nothing left behind.
import { beforeAll, describe, expect, it } from 'vitest';
import type { DockerBackend } from '../../agents/backends/docker-backend.ts';
import { sumOf } from '../../agents/samples.ts';
import { testRun } from '../fakes/fake-backend.ts';
import { containersLeft, measureOnce, reapedBackend } from './helpers/one-run.ts';
import { dockerReadiness } from './helpers/ready.ts';

const { ready } = await dockerReadiness();
const hostId = 'docker-test-redis';

describe.skipIf(!ready)('redis victim (real engine)', () => {
  let backend: DockerBackend;
  beforeAll(async () => {
    backend = await reapedBackend(hostId);
  });

  it('reports p99 latency and requests/s of the window beside a UDP receiver flood', { timeout: 90_000 }, async () => {
    const run = testRun({
      runId: 'redis-1',
      workload: 'udp-receiver',
      params: { rateGbps: 0.2, flows: 1, messageBytes: 1470 },
      warmupS: 1,
      durationS: 2,
      victim: { quotaUs: 50000, periodUs: 100000, cpus: [0], workload: 'redis' },
    });
    const { samples, provenance } = await measureOnce(backend, run);
    expect(provenance.victimWorkload).toBe('redis');
    const p99 = sumOf(samples, 'victim_p99_latency_ms');
    const ops = sumOf(samples, 'victim_ops_per_sec');
    expect(p99).toBeGreaterThan(0.01);
    expect(p99).toBeLessThan(1000);
    expect(ops).toBeGreaterThan(100);
    expect(sumOf(samples, 'victim_p50_latency_ms')).toBeLessThanOrEqual(p99);
    // requests/s is the completed count over the window (2 s, up to half a tick beyond each edge)
    const completed = sumOf(samples, 'victim_completed_requests');
    expect(completed / ops).toBeGreaterThan(1.8);
    expect(completed / ops).toBeLessThan(2.2);
    await backend.reap(); // the campaign's containers outlive its runs (container-pool.ts)
    expect(await containersLeft(hostId)).toEqual([]);
  });
});
