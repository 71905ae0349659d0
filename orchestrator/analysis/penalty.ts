// The penalty factor (IRON section 2.3) per report scenario (scenarioId, enforcement, host), with its uncertainty.
// penalty = victim events/s with sysbench neighbours (the control arm: same victim, enforcement, run settings and host)
//         / victim events/s with this scenario's neighbours (the interference arm).
// That is for a victim whose primary metric is higher-is-better (sysbench's events/s). For a lower-is-better one
// (a latency victim's p99) the ratio is the other way up, interference / control: > 1 always means worse.
// The control arm's neighbour is the victim's (workloads/registry.ts controlOf): sysbench for sysbench, idle for redis.
// `eventsPerSec` fields hold the victim's primary metric, whatever its unit (`victimMetric` says which).
// Unpaired (shuffled design): ratio of the arms' means, Fieller interval. Paired (blocked design): geometric mean
// of the within-block ratios, t interval on their logs. 1.0 = perfect isolation. Only runs with status 'done'
// count; a run without a victim sample is left out.
import tQuantile from '@stdlib/stats-base-dists-t-quantile';
import { type ScenarioParams, type WorkloadKind } from '../../workloads/catalog.ts';
import { type Enforcement } from '../../agents/enforcement/modes.ts';
import { CORE_CATEGORIES, METRIC, type CoreCategory, type Sample } from '../../agents/samples.ts';
import { controlOf, primaryMetricOf, VICTIM_KINDS } from '../../workloads/registry.ts';
import type { PrimaryMetric } from '../../workloads/workload.ts';
import {
  CONDITION_METRICS,
  ceilingNotes,
  conditionNotes,
  conditionsSpread,
  runConditions,
  softirqCeiling,
  windowOf,
  type ConditionsSpread,
} from './conditions.ts';
import {
  bootstrapMeanLogRatio,
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
  /** The victim's workload (its RunSpec's victim.workload); absent = sysbench. */
  victimWorkload?: string;
  samples: Sample[];
  /** Canonical run settings (quotas, cores, neighbours, durations): a scenario's control must have the same. Absent = not checked. */
  settingsKey?: string;
  /** Where the run ran, as far as pooling goes: the server host (real hosts), or the profile of identical simulated hosts. Absent = one place. */
  stratum?: string;
  /** The kept attempt was out of guard (its attempts ran out: the condition is systematic, not a passing one): why. Counted and marked. */
  guardReason?: string | null;
  /** Reasons of earlier attempts that a guard repeated. */
  guardRepeats?: string[];
  /** Planned measurement window (s), for runs that report no window_s. */
  durationS?: number;
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
  /** Repetition number of each counted run, in the order of runIds (pairs runs in blocked designs). */
  repetitions: number[];
  /** Spread of the run conditions (achieved load, steal, foreign CPU, softirqs, ksoftirqd) over the counted runs. */
  conditions: ConditionsSpread;
  /** Guards: attempts repeated because they were out of guard, and counted runs kept out of guard (attempts used up). */
  guards: { repeated: number; kept: number; reasons: string[] };
}

/** How the headline interval was made. */
export type IntervalMethod = 'fieller' | 'paired-log-t';

export interface Penalty {
  /** Ratio of means (unpaired) or geometric mean of the within-block ratios (paired); null when an arm has no data. */
  mean: number | null;
  /** The interval (Fieller or paired, see method) at `level`; null when n < 2 or when it is unbounded. */
  ci95: [number, number] | null;
  /** Interference-arm repetitions that count. */
  n: number;
  /** Degrees of freedom of the t quantile: Welch–Satterthwaite (Fieller) or blocks − 1 (paired); null when no interval. */
  df: number | null;
  /** Why there is no mean or no interval, in words a user can act on. */
  note?: string;
  /**
   * fieller: ratio of the arms' means, Fieller interval (unpaired, shuffled design). paired-log-t: geometric
   * mean of the within-block ratios control/interference, t interval on their logs (df n−1), back-transformed.
   */
  method: IntervalMethod;
  /** Confidence level of ci95: 0.95, or higher when adaptive stopping is corrected for (see AnalysisOptions.looks). */
  level: number;
}

