// The JSON report: the contract other tools read (`ironlab run --json`, notebooks, CI checks).
// Keep these fields; add new ones beside them, never rename. ReportJson is the zod schema of the contract.
import { z } from 'zod';
import { ScenarioParams, WorkloadKind } from '../../workloads/catalog.ts';
import { Enforcement } from '../../agents/enforcement/modes.ts';
import type { ScenarioSummary } from '../analysis/penalty.ts';
import { sortScenarios } from './order.ts';

export interface CampaignInfo {
  id: string;
  name: string;
  /** Where the runs ran: the server hosts' backend (`sim` | `docker`). */
  mode: string;
  /** ISO 8601. */
  createdAt: string;
  /** How the numbers were made (absent in reports of bare summaries, e.g. tests). */
  statistics?: StatisticsInfo;
}

/** What the report says about how its numbers were made: design, interval, level, corrections, guards. */
export interface StatisticsInfo {
  /** blocked: within-block (paired) ratios; shuffled: the arms' means (unpaired). */
  design: 'blocked' | 'shuffled';
  /** The headline interval, in words. */
  interval: string;
  /** Confidence level of every ci95 (0.95, higher under the adaptive-stopping correction). */
  level: number;
  /** Adaptive stopping: the correction applied, in words; null without `until:`. */
  adaptiveCorrection: string | null;
  guards: { achievedLoadTolerance: number | null; maxStealShare: number | null; maxForeignCpuShare: number | null };
  /** Attempts repeated out of guard, runs still out of guard on their last attempt (kept, counted, marked), and why. */
  guarded: { repeatedAttempts: number; runsKeptOutOfGuard: number; reasons: string[] };
}

const nullableNumber = z.number().nullable();
const Verdict = z.enum(['passed', 'failed', 'inconclusive']);
export const ReportJson = z.object({
  campaign: z.object({ id: z.string(), name: z.string(), mode: z.string(), createdAt: z.string() }),
  scenarios: z.array(
    z.object({
      id: z.string(),
      workload: WorkloadKind,
      enforcement: Enforcement,
      /** rateGbps absent = unlimited. */
      params: ScenarioParams,
      penalty: z.object({
        /** Control mean / interference mean; null when an arm has no completed run. */
        mean: nullableNumber,
        /** 95% confidence interval; null when it cannot be computed (n < 2, unbounded). */
        ci95: z.tuple([z.number(), z.number()]).nullable(),
        n: z.number().int().min(0),
      }),
      victim: z.object({
        /** The primary metric's mean per arm under the names of the first, sysbench-only contract (kept for old readers). */
        controlEventsPerSec: nullableNumber,
        interferenceEventsPerSec: nullableNumber,
        /** The same means under workload-neutral names, with what they are (optional: absent in older reports). */
        metric: z.string().optional(),
        unit: z.string().optional(),
        direction: z.enum(['higher-is-better', 'lower-is-better']).optional(),
        controlValue: nullableNumber.optional(),
        interferenceValue: nullableNumber.optional(),
      }),
      ksoftirqdShare: nullableNumber,
    }),
  ),
  /** The CI checks (report/checks.ts): present in reports of `ironlab run` and `ironlab report`. */
  checks: z
    .object({
      verdict: z.enum(['passed', 'failed']),
      allowInconclusive: z.boolean(),
      passed: z.number().int(),
      failed: z.number().int(),
      inconclusive: z.number().int(),
    })
    .optional(),
  expectations: z
    .array(
      z.object({
        name: z.string(),
        bounds: z.string(),
        verdict: Verdict,
        scenarios: z.array(z.object({ scenarioId: z.string(), enforcement: Enforcement, verdict: Verdict })),
      }),
    )
    .optional(),
  baseline: z
    .object({
      source: z.string(),
      scenarios: z.array(
        z.object({ id: z.string(), enforcement: Enforcement, verdict: Verdict, change: z.enum(['worse', 'better', 'same']).nullable() }),
      ),
    })
    .nullable()
    .optional(),
});
export type ReportJson = z.infer<typeof ReportJson>;

/** The report as a plain object (JSON.stringify it); scenarios in display order. */
export function reportJson(campaign: CampaignInfo, summaries: readonly ScenarioSummary[]) {
  return {
    campaign: { id: campaign.id, name: campaign.name, mode: campaign.mode, createdAt: campaign.createdAt },
    // beyond the contract:
    ...(campaign.statistics ? { statistics: campaign.statistics } : {}),
    scenarios: sortScenarios(summaries).map((s) => ({
      id: s.scenarioId,
      workload: s.workload,
      enforcement: s.enforcement,
      params: { ...s.params },
      penalty: {
        mean: s.penalty.mean,
        ci95: s.penalty.ci95 ? ([s.penalty.ci95[0], s.penalty.ci95[1]] as [number, number]) : null,
        n: s.penalty.n,
        // beyond the contract:
        df: s.penalty.df === Infinity ? null : s.penalty.df,
        ...(s.penalty.note ? { note: s.penalty.note } : {}),
        /** fieller (unpaired) | paired-log-t (blocked design); level of ci95. */
        method: s.penalty.method,
        level: s.penalty.level,
      },
      victim: {
        controlEventsPerSec: s.victim.controlEventsPerSec,
        interferenceEventsPerSec: s.victim.interferenceEventsPerSec,
        metric: s.victimMetric.metric,
        unit: s.victimMetric.unit,
        direction: s.victimMetric.higherIsBetter ? ('higher-is-better' as const) : ('lower-is-better' as const),
        controlValue: s.victim.controlEventsPerSec,
        interferenceValue: s.victim.interferenceEventsPerSec,
      },
      ksoftirqdShare: s.ksoftirqdShare,
      // beyond the contract:
      /** What `victim.*EventsPerSec` and the penalty measure: the victim workload's primary metric (events/s, p99 ms, ...). */
      victimMetric: { ...s.victimMetric },
      controlN: s.control?.n ?? 0,
      cv: s.cv,
      timeBreakdownS: s.timeBreakdown,
      /** The penalty the network softirq time on the victim's core could cause had the victim paid for all of it. */
      softirqCeiling: s.softirqCeiling,
      notDone: s.notDone,
      /** Percentile bootstrap 95% interval of the same ratio (seeded); `penalty.ci95` (Fieller) is the headline. */
      bootstrap: s.bootstrap
        ? { ci95: [s.bootstrap.ci[0], s.bootstrap.ci[1]] as [number, number], resamples: s.bootstrap.resamples, seed: s.bootstrap.seed }
        : null,
      disagreement: s.disagreement
        ? { flagged: s.disagreement.flagged, reasons: [...s.disagreement.reasons] }
        : { flagged: false, reasons: [] },
      /** The host of this row's runs (simulated hosts of one profile: `sim:PROFILE`); null when unknown. */
      host: s.stratum,
      controlScenario: s.controlScenarioId,
      /** Spread over the repetitions of each arm: achieved load, steal, foreign CPU, softirqs/s, ksoftirqd share. */
      conditions: { control: s.control?.conditions ?? null, interference: s.interference?.conditions ?? null },
      guards: { control: s.control?.guards ?? null, interference: s.interference?.guards ?? null },
      conditionNotes: [...s.conditionNotes],
    })),
  } satisfies ReportJson;
}
