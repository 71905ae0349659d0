// The conditions a run was measured under, read from its own samples: the load its floods reached against
// what they were offered, steal time and foreign CPU (anything outside the experiment) on the victim's cores,
// softirq counts and the ksoftirqd share. Their spread across a scenario's repetitions is what tells a reader
// why two repetitions (or two campaigns) differ; the run guards read the same numbers.
import { METRIC, type Sample } from '../../agents/samples.ts';
import { coefficientOfVariation, mean } from './statistics.ts';

export interface RunConditions {
  /** Sum over the floods of the achieved rate (iperf3's report where present, else the NIC's), Gbit/s. */
  achievedGbps: number | null;
  /** Sum over the floods that were given a rate of that rate, Gbit/s (null = unlimited / no flood). */
  offeredGbps: number | null;
  /** Achieved / offered over the floods that were given a rate. */
  loadRatio: number | null;
  /** Largest steal time / window over the victim's cores. */
  stealShare: number | null;
  /** Largest foreign CPU time / window over the victim's cores (all `who` together). */
  foreignCpuShare: number | null;
  /** Foreign CPU time / window on the victim's cores, per `who` (summed over the cores). */
  foreignCpuByWho: Record<string, number> | null;
  /** Softirqs raised per second on the victim's cores (all vectors). */
  softirqPerSec: number | null;
  /** ksoftirqd time / window on the victim's core. */
  ksoftirqdShare: number | null;
}

/** Every metric this file reads from a run's samples (a reader may fetch only these: see ANALYSIS_METRICS). */
export const CONDITION_METRICS: readonly string[] = [
  METRIC.windowS,
  METRIC.offeredGbps,
  METRIC.achievedGbps,
  METRIC.stealTimeS,
  METRIC.foreignCpuTimeS,
  METRIC.softirqCount,
  METRIC.ksoftirqdShare,
];

/** The window of a run: its window_s sample, else the planned duration. */
export function windowOf(samples: readonly Sample[], plannedS: number): number {
  const w = samples.find((s) => s.metric === METRIC.windowS)?.value;
  return w !== undefined && w > 0 ? w : plannedS;
}

/** A metric's share of the window per victim core (only cores that reported it); empty when none did. */
export function perCoreShare(samples: readonly Sample[], metric: string, cores: readonly number[], windowS: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const s of samples) {
    if (s.metric !== metric) continue;
    const core = Number(s.labels.core);
    if (!cores.includes(core)) continue;
    out.set(core, (out.get(core) ?? 0) + s.value / windowS);
  }
  return out;
}

/** Per flood container: its offered rate (absent = unlimited) and its achieved rate by source. */
export function floodLoads(
  samples: readonly Sample[],
): Map<string, { offered: number | null; achieved: number | null; source: string | null }> {
  const out = new Map<string, { offered: number | null; achieved: number | null; source: string | null }>();
  const entry = (c: string) => out.get(c) ?? (out.set(c, { offered: null, achieved: null, source: null }), out.get(c)!);
  for (const s of samples) {
    const c = s.labels.container;
    if (!c) continue;
    if (s.metric === METRIC.offeredGbps) entry(c).offered = s.value;
    else if (s.metric === METRIC.achievedGbps) {
      const e = entry(c);
      // iperf3's own report first: it is what the generator says it did; the NIC's counters otherwise
      if (e.source !== 'iperf3') {
        e.achieved = s.value;
        e.source = s.labels.source ?? null;
      }
    }
  }
  return out;
}