export interface ScenarioSummary {
  scenarioId: string;
  workload: WorkloadKind;
  params: ScenarioParams;
  enforcement: Enforcement;
  penalty: Penalty;
  /** The victim's primary metric, which the penalty compares, and its direction. */
  victimMetric: PrimaryMetric;
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
  /** The control scenario the penalty divides by (same settings, enforcement and host); null without one. */
  controlScenarioId: string | null;
  /** The control arm's neighbour workload (the victim's control: sysbench, or idle for a latency victim). */
  controlWorkload: WorkloadKind;
  /** The host (or simulated-host profile) of this row's runs; runs of different hosts are never pooled. */
  stratum: string | null;
  /**
   * The penalty the network softirq time on the victim's core could cause had the victim paid for all of it
   * (control victim time / (that − interference softirq time), conditions.ts); null without core times.
   */
  softirqCeiling: number | null;
  /** Why the repetitions may differ, from their own counters (steal, foreign CPU, load, ksoftirqd regime, the softirq ceiling). */
  conditionNotes: string[];
}

export interface AnalysisOptions extends DisagreementOptions {
  /** Base seed of the bootstrap (each scenario derives its own from it and its key). Default 1. */
  seed?: number;
  /** Bootstrap resamples. Default 10 000. */
  resamples?: number;
  /** blocked: paired analysis of within-block ratios; shuffled (default): Fieller on the arms' means. */
  design?: 'blocked' | 'shuffled';
  /** Nominal confidence level. Default 0.95. */
  level?: number;
  /**
   * Adaptive repetitions (`until:`) look at the interval after every round and stop once it is tight: optional
   * stopping. With at most `looks` looks, each interval is made at level 1 − (1 − level)/looks (Bonferroni over
   * the looks), so the interval where a scenario stopped covers with at least `level` whatever the stopping
   * rule. Default 1 (a fixed number of repetitions).
   */
  looks?: number;
  /** Thresholds of the condition notes (the campaign's guards). */
  noteThresholds?: { steal: number; foreign: number; load: number };
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
  // One row per scenario, enforcement and host (stratum): done runs by where they ran; a run not done counts
  // (notDone) in every row of its scenario, or makes one of its own when none has a done run.
  const groups = new Map<string, RunRecord[]>();
  const scenarioKey = (r: RunRecord) => `${r.scenarioId}\0${r.enforcement}`;
  const push = (key: string, r: RunRecord) => {
    const list = groups.get(key);
    if (list) list.push(r);
    else groups.set(key, [r]);
  };
  for (const r of records) if (r.status === 'done') push(`${scenarioKey(r)}\0${r.stratum ?? ''}`, r);
  for (const r of records) {
    if (r.status === 'done') continue;
    const rows = [...groups.keys()].filter((k) => k.startsWith(`${scenarioKey(r)}\0`));
    if (rows.length) for (const k of rows) groups.get(k)!.push(r);
    else push(`${scenarioKey(r)}\0${r.stratum ?? ''}`, r);
  }
  const level = 1 - (1 - (options.level ?? 0.95)) / Math.max(1, options.looks ?? 1);
  const paired = options.design === 'blocked';
  // A scenario's control: its victim's control neighbour with the same enforcement, run settings and host.
  const isControl = (r: RunRecord) => r.workload === controlOf(r.victimWorkload);
  const controlRunsOf = (r: RunRecord) =>
    records.filter(
      (c) =>
        isControl(c) &&
        (c.victimWorkload ?? '') === (r.victimWorkload ?? '') &&
        c.enforcement === r.enforcement &&
        (c.stratum ?? '') === (r.stratum ?? '') &&
        (c.settingsKey === undefined || r.settingsKey === undefined || c.settingsKey === r.settingsKey),
    );

