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
    runId: `r${++seq}`,
    scenarioId: 'tcp-receiver rateGbps=9',
    workload: 'tcp-receiver',
    params: { rateGbps: 9, flows: 1 },
    enforcement: 'none',
    repetition: 0,
    status: 'done',
    victimCore: 0,
    samples,
    ...rest,
  };
}
const control = (events: number, over: Parameters<typeof run>[0] = {}) =>
  run({ scenarioId: 'sysbench', workload: 'sysbench', params: {}, events, ...over });

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
    const stat = (theta: number) => Math.abs(x.mean - theta * y.mean) / Math.sqrt(x.sd ** 2 / x.n + (theta ** 2 * y.sd ** 2) / y.n);
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
      control(100),
      control(102),
      control(98),
      run({ events: 50, share: 0.5, times: { victim: 0.2, ksoftirqd: 0.5, idle: 0.3 } }),
      run({ events: 51, share: 0.6, times: { victim: 0.3, ksoftirqd: 0.6, idle: 0.1 } }),
      run({ events: 49, share: 0.4, times: { victim: 0.1, ksoftirqd: 0.4, idle: 0.5 } }),
      control(200, { enforcement: 'iron-kernel' }),
      control(200, { enforcement: 'iron-kernel' }),
      run({ events: 190, enforcement: 'iron-kernel' }),
      run({ events: 210, enforcement: 'iron-kernel' }),
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
    expect(none.timeBreakdown).toEqual({
      victim: expect.closeTo(0.2, 12),
      neighbours: 0,
      softirq_task: 0,
      ksoftirqd: expect.closeTo(0.5, 12),
      idle: expect.closeTo(0.3, 12),
      other: 0,
    });
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

