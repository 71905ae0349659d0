// The sim backend as the agent uses it: the op sequence gives the metrics, ops are idempotent, unknown runs
// fail clearly, aborts stop the simulation.
import { describe, expect, it } from 'vitest';
import { SimBackend } from '../../agents/backends/sim-backend.ts';
import { CORE_CATEGORIES, METRIC, sumOf } from '../../agents/samples.ts';
import { paperRunSpec } from '../../agents/sim/paper-defaults.ts';
import { simulateRun } from '../../agents/sim/simulate.ts';
import { FatalError, RetryableError } from '../../workloads/common/errors.ts';

const never = new AbortController().signal;
const noProgress = () => {};

describe('SimBackend', () => {
  it('facts and capabilities describe a simulated host with all three enforcement modes', async () => {
    const b = new SimBackend({ hostId: 'sim-a' });
    const f = await b.facts();
    expect(f).toMatchObject({ hostId: 'sim-a', backend: 'sim', cores: 2, nic: { speedMbps: 10000 } });
    expect((await b.capabilities()).map((c) => [c.mode, c.available])).toEqual([
      ['none', true],
      ['iron-kernel', true],
      ['ebpf', true],
    ]);
  });

  it('setup -> warmup -> measure -> collect -> teardown gives the metrics', async () => {
    const b = new SimBackend({ progressEveryMs: 0 }); // progress at every chunk: short phases report too
    const spec = paperRunSpec({
      workload: 'tcp-receiver',
      params: { rateGbps: 4 },
      enforcement: 'iron-kernel',
      warmupS: 0.2,
      durationS: 0.5,
      runId: 'r1',
    });
    await b.setup(spec, never);
    await b.setup(spec, never); // idempotent
    const phases: string[] = [];
    await b.warmup('r1', never, (p) => phases.push(p));
    await b.measure('r1', never, (p) => phases.push(p));
    await b.measure('r1', never, noProgress); // idempotent: no second window
    expect(phases).toContain('warmup');
    expect(phases).toContain('measure');
    const r = await b.collect('r1');
    const s = r.samples;
    expect(r.runId).toBe('r1');
    expect(sumOf(s, METRIC.windowS)).toBeCloseTo(0.5, 6);
    expect(sumOf(s, METRIC.victimEventsPerSec, { container: 'victim' })).toBeGreaterThan(100);
    expect(sumOf(s, METRIC.neighbourThroughputGbps, { container: 'neighbour-0' })).toBeGreaterThan(0.5);
    for (const core of ['0', '1'])
      for (const category of CORE_CATEGORIES)
        expect(s.some((x) => x.metric === METRIC.coreTimeS && x.labels.core === core && x.labels.category === category)).toBe(true);
    for (const metric of [
      METRIC.softirqTimeS,
      METRIC.ksoftirqdTimeS,
      METRIC.ksoftirqdShare,
      METRIC.cgroupUsageS,
      METRIC.cgroupNrPeriods,
      METRIC.cgroupNrThrottled,
      METRIC.cgroupThrottledTimeS,
      METRIC.packetsReceived,
      METRIC.packetsSent,
      METRIC.packetsDropped,
      METRIC.retransmits,
      METRIC.chargedTimeS,
      METRIC.creditedTimeS,
      METRIC.attributedSoftirqS,
    ]) {
      expect(
        s.some((x) => x.metric === metric),
        metric,
      ).toBe(true);
    }
    expect(s.find((x) => x.metric === METRIC.softirqTimeS && x.labels.vec === 'NET_TX')).toBeDefined();
    expect(s.find((x) => x.metric === METRIC.packetsDropped && x.labels.reason === 'nic_throttled')).toBeDefined();
    expect(sumOf(s, METRIC.packetsSent, { container: 'peer-0' })).toBeGreaterThan(0);
    expect(r.provenance).toMatchObject({ backend: 'sim', profile: 'paper', enforcement: 'iron-kernel', seed: spec.seed });
    await b.teardown('r1');
    await b.teardown('r1'); // twice is fine
    await expect(b.collect('r1')).rejects.toThrow(/unknown run 'r1'/);
  });

  it('vanilla runs report attribution but no charged/credited time', async () => {
    const b = new SimBackend();
    const spec = paperRunSpec({ workload: 'udp-receiver', params: { rateGbps: 2 }, warmupS: 0.1, durationS: 0.3, runId: 'v' });
    await b.setup(spec, never);
    await b.warmup('v', never, noProgress);
    await b.measure('v', never, noProgress);
    const s = (await b.collect('v')).samples;
    expect(sumOf(s, METRIC.attributedSoftirqS, { container: 'neighbour-0' })).toBeGreaterThan(0);
    expect(s.some((x) => x.metric === METRIC.chargedTimeS)).toBe(false);
  });

  it('results do not depend on how the backend chunks the simulation (same seed, same samples as simulateRun)', async () => {
    // A TCP peer still ramping its window in the window is the case most sensitive to where time is cut.
    const spec = paperRunSpec({
      workload: 'tcp-receiver',
      params: { rateGbps: 9, flows: 4 },
      enforcement: 'iron-kernel',
      warmupS: 0.05,
      durationS: 0.4,
      runId: 'c',
      seed: 9,
    });
    const direct = simulateRun(spec).samples;
    for (const yieldEveryMs of [0.01, 1000]) {
      const b = new SimBackend({ yieldEveryMs });
      await b.setup(spec, never);
      await b.warmup('c', never, noProgress);
      await b.measure('c', never, noProgress);
      expect((await b.collect('c')).samples).toEqual(direct);
    }
  });

  it('ops for unknown runIds fail with a clear error', async () => {
    const b = new SimBackend();
    await expect(b.warmup('nope', never, noProgress)).rejects.toThrow(FatalError);
    await expect(b.measure('nope', never, noProgress)).rejects.toThrow(/unknown run 'nope'/);
    await expect(b.collect('nope')).rejects.toThrow(/unknown run 'nope'/);
    await b.teardown('nope'); // teardown of nothing is fine
  });

  it('collect before measure and an invalid spec are refused', async () => {
    const b = new SimBackend();
    await b.setup(paperRunSpec({ workload: 'sysbench', runId: 'x' }), never);
    await expect(b.collect('x')).rejects.toThrow(/collect before measure/);
    await expect(
      b.setup({ ...paperRunSpec({ workload: 'sysbench', runId: 'y' }), victim: { quotaUs: 50000, periodUs: 100000, cpus: [5] } }, never),
    ).rejects.toThrow(/cpu 5 does not exist/);
    await expect(b.setup({ ...paperRunSpec({ workload: 'sysbench', runId: 'z' }), profile: 'nosuch' }, never)).rejects.toThrow(
      /unknown host profile/,
    );
  });

  it('an aborted measure stops with a retryable error, and reap removes runs by campaign', async () => {
    const b = new SimBackend();
    await b.setup(paperRunSpec({ workload: 'tcp-receiver', params: { rateGbps: 9 }, warmupS: 0, durationS: 60, runId: 'long' }), never);
    await b.warmup('long', never, noProgress);
    const ac = new AbortController();
    const p = b.measure('long', ac.signal, () => ac.abort('stop'));
    await expect(p).rejects.toThrow(RetryableError);
    await b.setup({ ...paperRunSpec({ workload: 'sysbench', runId: 'other' }), campaignId: 'c2' }, never);
    expect(await b.reap('sim')).toEqual(['sim-run:long']);
    expect(await b.reap()).toEqual(['sim-run:other']);
  });
});