  // Scenarios that share a control share its runs and statistics: made once per control, not once per scenario.
  const controls = new Map<string, { runs: RunRecord[]; stats: ArmStats | null }>();
  const controlOfRun = (r: RunRecord) => {
    const key = `${r.victimWorkload ?? ''}\0${r.enforcement}\0${r.stratum ?? ''}\0${r.settingsKey ?? '\u0001'}`;
    let c = controls.get(key);
    if (!c) {
      const runs = controlRunsOf(r);
      controls.set(key, (c = { runs, stats: armStats(runs, options) }));
    }
    return c;
  };

  const out: ScenarioSummary[] = [];
  for (const runs of groups.values()) {
    const first = runs[0];
    if (isControl(first)) continue;
    const { runs: controlRuns, stats: control } = controlOfRun(first);
    const victimMetric = primaryMetricOf(first.victimWorkload);
    const interference = armStats(runs, options);
    // Numerator and denominator: the better arm's value on top, so that > 1 means the interference made it worse.
    const [top, bottom] = victimMetric.higherIsBetter ? [control, interference] : [interference, control];
    const bootSeed = seedFor(options.seed ?? 1, `${first.scenarioId}\0${first.enforcement}${first.stratum ? `\0${first.stratum}` : ''}`);
    const resampleOpts = { seed: bootSeed, level, ...(options.resamples !== undefined ? { resamples: options.resamples } : {}) };
    let penalty: Penalty;
    let bootstrap: BootstrapInterval | null = null;
    if (paired) {
      const p = pairedPenalty(control, interference, first.enforcement, level, victimMetric.higherIsBetter);
      penalty = p.penalty;
      if (p.logRatios.length >= 2) bootstrap = bootstrapMeanLogRatio(p.logRatios, resampleOpts);
    } else {
      penalty = penaltyOf(control, interference, first.enforcement, level, victimMetric.higherIsBetter);
      if (top && bottom) bootstrap = bootstrapRatioOfMeans(top.eventsPerSec, bottom.eventsPerSec, resampleOpts);
    }
    const thresholds = options.noteThresholds ?? { steal: 0.02, foreign: 0.05, load: 0.1 };
    const ctl = control?.timeBreakdown;
    const int = interference?.timeBreakdown;
    const softirqS = int ? int.softirq_task + int.ksoftirqd : null;
    const ceiling = softirqCeiling(ctl?.victim, softirqS);
    const total = (t: TimeBreakdown) => Object.values(t).reduce((a, b) => a + b, 0);
    out.push({
      scenarioId: first.scenarioId,
      workload: first.workload,
      params: { ...first.params },
      enforcement: first.enforcement,
      penalty,
      victimMetric,
      victim: { controlEventsPerSec: control?.meanEventsPerSec ?? null, interferenceEventsPerSec: interference?.meanEventsPerSec ?? null },
      ksoftirqdShare: interference?.ksoftirqdShare ?? null,
      cv: { control: control?.cv ?? null, interference: interference?.cv ?? null },
      timeBreakdown: interference?.timeBreakdown ?? null,
      control,
      interference,
      notDone: runs.filter((r) => r.status !== 'done').length,
      bootstrap,
      disagreement: disagreementOf(control, interference, options),
      controlScenarioId: controlRuns[0]?.scenarioId ?? null,
      controlWorkload: controlOf(first.victimWorkload),
      stratum: first.stratum ?? null,
      softirqCeiling: ceiling,
      conditionNotes: [
        ...(control ? conditionNotes('control', control.conditions, thresholds) : []),
        ...(interference ? conditionNotes('interference', interference.conditions, thresholds) : []),
        ...(ctl && int
          ? ceilingNotes(ceiling, penalty, { softirq: softirqS! / total(int), victim: ctl.victim / total(ctl) }, first.enforcement)
          : []),
      ],
    });
  }
  return out;
}

