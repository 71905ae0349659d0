// The sockperf ping-pong neighbour on a real engine: the server in the neighbour's container, the client on the
// peer's core, its transactions/s reported; the sysbench victim beside it; nothing left behind.
import Docker from 'dockerode';
import { beforeAll, describe, expect, it } from 'vitest';
import { DockerBackend } from '../../agents/backends/docker-backend.ts';
import { METRIC, sumOf } from '../../agents/samples.ts';
import { testRun } from '../fakes/fake-backend.ts';
import { dockerReadiness } from './helpers/ready.ts';

const { ready } = await dockerReadiness();
const hostId = 'docker-test-sockperf';
const never = new AbortController().signal;

describe.skipIf(!ready)('sockperf ping-pong neighbour (real engine)', () => {
  let backend: DockerBackend;
  beforeAll(async () => {
    backend = new DockerBackend({ hostId });
    await backend.reap();
  });

  it('makes many small round trips per second beside a sysbench victim', { timeout: 90_000 }, async () => {
    const run = testRun({ runId: 'sockperf-1', workload: 'sockperf-pingpong', params: { flows: 1, messageBytes: 64 }, warmupS: 1, durationS: 2 });
    await backend.setup(run, never);
    try {
      await backend.warmup(run.runId, never, () => {});
      await backend.measure(run.runId, never, () => {});
      const { samples } = await backend.collect(run.runId);
      expect(sumOf(samples, 'neighbour_transactions_per_sec', { container: 'neighbour-0' })).toBeGreaterThan(1000);
      expect(sumOf(samples, METRIC.victimEventsPerSec)).toBeGreaterThan(0);
    } finally {
      await backend.teardown(run.runId);
    }
    await backend.reap(); // the campaign's containers outlive its runs (container-pool.ts)
    const left = await new Docker().listContainers({ all: true, filters: { label: [`ironlab.host=${hostId}`] } });
    expect(left).toEqual([]);
  });
});
