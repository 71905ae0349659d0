// The penalty factor (IRON section 2.3) per report scenario (scenarioId, enforcement), with its uncertainty.
// penalty = mean victim events/s with sysbench neighbours (the control arm, same enforcement)
//         / mean victim events/s with this scenario's neighbours (the interference arm).
// 1.0 = perfect isolation. Only runs with status 'done' count; a run without a victim sample is left out.
import tQuantile from '@stdlib/stats-base-dists-t-quantile';
import { CONTROL_WORKLOAD, type Enforcement, type ScenarioParams, type WorkloadKind } from '../../workloads/catalog.ts';
import { CORE_CATEGORIES, METRIC, type CoreCategory, type Sample } from '../../agents/samples.ts';
import {
  bootstrapRatioOfMeans,
  coefficientOfVariation,
  DEFAULT_CV_THRESHOLD,
  outlierIndices,
  seedFor,
  type BootstrapInterval,
  type DisagreementOptions,
} from './statistics.ts';

export type RunStatus = 'todo' | 'running' | 'done' | 'failed' | 'skipped' | (string & {});

/** One run as the analysis reads it back from the store. */
export interface RunRecord {
  runId: string;
  scenarioId: string;
  workload: WorkloadKind;
  params: ScenarioParams;
  enforcement: Enforcement;
  repetition: number;
  status: RunStatus;
  /** The victim's core (its RunSpec's victim.cpus[0]): core_time_s and ksoftirqd_share are read there. */
  victimCore: number;
  samples: Sample[];
}

export type TimeBreakdown = Record<CoreCategory, number>;

/** Statistics of one arm (control or interference) over its done runs. */
export interface ArmStats {
  /** Runs with a victim sample. */
  n: number;
  runIds: string[];
  /** Victim sysbench events/s of each counted run, in the order of runIds. */
  eventsPerSec: number[];
  /** Victim sysbench events/s: mean, sample standard deviation (null for n < 2), coefficient of variation. */
  meanEventsPerSec: number;
  sdEventsPerSec: number | null;
  cv: number | null;
  /** Mean ksoftirqd time / window on the victim's core; null if no run reported it. */
  ksoftirqdShare: number | null;
  /** Mean seconds per category of core_time_s on the victim's core; null if no run reported it. */
  timeBreakdown: TimeBreakdown | null;
  /** Runs whose victim events/s lie far from the arm's median (modified z-score, see statistics.ts). */
  outlierRunIds: string[];
}

export interface Penalty {
  /** Ratio of means; null when an arm has no data. */
  mean: number | null;
  /** 95% Fieller interval; null when n < 2 in either arm or when the interval is unbounded. */
  ci95: [number, number] | null;
  /** Interference-arm repetitions that count. */
  n: number;
  /** Welch–Satterthwaite degrees of freedom used for the t quantile (null when no interval). */
  df: number | null;
  /** Why there is no mean or no interval, in words a user can act on. */
  note?: string;
}

export interface ScenarioSummary {
  scenarioId: string;
  workload: WorkloadKind;
  params: ScenarioParams;
  enforcement: Enforcement;
  penalty: Penalty;
  victim: { controlEventsPerSec: number | null; interferenceEventsPerSec: number | null };
  /** Mean ksoftirqd share of the victim's core in the interference arm. */
  ksoftirqdShare: number | null;
  cv: { control: number | null; interference: number | null };
  /** Interference arm: mean seconds per core_time_s category on the victim's core. */
  timeBreakdown: TimeBreakdown | null;
  control: ArmStats | null;
  interference: ArmStats | null;
  /** Runs of this scenario that are not done (failed, skipped, ...): left out of every number above. */
  notDone: number;
  /**
   * Percentile bootstrap 95% interval of the same ratio of means (seeded, see AnalysisOptions.seed); null when
   * an arm has fewer than 2 repetitions. Reported beside `penalty.ci95` (Fieller), which stays the headline
   * interval: see the note on `summarizePenalties`.
   */
  bootstrap: BootstrapInterval | null;
  /** Whether the repetitions behind this penalty disagree, and why (in words a user can act on). */
  disagreement: { flagged: boolean; reasons: string[] };
}

export interface AnalysisOptions extends DisagreementOptions {
  /** Base seed of the bootstrap (each scenario derives its own from it and its key). Default 1. */
  seed?: number;
  /** Bootstrap resamples. Default 10 000. */
  resamples?: number;
}