/**
 * Paired analysis of a blocked design: in block (repetition) b the control and the scenario ran back to back on
 * one host, so r_b = control_b / interference_b is free of whatever drifted between blocks. The penalty is the
 * geometric mean of the r_b, its interval a t interval on log r_b (df = pairs − 1) taken back with exp: exact
 * when log r_b is normal, and a ratio's interval stays positive and asymmetric as it should.
 */
export function pairedPenalty(
  control: ArmStats | null,
  interference: ArmStats | null,
  enforcement: Enforcement,
  level = 0.95,
  higherIsBetter = true,
): { penalty: Penalty; logRatios: number[] } {
  const n0 = interference?.n ?? 0;
  const none = (note: string, n = n0): { penalty: Penalty; logRatios: number[] } => ({
    penalty: { mean: null, ci95: null, n, df: null, note, method: 'paired-log-t', level },
    logRatios: [],
  });
  if (!control) return none(`no completed sysbench control run with enforcement ${enforcement} and the same settings and host`);
  if (!interference) return none('no completed run');
  if (higherIsBetter && interference.meanEventsPerSec <= 0) return none('the victim made no progress (0 events/s)');
  if (!higherIsBetter && control.meanEventsPerSec <= 0) return none('the control arm measured no latency (0)');
  const controlByBlock = new Map<number, number[]>();
  control.repetitions.forEach((b, i) => controlByBlock.set(b, [...(controlByBlock.get(b) ?? []), control.eventsPerSec[i]]));
  const logRatios: number[] = [];
  interference.repetitions.forEach((b, i) => {
    const c = controlByBlock.get(b);
    const x = interference.eventsPerSec[i];
    if (c && x > 0) logRatios.push(higherIsBetter ? Math.log(meanOf(c) / x) : Math.log(x / meanOf(c)));
  });
  const n = logRatios.length;
  if (n === 0) return none('no block has both a control run and a run of this scenario', 0);
  const m = meanOf(logRatios);
  const mean = Math.exp(m);
  if (n < 2)
    return {
      penalty: { mean, ci95: null, n, df: null, note: `no interval with 1 complete block (needs 2)`, method: 'paired-log-t', level },
      logRatios,
    };
  const sd = Math.sqrt(logRatios.reduce((a, d) => a + (d - m) ** 2, 0) / (n - 1));
  const half = tQuantile(1 - (1 - level) / 2, n - 1) * (sd / Math.sqrt(n));
  const unpaired = interference.n - n;
  return {
    penalty: {
      mean,
      ci95: [Math.exp(m - half), Math.exp(m + half)],
      n,
      df: n - 1,
      method: 'paired-log-t',
      level,
      ...(unpaired > 0 ? { note: `${unpaired} run${unpaired === 1 ? '' : 's'} without a control in its block, left out` } : {}),
    },
    logRatios,
  };
}

/** Repetitions disagree when an arm's CV is above the threshold or an arm holds an outlier. */
export function disagreementOf(
  control: ArmStats | null,
  interference: ArmStats | null,
  options: DisagreementOptions = {},
): { flagged: boolean; reasons: string[] } {
  const threshold = options.cvThreshold ?? DEFAULT_CV_THRESHOLD;
  const reasons: string[] = [];
  const arms: [string, ArmStats | null][] = [
    ['control', control],
    ['interference', interference],
  ];
  for (const [name, arm] of arms) {
    if (!arm) continue;
    if (arm.cv !== null && arm.cv > threshold)
      reasons.push(`${name} arm varies by ${(arm.cv * 100).toFixed(1)}% (CV above ${(threshold * 100).toFixed(0)}%)`);
    if (arm.outlierRunIds.length)
      reasons.push(`${name} arm has outlier run${arm.outlierRunIds.length === 1 ? '' : 's'} ${arm.outlierRunIds.join(', ')}`);
  }
  return { flagged: reasons.length > 0, reasons };
}

