import { describe, expect, it } from 'vitest';
import { sample } from '../../agents/samples.ts';
import { summarizePenalties, type RunRecord } from '../../orchestrator/analysis/penalty.ts';
import {
  bootstrapRatioOfMeans,
  coefficientOfVariation,
  mulberry32,
  outlierIndices,
  quantileSorted,
  seedFor,
} from '../../orchestrator/analysis/statistics.ts';
import { ciHalfWidth, moreRepetitionsNeeded, repetitionPlan } from '../../orchestrator/analysis/adaptive.ts';
import { parseCampaign } from '../../orchestrator/campaign/spec.ts';
import { UserInputError } from '../../workloads/common/errors.ts';
import { minimalCampaign } from '../fixtures/campaigns/minimal.ts';

let seq = 0;
function run(
  scenarioId: string,
  workload: RunRecord['workload'],
  enforcement: RunRecord['enforcement'],
  events: number,
  status = 'done',
): RunRecord {
  return {
    runId: `r${++seq}`,
    scenarioId,
    workload,
    params: workload === 'sysbench' ? {} : { rateGbps: 9, flows: 1 },
    enforcement,
    repetition: seq,
    status,
    victimCore: 0,
    samples: [sample('victim_events_per_sec', events, 'events/s', { container: 'victim' })],
  };
}
const control = (values: number[], enforcement: RunRecord['enforcement'] = 'none') =>
  values.map((v) => run('sysbench', 'sysbench', enforcement, v));
const tcpRx = (values: number[], enforcement: RunRecord['enforcement'] = 'none') =>
  values.map((v) => run('tcp-receiver rateGbps=9', 'tcp-receiver', enforcement, v));