/**
 * One summary per network scenario and enforcement mode (the sysbench control itself is not a row: its
 * statistics are in every summary's `control`). Input order does not matter; output is in first-seen order,
 * sort it for display with the report module.
 *
 * Two intervals, one headline. `penalty.ci95` (Fieller, Welch df) is the one tables and charts show; the
 * percentile bootstrap (`bootstrap`) is reported beside it. Why Fieller stays the headline: campaigns run 2-5
 * repetitions per arm. A bootstrap of n = 3 values has only 10 distinct resamples per arm, its spread is the
 * plug-in variance (too small by (n−1)/n) and it has no t correction for estimating that variance from 3
 * values, so its 95% percentile interval covers the true ratio far less than 95% of the time (it is often
 * half as wide as Fieller's). Fieller's interval is exact for normal means and widens with the t quantile as
 * it should when n is small. The bootstrap makes no normality assumption, which starts to matter only with
 * ~10+ repetitions; where the two disagree markedly, the data are not normal and deserve a look.
 */
export function summarizePenalties(records: readonly RunRecord[], options: AnalysisOptions = {}): ScenarioSummary[] {
  const groups = new Map<string, RunRecord[]>();
  for (const r of records) {
    const key = `${r.scenarioId}\0${r.enforcement}`;
    const list = groups.get(key);
    if (list) list.push(r);
    else groups.set(key, [r]);
  }
  const controlByEnforcement = new Map<Enforcement, ArmStats | null>();
  const controlOf = (enf: Enforcement) => {
    if (!controlByEnforcement.has(enf)) controlByEnforcement.set(enf, armStats(records.filter((r) => r.workload === CONTROL_WORKLOAD && r.enforcement === enf), options));
    return controlByEnforcement.get(enf) ?? null;
  };

  const out: ScenarioSummary[] = [];
  for (const runs of groups.values()) {
    const first = runs[0];
    if (first.workload === CONTROL_WORKLOAD) continue;
    const control = controlOf(first.enforcement);
    const interference = armStats(runs, options);
    const bootstrap =
      control && interference
        ? bootstrapRatioOfMeans(control.eventsPerSec, interference.eventsPerSec, {
            seed: seedFor(options.seed ?? 1, `${first.scenarioId}\0${first.enforcement}`),
            ...(options.resamples !== undefined ? { resamples: options.resamples } : {}),
          })
        : null;
    out.push({
      scenarioId: first.scenarioId,
      workload: first.workload,
      params: { ...first.params },
      enforcement: first.enforcement,
      penalty: penaltyOf(control, interference, first.enforcement),
      victim: { controlEventsPerSec: control?.meanEventsPerSec ?? null, interferenceEventsPerSec: interference?.meanEventsPerSec ?? null },
      ksoftirqdShare: interference?.ksoftirqdShare ?? null,
      cv: { control: control?.cv ?? null, interference: interference?.cv ?? null },
      timeBreakdown: interference?.timeBreakdown ?? null,
      control,
      interference,
      notDone: runs.filter((r) => r.status !== 'done').length,
      bootstrap,
      disagreement: disagreementOf(control, interference, options),
    });
  }
  return out;
}

/** Repetitions disagree when an arm's CV is above the threshold or an arm holds an outlier. */
export function disagreementOf(control: ArmStats | null, interference: ArmStats | null, options: DisagreementOptions = {}): { flagged: boolean; reasons: string[] } {
  const threshold = options.cvThreshold ?? DEFAULT_CV_THRESHOLD;
  const reasons: string[] = [];
  const arms: [string, ArmStats | null][] = [['control', control], ['interference', interference]];
  for (const [name, arm] of arms) {
    if (!arm) continue;
    if (arm.cv !== null && arm.cv > threshold) reasons.push(`${name} arm varies by ${(arm.cv * 100).toFixed(1)}% (CV above ${(threshold * 100).toFixed(0)}%)`);
    if (arm.outlierRunIds.length) reasons.push(`${name} arm has outlier run${arm.outlierRunIds.length === 1 ? '' : 's'} ${arm.outlierRunIds.join(', ')}`);
  }
  return { flagged: reasons.length > 0, reasons };
}

function penaltyOf(control: ArmStats | null, interference: ArmStats | null, enforcement: Enforcement): Penalty {
  const n = interference?.n ?? 0;
  if (!control) return { mean: null, ci95: null, n, df: null, note: `no completed sysbench control run with enforcement ${enforcement}` };
  if (!interference) return { mean: null, ci95: null, n, df: null, note: 'no completed run' };
  if (interference.meanEventsPerSec <= 0) return { mean: null, ci95: null, n, df: null, note: 'the victim made no progress (0 events/s)' };
  const ratio = ratioOfMeans(
    { mean: control.meanEventsPerSec, sd: control.sdEventsPerSec, n: control.n },
    { mean: interference.meanEventsPerSec, sd: interference.sdEventsPerSec, n: interference.n },
  );
  return { mean: ratio.mean, ci95: ratio.ci95, n, df: ratio.df, ...(ratio.note ? { note: ratio.note } : {}) };
}

export interface SampleMoments {
  mean: number;
  /** Sample standard deviation (n - 1); null when n < 2. */
  sd: number | null;
  n: number;
}

