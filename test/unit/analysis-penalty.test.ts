import { describe, expect, it } from 'vitest';
import { sample, type Sample } from '../../agents/samples.ts';
import { ratioOfMeans, summarizePenalties, type RunRecord } from '../../orchestrator/analysis/penalty.ts';

let seq = 0;
/** A run with a victim events/s sample and, optionally, ksoftirqd share and core times on core 0. */
function run(over: Partial<RunRecord> & { events?: number; share?: number; times?: Record<string, number> }): RunRecord {
  const samples: Sample[] = [];
  if (over.events !== undefined) samples.push(sample('victim_events_per_sec', over.events, 'events/s', { container: 'victim' }));
  if (over.share !== undefined) {
    samples.push(sample('ksoftirqd_share', over.share, 'ratio', { core: '0' }));
    samples.push(sample('ksoftirqd_share', 0.99, 'ratio', { core: '1' })); // another core: must not count
  }
  for (const [category, s] of Object.entries(over.times ?? {})) samples.push(sample('core_time_s', s, 's', { core: '0', category }));
  const { events: _e, share: _s, times: _t, ...rest } = over;
  return {
    runId: `r${++seq}`, scenarioId: 'tcp-receiver rateGbps=9', workload: 'tcp-receiver', params: { rateGbps: 9, flows: 1 },
    enforcement: 'none', repetition: 0, status: 'done', victimCore: 0, samples, ...rest,
  };
}
const control = (events: number, over: Partial<RunRecord> = {}) => run({ scenarioId: 'sysbench', workload: 'sysbench', params: {}, events, ...over });

describe('ratioOfMeans (Fieller, Welch df)', () => {
  // control 100, 102, 98 (mean 100, sd 2); interference 50, 51, 49 (mean 50, sd 1).
  // Equal relative standard errors and n = 3 in both arms: Welch-Satterthwaite df = 4 exactly.
  const x = { mean: 100, sd: 2, n: 3 };
  const y = { mean: 50, sd: 1, n: 3 };
  const T_975_DF4 = 2.7764451052; // Student t table, two-sided 95%, 4 df

  it('gives the ratio of means, df 4, and the Fieller interval', () => {
    const r = ratioOfMeans(x, y);
    expect(r.mean).toBe(2);
    expect(r.df).toBeCloseTo(4, 12);
    expect(r.ci95?.[0]).toBeCloseTo(1.91131, 5);
    expect(r.ci95?.[1]).toBeCloseTo(2.09281, 5);
  });

  it('bounds are where the Fieller statistic |x - θy| / sqrt(vx + θ² vy) equals t', () => {
    const [lo, hi] = ratioOfMeans(x, y).ci95!;
    const stat = (theta: number) => Math.abs(x.mean - theta * y.mean) / Math.sqrt((x.sd ** 2) / x.n + theta ** 2 * (y.sd ** 2) / y.n);
    expect(stat(lo)).toBeCloseTo(T_975_DF4, 8);
    expect(stat(hi)).toBeCloseTo(T_975_DF4, 8);
    expect(stat(2)).toBe(0);
    // asymmetric: a ratio's interval reaches further up than down
    expect(hi - 2).toBeGreaterThan(2 - lo);
  });

  it('has no interval with one repetition in an arm', () => {
    const r = ratioOfMeans({ mean: 100, sd: null, n: 1 }, y);
    expect(r).toMatchObject({ mean: 2, ci95: null, df: null });
    expect(r.note).toMatch(/1 repetition/);
  });

  it('has no interval when the denominator is not distinguishable from zero', () => {
    expect(ratioOfMeans(x, { mean: 1, sd: 10, n: 2 }).ci95).toBeNull();
  });
});

describe('summarizePenalties', () => {
  it('computes each scenario against the control with the same enforcement', () => {
    const records = [
      control(100), control(102), control(98),
      run({ events: 50, share: 0.5, times: { victim: 0.2, ksoftirqd: 0.5, idle: 0.3 } }),
      run({ events: 51, share: 0.6, times: { victim: 0.3, ksoftirqd: 0.6, idle: 0.1 } }),
      run({ events: 49, share: 0.4, times: { victim: 0.1, ksoftirqd: 0.4, idle: 0.5 } }),
      control(200, { enforcement: 'iron-kernel' }), control(200, { enforcement: 'iron-kernel' }),
      run({ events: 190, enforcement: 'iron-kernel' }), run({ events: 210, enforcement: 'iron-kernel' }),
      run({ events: 5, status: 'failed' }),
    ];
    const summaries = summarizePenalties(records);
    expect(summaries.map((s) => [s.scenarioId, s.enforcement])).toEqual([
      ['tcp-receiver rateGbps=9', 'none'],
      ['tcp-receiver rateGbps=9', 'iron-kernel'],
    ]);
    const [none, iron] = summaries;
    expect(none.penalty.mean).toBe(2);
    expect(none.penalty.n).toBe(3);
    expect(none.penalty.ci95?.[0]).toBeCloseTo(1.91131, 5);
    expect(none.penalty.ci95?.[1]).toBeCloseTo(2.09281, 5);
    expect(none.victim).toEqual({ controlEventsPerSec: 100, interferenceEventsPerSec: 50 });
    expect(none.ksoftirqdShare).toBeCloseTo(0.5, 12);
    expect(none.cv.control).toBeCloseTo(0.02, 12);
    expect(none.cv.interference).toBeCloseTo(0.02, 12);
    expect(none.timeBreakdown).toEqual({ victim: expect.closeTo(0.2, 12), neighbours: 0, softirq_task: 0, ksoftirqd: expect.closeTo(0.5, 12), idle: expect.closeTo(0.3, 12), other: 0 });
    expect(none.notDone).toBe(1);
    expect(none.control?.n).toBe(3);

    expect(iron.penalty.mean).toBe(1);
    expect(iron.penalty.n).toBe(2);
    expect(iron.penalty.ci95).not.toBeNull();
    expect(iron.ksoftirqdShare).toBeNull();
    expect(iron.timeBreakdown).toBeNull();
  });

  it('says why there is no penalty without a control, and no CI with n = 1', () => {
    const [s] = summarizePenalties([run({ events: 50, enforcement: 'ebpf' })]);
    expect(s.penalty).toMatchObject({ mean: null, ci95: null, n: 1 });
    expect(s.penalty.note).toMatch(/no completed sysbench control run with enforcement ebpf/);

    const [t] = summarizePenalties([control(100), control(104), run({ events: 50 })]);
    expect(t.penalty).toMatchObject({ mean: 2.04, ci95: null, n: 1 });
  });

  it('reads the victim core from the run record', () => {
    const r = run({ events: 50, victimCore: 1, share: 0.1 });
    const [s] = summarizePenalties([control(100), r]);
    expect(s.ksoftirqdShare).toBe(0.99);
  });
});