describe('bootstrap interval of a ratio of means', () => {
  it('is reproducible for a seed, differs across seeds, and brackets the point estimate', () => {
    const x = [100, 102, 98, 101, 97.5, 103.2, 99.1, 100.4];
    const y = [50, 51, 49, 52, 50.3, 48.7, 51.6, 49.4];
    const a = bootstrapRatioOfMeans(x, y, { seed: 7 })!;
    expect(bootstrapRatioOfMeans(x, y, { seed: 7 })).toEqual(a);
    expect(bootstrapRatioOfMeans(x, y, { seed: 8 })!.ci).not.toEqual(a.ci);
    expect(a).toMatchObject({ resamples: 10_000, seed: 7 });
    const ratio = x.reduce((a, b) => a + b) / y.reduce((a, b) => a + b);
    expect(a.ci[0]).toBeLessThan(ratio);
    expect(a.ci[1]).toBeGreaterThan(ratio);
    expect(a.ci[0]).toBeGreaterThan(1.9);
    expect(a.ci[1]).toBeLessThan(2.1);
  });

  it('has no interval with fewer than 2 values in an arm, and a point when nothing varies', () => {
    expect(bootstrapRatioOfMeans([100], [50, 51])).toBeNull();
    expect(bootstrapRatioOfMeans([100, 100], [50, 50])!.ci).toEqual([2, 2]);
  });

  it('covers about 95% of the time with many repetitions (normal data, true ratio 2)', () => {
    const rand = mulberry32(123);
    const gauss = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
    let covered = 0;
    const trials = 200;
    for (let t = 0; t < trials; t++) {
      const x = Array.from({ length: 20 }, () => 100 + 3 * gauss());
      const y = Array.from({ length: 20 }, () => 50 + 1.5 * gauss());
      const ci = bootstrapRatioOfMeans(x, y, { seed: t, resamples: 2000 })!.ci;
      if (ci[0] <= 2 && 2 <= ci[1]) covered++;
    }
    expect(covered / trials).toBeGreaterThan(0.88);
    expect(covered / trials).toBeLessThanOrEqual(1);
  });

  it('interpolates quantiles (type 7) and derives per-key seeds independent of order', () => {
    expect(quantileSorted([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantileSorted([1, 2, 3, 4], 0)).toBe(1);
    expect(seedFor(1, 'a')).toBe(seedFor(1, 'a'));
    expect(seedFor(1, 'a')).not.toBe(seedFor(1, 'b'));
    expect(seedFor(1, 'a')).not.toBe(seedFor(2, 'a'));
  });
});

describe('coefficient of variation and outliers', () => {
  it('computes CV as sample sd / mean', () => {
    expect(coefficientOfVariation([98, 100, 102])).toBeCloseTo(0.02, 10);
    expect(coefficientOfVariation([100])).toBeNull();
  });

  it('calls a repetition an outlier only when it is far from agreeing others', () => {
    expect(outlierIndices([100, 101, 70])).toEqual([2]);
    expect(outlierIndices([100, 101, 103])).toEqual([]); // 2% off two identical-ish values is noise
    expect(outlierIndices([100, 100, 100])).toEqual([]);
    expect(outlierIndices([100, 60])).toEqual([]); // two values: neither is the odd one
    expect(outlierIndices([100, 99, 101, 100, 130])).toEqual([4]);
  });
});

describe('summarizePenalties statistics', () => {
  it('reports the seeded bootstrap beside the Fieller interval, and CV per arm', () => {
    const records = [...control([100, 102, 98]), ...tcpRx([50, 51, 49])];
    const [s] = summarizePenalties(records, { seed: 42 });
    expect(s.penalty.mean).toBe(2);
    expect(s.penalty.ci95![0]).toBeCloseTo(1.91131, 5); // Fieller, unchanged
    expect(s.bootstrap).not.toBeNull();
    expect(s.bootstrap!.ci[0]).toBeGreaterThan(s.penalty.ci95![0]); // narrower with n = 3, as the note says
    expect(s.bootstrap!.ci[1]).toBeLessThan(s.penalty.ci95![1]);
    expect(summarizePenalties([...records].reverse(), { seed: 42 })[0].bootstrap).toEqual(s.bootstrap);
    expect(s.cv.control).toBeCloseTo(0.02, 10);
    expect(s.disagreement).toEqual({ flagged: false, reasons: [] });
  });

  it('flags a scenario whose repetitions disagree, and says which run', () => {
    const records = [...control([100, 101, 99]), ...tcpRx([50, 51, 30])];
    const [s] = summarizePenalties(records);
    const odd = s.interference!.runIds[2];
    expect(s.interference!.outlierRunIds).toEqual([odd]);
    expect(s.disagreement.flagged).toBe(true);
    expect(s.disagreement.reasons.join('; ')).toMatch(
      /interference arm varies by \d+\.\d% \(CV above 5%\); interference arm has outlier run r\d+/,
    );
    expect(summarizePenalties(records, { cvThreshold: 0.5 })[0].disagreement.reasons).toEqual([`interference arm has outlier run ${odd}`]);
  });
});

describe('adaptive repetitions', () => {
  const until = { ciHalfWidth: 0.05, maxRepetitions: 10 };

  it('asks for nothing more once the interval is tight enough', () => {
    const [s] = summarizePenalties([...control([100, 100.5, 99.5]), ...tcpRx([99, 100, 101])]);
    expect(ciHalfWidth(s)!).toBeLessThan(0.05);
    expect(moreRepetitionsNeeded(s, until)).toBe(0);
    expect(repetitionPlan([s], until)).toEqual([]);
  });

  it('projects the repetitions that bring a wide interval to the target, within the cap', () => {
    const [s] = summarizePenalties([...control([100, 104, 96]), ...tcpRx([98, 102, 100])]);
    const w = ciHalfWidth(s)!;
    expect(w).toBeGreaterThan(0.05);
    const wanted = Math.ceil(3 * (w / 0.05) ** 2) - 3;
    expect(moreRepetitionsNeeded(s, { ciHalfWidth: 0.05, maxRepetitions: 1000 })).toBe(wanted);
    expect(moreRepetitionsNeeded(s, until)).toBe(Math.min(wanted, 7));
    expect(moreRepetitionsNeeded(s, { ciHalfWidth: 0.05, maxRepetitions: 3 })).toBe(0);
    expect(moreRepetitionsNeeded(s, { ciHalfWidth: w, maxRepetitions: 10 })).toBe(0);
  });

  it('brings an arm without an interval to 2 repetitions first, counting runs not done against the cap', () => {
    const [one] = summarizePenalties([...control([100, 101]), ...tcpRx([50])]);
    expect(moreRepetitionsNeeded(one, until)).toBe(1);
    const [failed] = summarizePenalties([
      ...control([100, 101]),
      ...tcpRx([50]),
      run('tcp-receiver rateGbps=9', 'tcp-receiver', 'none', 0, 'failed'),
    ]);
    expect(moreRepetitionsNeeded(failed, { ciHalfWidth: 0.05, maxRepetitions: 2 })).toBe(0);
  });

  it('grows the shared control arm to the largest size its scenarios ask for', () => {
    const records = [
      ...control([100, 104, 96]),
      ...tcpRx([98, 102, 100]),
      ...control([100, 100.2, 99.8], 'ebpf'),
      ...tcpRx([99.9, 100, 100.1], 'ebpf'),
    ];
    const plan = repetitionPlan(summarizePenalties(records), until);
    const rx = plan.find((p) => p.workload === 'tcp-receiver')!;
    expect(rx).toMatchObject({ scenarioId: 'tcp-receiver rateGbps=9', enforcement: 'none' });
    expect(plan).toContainEqual({ scenarioId: 'sysbench', workload: 'sysbench', enforcement: 'none', extra: rx.extra });
    expect(plan.filter((p) => p.enforcement === 'ebpf')).toEqual([]);
  });
});

describe("the campaign file's until field", () => {
  const file = minimalCampaign;

  it('is optional, and absent from the spec (and its hash) when not given', () => {
    const plain = parseCampaign(file(''));
    expect(plain.spec).not.toHaveProperty('until');
    const adaptive = parseCampaign(file('until: { ciHalfWidth: 0.05, maxRepetitions: 10 }'));
    expect(adaptive.spec.until).toEqual({ ciHalfWidth: 0.05, maxRepetitions: 10 });
    expect(adaptive.hash).not.toBe(plain.hash);
  });

  it('refuses a bad target, an unknown key, and a cap below the planned repetitions, with file:line', () => {
    const refused = (text: string) => {
      try {
        parseCampaign(text, 'c.yaml');
      } catch (err) {
        expect(err).toBeInstanceOf(UserInputError);
        return (err as Error).message;
      }
      throw new Error('expected a refusal');
    };
    expect(refused(file('until: { ciHalfWidth: 0, maxRepetitions: 10 }'))).toMatch(
      /c\.yaml:\d+:\d+.*until\.ciHalfWidth.*half-width above 0/s,
    );
    expect(refused(file('until: { ciHalfWidth: 0.05, maxReps: 10 }'))).toMatch(/maxReps/);
    expect(refused(file('repetitions: 5\nuntil: { ciHalfWidth: 0.05, maxRepetitions: 4 }'))).toMatch(
      /until\.maxRepetitions.*below the 5 planned repetitions/s,
    );
  });
});