function penaltyOf(
  control: ArmStats | null,
  interference: ArmStats | null,
  enforcement: Enforcement,
  level = 0.95,
  higherIsBetter = true,
): Penalty {
  const n = interference?.n ?? 0;
  const base = { method: 'fieller' as const, level };
  if (!control)
    return { mean: null, ci95: null, n, df: null, note: `no completed sysbench control run with enforcement ${enforcement}`, ...base };
  if (!interference) return { mean: null, ci95: null, n, df: null, note: 'no completed run', ...base };
  const [top, bottom] = higherIsBetter ? [control, interference] : [interference, control];
  if (bottom.meanEventsPerSec <= 0)
    return {
      mean: null,
      ci95: null,
      n,
      df: null,
      note: higherIsBetter ? 'the victim made no progress (0 events/s)' : 'the control arm measured no latency (0)',
      ...base,
    };
  const ratio = ratioOfMeans(
    { mean: top.meanEventsPerSec, sd: top.sdEventsPerSec, n: top.n },
    { mean: bottom.meanEventsPerSec, sd: bottom.sdEventsPerSec, n: bottom.n },
    level,
  );
  return { mean: ratio.mean, ci95: ratio.ci95, n, df: ratio.df, ...(ratio.note ? { note: ratio.note } : {}), ...base };
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
export function ratioOfMeans(
  x: SampleMoments,
  y: SampleMoments,
  level = 0.95,
): { mean: number; ci95: [number, number] | null; df: number | null; note?: string } {
  const mean = x.mean / y.mean;
  if (x.n < 2 || y.n < 2 || x.sd === null || y.sd === null)
    return {
      mean,
      ci95: null,
      df: null,
      note: `no interval with ${Math.min(x.n, y.n)} repetition${Math.min(x.n, y.n) === 1 ? '' : 's'} in an arm (needs 2)`,
    };
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

/**
 * Every metric the analysis reads from a run's samples: any victim's primary metric, the victim core's times and
 * ksoftirqd share, and the run conditions. A reader that summarises a campaign fetches only these (a lab
 * campaign's runs carry about 45 samples each, fewer than half of them these); the summary comes out the same.
 */
export const ANALYSIS_METRICS: readonly string[] = [
  ...new Set([...VICTIM_KINDS.map((v) => primaryMetricOf(v).metric), METRIC.ksoftirqdShare, METRIC.coreTimeS, ...CONDITION_METRICS]),
];

/** Statistics of the done runs in `runs` that carry a victim sample; null if there are none. */
export function armStats(runs: readonly RunRecord[], options: DisagreementOptions = {}): ArmStats | null {
  // The victim's primary metric (the arm's runs share a victim workload: the control is chosen by it).
  const metric = primaryMetricOf(runs[0]?.victimWorkload).metric;
  const done = runs.filter((r) => r.status === 'done' && r.samples.some((s) => s.metric === metric));
  // A run still out of guard after its attempts is kept: what stays out of guard on every attempt is how this
  // scenario runs on this host (a deterministic simulated run, a generator that cannot reach the rate); the
  // report marks it with its reason rather than dropping the scenario's data.
  const guards = {
    repeated: runs.reduce((a, r) => a + (r.guardRepeats?.length ?? 0), 0),
    kept: done.filter((r) => r.guardReason).length,
    reasons: [...new Set(runs.flatMap((r) => [...(r.guardRepeats ?? []), ...(r.guardReason ? [r.guardReason] : [])]))],
  };
  if (done.length === 0) return null;
  const events = done.map((r) => sumMetric(r.samples, metric));
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
    repetitions: done.map((r) => r.repetition),
    conditions: conditionsSpread(done.map((r) => runConditions(r.samples, [r.victimCore], windowOf(r.samples, r.durationS ?? 1)))),
    guards,
  };
}

function sumMetric(samples: readonly Sample[], metric: string): number {
  return samples.reduce((acc, s) => (s.metric === metric ? acc + s.value : acc), 0);
}
function meanOf(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}
