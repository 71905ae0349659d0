// The sockperf ping-pong neighbour on a real engine: the server in the neighbour's container, the client on the
// peer's core, its transactions/s reported, its load there from the window's start; the sysbench victim beside it;
// nothing left behind.
import { beforeAll, describe, expect, it } from 'vitest';
import type { DockerBackend } from '../../agents/backends/docker-backend.ts';
import { METRIC, sumOf } from '../../agents/samples.ts';
import { testRun } from '../fakes/fake-backend.ts';
import { containersLeft, measureOnce, reapedBackend } from './helpers/one-run.ts';
import { dockerReadiness } from './helpers/ready.ts';

const { ready } = await dockerReadiness();
const hostId = 'docker-test-sockperf';

describe.skipIf(!ready)('sockperf ping-pong neighbour (real engine)', () => {
  let backend: DockerBackend;
  beforeAll(async () => {
    backend = await reapedBackend(hostId);
  });

  it('makes many small round trips per second beside a sysbench victim', { timeout: 90_000 }, async () => {
    const run = testRun({
      runId: 'sockperf-1',
      workload: 'sockperf-pingpong',
      params: { flows: 1, messageBytes: 64 },
      warmupS: 1,
      durationS: 2,
    });
    const { samples } = await measureOnce(backend, run);
    expect(sumOf(samples, 'neighbour_transactions_per_sec', { container: 'neighbour-0' })).toBeGreaterThan(1000);
    expect(sumOf(samples, METRIC.victimEventsPerSec)).toBeGreaterThan(0);
    // sockperf sends nothing for 2 s after it starts: the warm-up waited for its load, so the window had it throughout
    // (before, its 1 s warm-up counted from the start and the load came ~1 s into the 2 s window)
    expect(backend.phaseTimes.of('sockperf-1')['warmup.load']).toBeGreaterThan(1500);
    await backend.reap(); // the campaign's containers outlive its runs (container-pool.ts)
    expect(await containersLeft(hostId)).toEqual([]);
  });
});