/**
 * Ratio of the means of two independent samples, x̄/ȳ, with a 95% confidence interval by Fieller's theorem.
 *
 * Why Fieller rather than the delta method: with 2-3 repetitions and penalties up to ~6x, the sampling
 * distribution of x̄/ȳ is skewed; the delta method's symmetric interval (R ± t·se) is too narrow on the high
 * side and can even go below 0, while Fieller's interval is exact under normality of the two means and is
 * asymmetric where it should be. The two agree when both means are precise.
 *
 * The interval is the set of θ with (x̄ − θȳ)² ≤ t² (vx + θ² vy), where vx = sx²/nx and vy = sy²/ny are the
 * squared standard errors (the arms may have different variances: no pooling). Degrees of freedom: Welch–
 * Satterthwaite for the linear combination x̄ − Rȳ at the point estimate R = x̄/ȳ,
 *   df = (vx + R² vy)² / (vx²/(nx−1) + (R² vy)²/(ny−1)),
 * which is the same df the delta method gives. t = Student t quantile at 0.975 for that (fractional) df.
 * If ȳ is not significantly different from 0 (ȳ² ≤ t² vy) the Fieller set is unbounded: no interval.
 * Either arm with n < 2: no variance estimate, so no interval (never a made-up one).
 */
export function ratioOfMeans(x: SampleMoments, y: SampleMoments, level = 0.95): { mean: number; ci95: [number, number] | null; df: number | null; note?: string } {
  const mean = x.mean / y.mean;
  if (x.n < 2 || y.n < 2 || x.sd === null || y.sd === null)
    return { mean, ci95: null, df: null, note: `no interval with ${Math.min(x.n, y.n)} repetition${Math.min(x.n, y.n) === 1 ? '' : 's'} in an arm (needs 2)` };
  const vx = (x.sd * x.sd) / x.n;
  const vy = (y.sd * y.sd) / y.n;
  const a = vx;
  const b = mean * mean * vy;
  if (a + b === 0) return { mean, ci95: [mean, mean], df: Infinity };
  const df = (a + b) ** 2 / ((a * a) / (x.n - 1) + (b * b) / (y.n - 1));
  const t = tQuantile(1 - (1 - level) / 2, df);
  const t2 = t * t;
  // (ȳ² − t² vy) θ² − 2 x̄ȳ θ + (x̄² − t² vx) ≤ 0
  const qa = y.mean * y.mean - t2 * vy;
  const qb = x.mean * y.mean;
  const qc = x.mean * x.mean - t2 * vx;
  if (qa <= 0) return { mean, ci95: null, df, note: 'the interference arm varies too much for a bounded interval' };
  const disc = qb * qb - qa * qc;
  const root = Math.sqrt(Math.max(0, disc));
  return { mean, ci95: [(qb - root) / qa, (qb + root) / qa], df };
}

/** Statistics of the done runs in `runs` that carry a victim sample; null if there are none. */
export function armStats(runs: readonly RunRecord[], options: DisagreementOptions = {}): ArmStats | null {
  const done = runs.filter((r) => r.status === 'done' && r.samples.some((s) => s.metric === METRIC.victimEventsPerSec));
  if (done.length === 0) return null;
  const events = done.map((r) => sumMetric(r.samples, METRIC.victimEventsPerSec));
  const mean = meanOf(events);
  const sd = done.length >= 2 ? Math.sqrt(events.reduce((acc, v) => acc + (v - mean) ** 2, 0) / (done.length - 1)) : null;

  const core = (r: RunRecord) => String(r.victimCore);
  const shares = done.flatMap((r) => {
    const s = r.samples.filter((x) => x.metric === METRIC.ksoftirqdShare && (x.labels.core === undefined || x.labels.core === core(r)));
    return s.length ? [meanOf(s.map((x) => x.value))] : [];
  });

  const withTimes = done.filter((r) => r.samples.some((s) => s.metric === METRIC.coreTimeS && s.labels.core === core(r)));
  let timeBreakdown: TimeBreakdown | null = null;
  if (withTimes.length > 0) {
    timeBreakdown = Object.fromEntries(CORE_CATEGORIES.map((c) => [c, 0])) as TimeBreakdown;
    for (const r of withTimes)
      for (const s of r.samples)
        if (s.metric === METRIC.coreTimeS && s.labels.core === core(r) && s.labels.category && s.labels.category in timeBreakdown)
          timeBreakdown[s.labels.category as CoreCategory] += s.value / withTimes.length;
  }

  return {
    n: done.length,
    runIds: done.map((r) => r.runId),
    eventsPerSec: events,
    meanEventsPerSec: mean,
    sdEventsPerSec: sd,
    cv: coefficientOfVariation(events),
    ksoftirqdShare: shares.length ? meanOf(shares) : null,
    timeBreakdown,
    outlierRunIds: outlierIndices(events, options).map((i) => done[i].runId),
  };
}

function sumMetric(samples: readonly Sample[], metric: string): number {
  return samples.reduce((acc, s) => (s.metric === metric ? acc + s.value : acc), 0);
}
function meanOf(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}