describe('controls, hosts and designs', () => {
  it("divides by the control with the scenario's own run settings, not any sysbench run", () => {
    // a labelled control with a 100 ms quota (150 events/s) beside the 50 ms control (100) and a 50 ms scenario (50)
    const q50 = 'n1 1 5 50000/100000/0',
      q100 = 'n1 1 5 100000/100000/0';
    const records = [
      control(100, { settingsKey: q50 }),
      control(100, { settingsKey: q50 }),
      control(150, { scenarioId: 'sysbench [q100]', settingsKey: q100 }),
      control(150, { scenarioId: 'sysbench [q100]', settingsKey: q100 }),
      run({ events: 50, settingsKey: q50 }),
      run({ events: 50, settingsKey: q50 }),
    ];
    const [s] = summarizePenalties(records);
    expect(s.penalty.mean).toBe(2);
    expect(s.controlScenarioId).toBe('sysbench');
    expect(s.control?.n).toBe(2);
  });

  it('never pools runs of different server hosts into one ratio', () => {
    // host h1: control 100, scenario 50 (2.0); host h2: control 200, scenario 50 (4.0). Pooled it would read 3.0.
    const records = [
      control(100, { stratum: 'h1' }),
      control(102, { stratum: 'h1' }),
      run({ events: 50, stratum: 'h1' }),
      run({ events: 51, stratum: 'h1' }),
      control(200, { stratum: 'h2' }),
      control(204, { stratum: 'h2' }),
      run({ events: 50, stratum: 'h2' }),
      run({ events: 51, stratum: 'h2' }),
      run({ events: 0, status: 'failed', stratum: 'h2' }),
    ];
    const rows = summarizePenalties(records).sort((a, b) => (a.stratum! < b.stratum! ? -1 : 1));
    expect(rows.map((s) => [s.stratum, s.penalty.mean?.toFixed(2), s.penalty.n])).toEqual([
      ['h1', '2.00', 2],
      ['h2', '4.00', 2],
    ]);
    expect(rows.map((s) => s.notDone)).toEqual([1, 1]);
  });

  it('blocked design: penalty and interval from the within-block ratios, so drift between blocks cancels', () => {
    // the machine slows by 20% per block; within each block the ratio is exactly 2
    const drift = [1, 1.2, 0.8];
    const records = drift.flatMap((f, b) => [control(100 * f, { repetition: b }), run({ events: 50 * f, repetition: b })]);
    const [paired] = summarizePenalties(records, { design: 'blocked' });
    expect(paired.penalty).toMatchObject({ mean: expect.closeTo(2, 12), n: 3, df: 2, method: 'paired-log-t', level: 0.95 });
    expect(paired.penalty.ci95![1] - paired.penalty.ci95![0]).toBeLessThan(1e-9);
    // the same runs as an unpaired (shuffled) campaign: Fieller sees the drift as noise
    const [unpaired] = summarizePenalties(records);
    expect(unpaired.penalty.method).toBe('fieller');
    expect(unpaired.penalty.ci95![1] - unpaired.penalty.ci95![0]).toBeGreaterThan(0.5);
  });

  it('blocked design: a t interval on the log ratios (df = blocks - 1), back-transformed', () => {
    const ratios = [2, 2.2, 1.8];
    const records = ratios.flatMap((r, b) => [control(100, { repetition: b }), run({ events: 100 / r, repetition: b })]);
    // an interference run without a control in its block is left out of the pairs, and said so
    records.push(run({ events: 40, repetition: 7 }));
    const [s] = summarizePenalties(records, { design: 'blocked' });
    const d = ratios.map(Math.log);
    const m = d.reduce((a, b) => a + b) / 3;
    const sd = Math.sqrt(d.reduce((a, x) => a + (x - m) ** 2, 0) / 2);
    const T_975_DF2 = 4.302652729911275;
    expect(s.penalty.mean).toBeCloseTo(Math.exp(m), 12);
    expect(s.penalty.ci95![0]).toBeCloseTo(Math.exp(m - (T_975_DF2 * sd) / Math.sqrt(3)), 9);
    expect(s.penalty.ci95![1]).toBeCloseTo(Math.exp(m + (T_975_DF2 * sd) / Math.sqrt(3)), 9);
    expect(s.penalty.n).toBe(3);
    expect(s.penalty.note).toBe('1 run without a control in its block, left out');
    expect(s.bootstrap?.ci[0]).toBeGreaterThanOrEqual(1.8);
  });

  it('adaptive stopping: with L possible looks every interval is made at 1 - 0.05/L (Bonferroni)', () => {
    const records = [control(100), control(104), control(96), run({ events: 50 }), run({ events: 52 }), run({ events: 48 })];
    const [plain] = summarizePenalties(records);
    const [corrected] = summarizePenalties(records, { looks: 5 });
    expect(corrected.penalty.level).toBeCloseTo(0.99, 12);
    expect(corrected.penalty.ci95![0]).toBeLessThan(plain.penalty.ci95![0]);
    expect(corrected.penalty.ci95![1]).toBeGreaterThan(plain.penalty.ci95![1]);
    expect(corrected.penalty.ci95).toEqual(ratioOfMeans({ mean: 100, sd: 4, n: 3 }, { mean: 50, sd: 2, n: 3 }, 0.99).ci95);
  });

  it('counts runs kept out of guard and attempts a guard repeated, and reports the spread of run conditions', () => {
    const cond = (achieved: number, steal: number): Sample[] => [
      sample('window_s', 5, 's'),
      sample('offered_gbps', 1, 'Gbit/s', { container: 'neighbour-0' }),
      sample('achieved_gbps', achieved, 'Gbit/s', { container: 'neighbour-0', source: 'nic' }),
      sample('achieved_gbps', achieved + 0.01, 'Gbit/s', { container: 'neighbour-0', source: 'iperf3' }),
      sample('steal_time_s', steal, 's', { core: '0' }),
      sample('steal_time_s', 4, 's', { core: '1' }), // not the victim's core
      sample('foreign_cpu_time_s', 0.05, 's', { core: '0', who: 'dockerd' }),
      sample('foreign_cpu_time_s', 0.1, 's', { core: '0', who: 'agent' }),
      sample('softirq_count', 5000, 'count', { core: '0', vec: 'NET_RX' }),
    ];
    const withCond = (events: number, achieved: number, steal: number, over: Partial<RunRecord> = {}) => {
      const r = run({ events, ...over });
      r.samples.push(...cond(achieved, steal));
      return r;
    };
    const records = [
      control(100),
      control(100),
      withCond(50, 0.99, 0, { guardRepeats: ['steal 12% on core 0'] }),
      withCond(50, 0.84, 0.5, { guardReason: 'steal 10% on core 0' }),
    ];
    const [s] = summarizePenalties(records);
    expect(s.penalty.n).toBe(2); // the run kept out of guard counts, marked
    expect(s.interference?.guards).toEqual({ repeated: 1, kept: 1, reasons: ['steal 12% on core 0', 'steal 10% on core 0'] });
    const c = s.interference!.conditions;
    expect([c.achievedGbps?.min, c.achievedGbps?.max]).toEqual([0.85, 1.0]); // iperf3's own report first
    expect([c.stealShare?.min, c.stealShare?.max]).toEqual([0, 0.1]);
    expect(c.foreignCpuShare?.max).toBeCloseTo(0.03, 12);
    expect(Object.keys(c.foreignCpuByWho)).toEqual(['agent', 'dockerd']);
    expect(c.softirqPerSec?.mean).toBe(1000);
    expect(s.control?.conditions.stealShare).toBeNull(); // not reported: not made up
    expect(s.conditionNotes).toEqual([
      'interference: steal up to 10% of a victim core',
      'interference: achieved load down to 85% of the offered rate',
    ]);
  });

  it("says how far a flood's softirq time alone could move the penalty (the ceiling), and when a penalty goes beyond it", () => {
    // 3 s windows on core 0: the victim ran 1.5 s (its 50% quota) in the control; the flood's softirq took 0.19 s
    // of the core (0.18 in task context, 0.01 in ksoftirqd): had the victim paid for all of it, 1.5 / 1.31 = 1.145.
    const ctlTimes = { victim: 1.5, neighbours: 1.4, softirq_task: 0, ksoftirqd: 0, idle: 0.1, other: 0 };
    const intTimes = { victim: 1.4, neighbours: 0.3, softirq_task: 0.18, ksoftirqd: 0.01, idle: 1.11, other: 0 };
    const light = (enforcement: 'none' | 'ebpf', ratio: number) =>
      summarizePenalties(
        [0, 1, 2].flatMap((b) => [
          control(100 + b, { repetition: b, enforcement, times: ctlTimes }),
          run({ events: (100 + b) / ratio, repetition: b, enforcement, times: intTimes }),
        ]),
        { design: 'blocked' },
      )[0];
    const none = light('none', 1.06);
    expect(none.softirqCeiling).toBeCloseTo(1.5 / 1.31, 12);
    expect(none.conditionNotes).toEqual([
      'a light flood: network softirq took 6.3% of the victim core and the victim ran 50% of it in the control, so even had it paid for all of it the penalty would be 1.15',
    ]);
    // an enforcement mode is not asked why its penalty is small
    expect(light('ebpf', 1.02).conditionNotes).toEqual([]);
    // a penalty whose interval lies above the ceiling: the victim lost time to something else
    const beyond = light('none', 1.5);
    expect(beyond.penalty.ci95![0]).toBeGreaterThan(1.2);
    expect(beyond.conditionNotes).toEqual([
      "the victim lost more than its core's softirq time explains (network softirq took 6.3% of the victim core and the victim ran 50% of it in the control: at most 1.15 had it paid for all of it): contention with ksoftirqd or the neighbours, or costs its counters do not see",
    ]);
    // no core times (a backend that does not report them): no ceiling, no note
    expect(summarizePenalties([control(100), run({ events: 50 })])[0].softirqCeiling).toBeNull();
  });
});
