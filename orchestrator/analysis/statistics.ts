// Statistics over repetitions: a seeded bootstrap interval for a ratio of means, the coefficient of variation,
// and the test that says a scenario's repetitions disagree (an outlier, or an arm that varies too much).
// Everything here is pure and deterministic: the same values and seed give the same numbers on any machine.

/** Mulberry32: a small, fast, well-mixed 32-bit PRNG; returns floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => mulberryOut((a = (a + MULBERRY_STEP) >>> 0));
}

const MULBERRY_STEP = 0x6d2b79f5;

/** Mulberry32's float for an (already advanced) state: shared with the bootstrap's draws, so the streams are one. */
function mulberryOut(a: number): number {
  let t = a;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

/** Mulberry32's state `draws` steps after `a`. */
const advance = (a: number, draws: number) => (a + Math.imul(draws, MULBERRY_STEP)) >>> 0;

/**
 * The mean of |values| values drawn with replacement, with mulberry32 from state `a` (the same draws, in the same
 * order, as calling mulberry32's function |values| times). A loop over typed values with the state in a local:
 * a lab campaign's bootstrap draws about 90 million values, and through the closure over a plain array this was
 * the largest part of the orchestrator's end-of-campaign analysis.
 */
function meanOfDraws(values: Float64Array, a: number): number {
  const n = values.length;
  let total = 0;
  for (let i = 0; i < n; i++) {
    a = (a + MULBERRY_STEP) >>> 0;
    total += values[Math.floor(mulberryOut(a) * n)];
  }
  return total / n;
}

/** A 32-bit seed for one key (FNV-1a over the key, mixed with a base seed): independent of iteration order. */
export function seedFor(baseSeed: number, key: string): number {
  let h = (0x811c9dc5 ^ (baseSeed >>> 0)) >>> 0;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

export function mean(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

/** Sample standard deviation (n − 1); null for fewer than 2 values. */
export function sampleSd(values: readonly number[]): number | null {
  if (values.length < 2) return null;
  const m = mean(values);
  return Math.sqrt(values.reduce((acc, v) => acc + (v - m) ** 2, 0) / (values.length - 1));
}

/** Coefficient of variation sd / mean; null for fewer than 2 values or a zero mean. */
export function coefficientOfVariation(values: readonly number[]): number | null {
  const sd = sampleSd(values);
  const m = values.length ? mean(values) : 0;
  return sd === null || m === 0 ? null : sd / Math.abs(m);
}

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export interface BootstrapOptions {
  /** Resamples; default 10 000. */
  resamples?: number;
  /** Confidence level; default 0.95. */
  level?: number;
  /** PRNG seed; default 1. */
  seed?: number;
}

export interface BootstrapInterval {
  ci: [number, number];
  resamples: number;
  seed: number;
}

export const DEFAULT_RESAMPLES = 10_000;

/**
 * Percentile bootstrap interval of mean(x) / mean(y) for two independent samples: each resample draws
 * |x| values from x and |y| values from y with replacement (stratified: the arms keep their sizes), and the
 * interval is the (1−level)/2 and (1+level)/2 quantiles of the resampled ratios (type-7 interpolation).
 * Resamples whose y mean is not positive are dropped (the ratio is undefined there); if more than half are,
 * there is no interval. Null when either arm has fewer than 2 values (a bootstrap of one value is a point).
 */
export function bootstrapRatioOfMeans(
  x: readonly number[],
  y: readonly number[],
  options: BootstrapOptions = {},
): BootstrapInterval | null {
  const resamples = options.resamples ?? DEFAULT_RESAMPLES;
  const level = options.level ?? 0.95;
  const seed = options.seed ?? 1;
  if (x.length < 2 || y.length < 2) return null;
  const [xs, ys] = [Float64Array.from(x), Float64Array.from(y)];
  let a = seed >>> 0;
  const ratios = new Float64Array(resamples);
  let kept = 0;
  for (let b = 0; b < resamples; b++) {
    const mx = meanOfDraws(xs, a);
    a = advance(a, xs.length);
    const my = meanOfDraws(ys, a);
    a = advance(a, ys.length);
    if (my > 0) ratios[kept++] = mx / my;
  }
  if (kept < resamples / 2) return null;
  return percentileInterval(ratios.subarray(0, kept), level, resamples, seed);
}

/**
 * Percentile bootstrap interval of exp(mean(d)) for paired log ratios d (one per block): each resample draws
 * |d| blocks with replacement. The paired counterpart of bootstrapRatioOfMeans; null with fewer than 2 blocks.
 */
export function bootstrapMeanLogRatio(d: readonly number[], options: BootstrapOptions = {}): BootstrapInterval | null {
  const resamples = options.resamples ?? DEFAULT_RESAMPLES;
  const level = options.level ?? 0.95;
  const seed = options.seed ?? 1;
  if (d.length < 2) return null;
  const ds = Float64Array.from(d);
  let a = seed >>> 0;
  const ratios = new Float64Array(resamples);
  for (let b = 0; b < resamples; b++) {
    ratios[b] = Math.exp(meanOfDraws(ds, a));
    a = advance(a, ds.length);
  }
  return percentileInterval(ratios, level, resamples, seed);
}

/** The (1−level)/2 and (1+level)/2 quantiles of resampled values (sorted here: a typed array sorts numerically). */
function percentileInterval(values: Float64Array, level: number, resamples: number, seed: number): BootstrapInterval {
  const sorted = values.sort();
  const alpha = (1 - level) / 2;
  return { ci: [quantileSorted(sorted, alpha), quantileSorted(sorted, 1 - alpha)], resamples, seed };
}

/** Type-7 (linear interpolation) quantile of sorted values. */
export function quantileSorted(sorted: ArrayLike<number>, p: number): number {
  const h = (sorted.length - 1) * p;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

export interface DisagreementOptions {
  /** An arm whose coefficient of variation exceeds this disagrees. Default 0.05 (5%). */
  cvThreshold?: number;
  /** A repetition further than this many robust z-scores from its arm's median is an outlier. Default 3.5. */
  outlierZ?: number;
  /**
   * Floor of the robust spread, relative to the median (default 0.02: with the default z of 3.5, a repetition must be 7% off its arm's median): without it, two identical
   * repetitions (MAD 0) would make any third value, however close, an outlier.
   */
  minRelativeSpread?: number;
}

export const DEFAULT_CV_THRESHOLD = 0.05;
export const DEFAULT_OUTLIER_Z = 3.5;

/**
 * Indices of outliers by the modified z-score of Iglewicz and Hoaglin: z = |x − median| / (1.4826·MAD), with
 * MAD floored at minRelativeSpread·|median|. Needs at least 3 values (with 2, neither can be called the odd one).
 */
export function outlierIndices(values: readonly number[], options: DisagreementOptions = {}): number[] {
  if (values.length < 3) return [];
  const z = options.outlierZ ?? DEFAULT_OUTLIER_Z;
  const med = median(values);
  const mad = median(values.map((v) => Math.abs(v - med)));
  const spread = Math.max(1.4826 * mad, (options.minRelativeSpread ?? 0.02) * Math.abs(med));
  if (spread === 0) return [];
  return values.flatMap((v, i) => (Math.abs(v - med) / spread > z ? [i] : []));
}