export function runConditions(samples: readonly Sample[], victimCores: readonly number[], windowS: number): RunConditions {
  const loads = [...floodLoads(samples).values()];
  const achieved = loads.filter((l) => l.achieved !== null);
  const offered = loads.filter((l) => l.offered !== null && l.offered > 0 && l.achieved !== null);
  const steal = perCoreShare(samples, METRIC.stealTimeS, victimCores, windowS);
  const foreign = perCoreShare(samples, METRIC.foreignCpuTimeS, victimCores, windowS);
  const softirqs = samples.filter((s) => s.metric === METRIC.softirqCount && victimCores.includes(Number(s.labels.core)));
  const shares = samples.filter(
    (s) => s.metric === METRIC.ksoftirqdShare && (s.labels.core === undefined || victimCores.includes(Number(s.labels.core))),
  );
  let byWho: Record<string, number> | null = null;
  for (const s of samples)
    if (s.metric === METRIC.foreignCpuTimeS && victimCores.includes(Number(s.labels.core))) {
      byWho ??= {};
      const who = s.labels.who ?? 'other';
      byWho[who] = (byWho[who] ?? 0) + s.value / windowS;
    }
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  return {
    achievedGbps: achieved.length ? sum(achieved.map((l) => l.achieved!)) : null,
    offeredGbps: offered.length ? sum(offered.map((l) => l.offered!)) : null,
    loadRatio: offered.length ? sum(offered.map((l) => l.achieved!)) / sum(offered.map((l) => l.offered!)) : null,
    stealShare: steal.size ? Math.max(...steal.values()) : null,
    foreignCpuShare: foreign.size ? Math.max(...foreign.values()) : null,
    foreignCpuByWho: byWho,
    softirqPerSec: softirqs.length ? sum(softirqs.map((s) => s.value)) / windowS : null,
    ksoftirqdShare: shares.length ? mean(shares.map((s) => s.value)) : null,
  };
}

/** How one condition varied over an arm's repetitions. */
export interface Spread {
  min: number;
  max: number;
  mean: number;
  /** Coefficient of variation; null with one value or a zero mean. */
  cv: number | null;
  /** Repetitions that reported it. */
  n: number;
}

export function spreadOf(values: readonly (number | null)[]): Spread | null {
  const xs = values.filter((v): v is number => v !== null);
  if (xs.length === 0) return null;
  return { min: Math.min(...xs), max: Math.max(...xs), mean: mean(xs), cv: coefficientOfVariation(xs), n: xs.length };
}

export interface ConditionsSpread {
  achievedGbps: Spread | null;
  offeredGbps: Spread | null;
  loadRatio: Spread | null;
  stealShare: Spread | null;
  foreignCpuShare: Spread | null;
  foreignCpuByWho: Record<string, Spread>;
  softirqPerSec: Spread | null;
  ksoftirqdShare: Spread | null;
}

export function conditionsSpread(runs: readonly RunConditions[]): ConditionsSpread {
  const who = [...new Set(runs.flatMap((r) => Object.keys(r.foreignCpuByWho ?? {})))].sort();
  return {
    achievedGbps: spreadOf(runs.map((r) => r.achievedGbps)),
    offeredGbps: spreadOf(runs.map((r) => r.offeredGbps)),
    loadRatio: spreadOf(runs.map((r) => r.loadRatio)),
    stealShare: spreadOf(runs.map((r) => r.stealShare)),
    foreignCpuShare: spreadOf(runs.map((r) => r.foreignCpuShare)),
    foreignCpuByWho: Object.fromEntries(
      who.map((w) => [w, spreadOf(runs.map((r) => (r.foreignCpuByWho ? (r.foreignCpuByWho[w] ?? 0) : null)))!]),
    ),
    softirqPerSec: spreadOf(runs.map((r) => r.softirqPerSec)),
    ksoftirqdShare: spreadOf(runs.map((r) => r.ksoftirqdShare)),
  };
}

/** A share as a percentage: one decimal below 10%. */
const pct = (x: number) => `${(x * 100).toFixed(x < 0.1 ? 1 : 0)}%`;

/**
 * Sentences that say why an arm's repetitions may differ, from its own counters (empty when nothing stands
 * out): steal or foreign CPU on a victim core, a load that missed its rate or varied, a ksoftirqd share that
 * moved between regimes.
 */
export function conditionNotes(arm: string, c: ConditionsSpread, thresholds: { steal: number; foreign: number; load: number }): string[] {
  const notes: string[] = [];
  if (c.stealShare && c.stealShare.max > thresholds.steal) notes.push(`${arm}: steal up to ${pct(c.stealShare.max)} of a victim core`);
  if (c.foreignCpuShare && c.foreignCpuShare.max > thresholds.foreign) {
    const top = Object.entries(c.foreignCpuByWho).sort((a, b) => b[1].max - a[1].max)[0];
    notes.push(`${arm}: foreign CPU up to ${pct(c.foreignCpuShare.max)} of a victim core${top ? ` (most: ${top[0]})` : ''}`);
  }
  if (c.loadRatio && Math.abs(1 - c.loadRatio.min) > thresholds.load)
    notes.push(`${arm}: achieved load down to ${pct(c.loadRatio.min)} of the offered rate`);
  else if (c.achievedGbps?.cv != null && c.achievedGbps.cv > thresholds.load)
    notes.push(
      `${arm}: achieved load varies by ${pct(c.achievedGbps.cv)} (${c.achievedGbps.min.toFixed(2)}–${c.achievedGbps.max.toFixed(2)} Gbit/s)`,
    );
  if (c.ksoftirqdShare && c.ksoftirqdShare.max - c.ksoftirqdShare.min > 0.1)
    notes.push(
      `${arm}: ksoftirqd share ranges ${pct(c.ksoftirqdShare.min)}–${pct(c.ksoftirqdShare.max)} of the victim core (softirq moved between task context and ksoftirqd)`,
    );
  return notes;
}

/**
 * The penalty the network softirq time on the victim's core could cause at most: without
 * CONFIG_IRQ_TIME_ACCOUNTING a softirq is charged to the task it interrupts, so a victim that ran V s in the
 * control and paid for all S s of its core's network softirq in the interference arm keeps V − S s of its own
 * work: V / (V − S). A victim that loses more has lost time to something else (contention with ksoftirqd or
 * the neighbours, or costs its core's counters do not see). Null without both figures, or when S ≥ V.
 */
export function softirqCeiling(controlVictimS: number | null | undefined, interferenceSoftirqS: number | null | undefined): number | null {
  if (controlVictimS == null || interferenceSoftirqS == null || controlVictimS <= 0) return null;
  return interferenceSoftirqS < controlVictimS ? controlVictimS / (controlVictimS - interferenceSoftirqS) : null;
}

/** Below this ceiling a flood is light: the note says how far its softirq time alone could move the penalty. */
export const LIGHT_FLOOD_CEILING = 1.5;

/**
 * What the ceiling says about a scenario's penalty: without enforcement, a light flood (its softirq time alone
 * cannot move the penalty far: why a penalty stays small on this host); in any mode, a penalty clearly above
 * what the softirq time explains. Empty otherwise.
 */
export function ceilingNotes(
  ceiling: number | null,
  penalty: { mean: number | null; ci95: [number, number] | null },
  shares: { softirq: number; victim: number },
  enforcement: string,
): string[] {
  if (ceiling === null) return [];
  const c = ceiling.toFixed(2);
  const spent = `network softirq took ${pct(shares.softirq)} of the victim core and the victim ran ${pct(shares.victim)} of it in the control`;
  if (penalty.ci95 && penalty.ci95[0] > ceiling * 1.05)
    return [
      `the victim lost more than its core's softirq time explains (${spent}: at most ${c} had it paid for all of it): contention with ksoftirqd or the neighbours, or costs its counters do not see`,
    ];
  if (enforcement === 'none' && ceiling < LIGHT_FLOOD_CEILING)
    return [`a light flood: ${spent}, so even had it paid for all of it the penalty would be ${c}`];
  return [];
}
