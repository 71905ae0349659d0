// From the store to a campaign's summary: the stored runs become analysis records, the analysis gives one
// summary per (scenario, enforcement) with its statistics (Fieller and seeded bootstrap intervals, CV,
// disagreement flags), and the report modules render it (table, JSON contract, CSV, NDJSON, HTML).
import type { StoreReader, StoredRun } from '../store/store.ts';
import { ANALYSIS_METRICS, summarizePenalties, type AnalysisOptions, type ScenarioSummary } from '../analysis/penalty.ts';
import { runSettingsKey } from '../campaign/matrix.ts';
import { DEFAULT_GUARDS, type CampaignSpec } from '../campaign/spec.ts';
import { reportJson, reportTable, type CsvRunRecord } from '../report/index.ts';
import type { StatisticsInfo } from '../report/json.ts';
import type { HtmlReportInput, HtmlRun } from '../report/html.ts';
import { UserInputError } from '../../workloads/common/errors.ts';

export function statisticsOf(
  options: AnalysisOptions,
  spec: Partial<CampaignSpec> | undefined,
  records: readonly CsvRunRecord[],
): StatisticsInfo {
  const looks = options.looks ?? 1;
  const level = 1 - 0.05 / looks;
  return {
    design: options.design ?? 'shuffled',
    interval:
      options.design === 'blocked'
        ? 'paired: geometric mean of the within-block ratios, t interval on their logs (df = blocks - 1), back-transformed'
        : "unpaired: ratio of the arms' means, Fieller interval (Welch df)",
    level,
    adaptiveCorrection:
      looks > 1
        ? `adaptive repetitions stop once an interval is tight (optional stopping): every interval is made at ${(level * 100).toFixed(2)}% (Bonferroni over the at most ${looks} looks), so the one where a scenario stopped covers at least 95%`
        : null,
    guards: { ...DEFAULT_GUARDS, ...spec?.guards },
    guarded: {
      repeatedAttempts: records.reduce((a, r) => a + (r.guardRepeats?.length ?? 0), 0),
      runsKeptOutOfGuard: records.filter((r) => r.guardReason).length,
      reasons: [...new Set(records.flatMap((r) => [...(r.guardRepeats ?? []), ...(r.guardReason ? [r.guardReason] : [])]))],
    },
  };
}

export interface CampaignSummary {
  campaign: { id: string; name: string; mode: string; createdAt: string; status: string; statistics: StatisticsInfo };
  records: CsvRunRecord[];
  summaries: ScenarioSummary[];
  json: ReturnType<typeof reportJson>;
  counts: { total: number; done: number; failed: number; todo: number };
}

/**
 * Where a host's runs may be pooled: a real host is a place of its own; simulated hosts of one profile are the
 * same deterministic model, so they pool (the paper campaign's two sim hosts give one row per scenario).
 */
export function strataOf(spec: Partial<Pick<CampaignSpec, 'hosts'>> | undefined): (hostId: string | null) => string | undefined {
  return (hostId) => {
    if (hostId === null) return undefined;
    const host = spec?.hosts?.find((h) => h.id === hostId);
    return host?.backend === 'sim' ? `sim:${host.profile ?? 'paper'}` : hostId;
  };
}

/** How a campaign's penalties are analysed: its design, the adaptive-stopping correction, the guards' thresholds. */
export function analysisOptions(spec: Partial<CampaignSpec> | undefined, seed: number): AnalysisOptions {
  const guards = { ...DEFAULT_GUARDS, ...spec?.guards };
  const until = spec?.until;
  return {
    seed,
    design: spec?.design ?? 'shuffled',
    // at most one look per repetition between the planned ones and the cap (see AnalysisOptions.looks)
    looks: until ? Math.max(1, until.maxRepetitions - (spec?.repetitions ?? 1) + 1) : 1,
    noteThresholds: {
      steal: guards.maxStealShare ?? 0.02,
      foreign: guards.maxForeignCpuShare ?? 0.05,
      load: guards.achievedLoadTolerance ?? 0.1,
    },
  };
}

export function toRecord(
  r: StoredRun,
  stratumOf: (hostId: string | null) => string | undefined = () => undefined,
  guardRepeats: string[] = [],
): CsvRunRecord {
  const stratum = stratumOf(r.hostId);
  return {
    runId: r.runId,
    scenarioId: r.spec.scenarioId,
    workload: r.spec.workload,
    params: r.spec.params,
    enforcement: r.spec.enforcement,
    repetition: r.spec.repetition,
    status: r.status,
    victimCore: r.spec.victim.cpus[0],
    ...(r.spec.victim.workload ? { victimWorkload: r.spec.victim.workload } : {}),
    samples: r.samples,
    hostId: r.hostId,
    settingsKey: runSettingsKey(r.spec),
    durationS: r.spec.durationS,
    ...(stratum !== undefined ? { stratum } : {}),
    ...(r.guardReason ? { guardReason: r.guardReason } : {}),
    ...(guardRepeats.length ? { guardRepeats } : {}),
  };
}

/**
 * A campaign's summary from its store. `analysisSamples`: each record carries only the samples the analysis reads
 * (ANALYSIS_METRICS), which is enough for everything but the per-sample reports (CSV, NDJSON, HTML): the same
 * summaries, at less than half the read (at the end of a lab campaign, reading every sample back was about a
 * second of the orchestrator's CPU).
 */
export async function campaignSummary(
  store: StoreReader,
  campaignId: string,
  opts: { analysisSamples?: boolean } = {},
): Promise<CampaignSummary> {
  const c = await store.campaign(campaignId);
  if (!c) throw new UserInputError(`no campaign '${campaignId}' in this store`, '--campaign');
  const spec = c.spec as Partial<CampaignSpec> | undefined;
  const repeats = new Map<string, string[]>();
  for (const a of await store.attempts(campaignId))
    if (a.outcome === 'guard') repeats.set(a.runId, [...(repeats.get(a.runId) ?? []), a.error ?? 'out of guard']);
  const stratumOf = strataOf(spec);
  const runs = await store.runs(campaignId, opts.analysisSamples ? { metrics: ANALYSIS_METRICS } : undefined);
  const records = runs.map((r) => toRecord(r, stratumOf, repeats.get(r.runId)));
  // the campaign's seed seeds the bootstrap: the same campaign reports the same intervals every time
  const options = analysisOptions(spec, c.seed);
  const summaries = summarizePenalties(records, options);
  const campaign = {
    id: c.id,
    name: c.name,
    mode: c.mode,
    createdAt: c.createdAt,
    status: c.status,
    statistics: statisticsOf(options, spec, records),
  };
  const count = (s: string) => records.filter((r) => r.status === s).length;
  return {
    campaign,
    records,
    summaries,
    json: reportJson(campaign, summaries),
    counts: { total: records.length, done: count('done'), failed: count('failed'), todo: records.length - count('done') - count('failed') },
  };
}

/** Everything the HTML report shows: the summary plus hosts, provenance and the ledger's attempts and errors. */
export async function campaignReportInput(store: StoreReader, campaignId: string, given?: CampaignSummary): Promise<HtmlReportInput> {
  const summary = given ?? (await campaignSummary(store, campaignId));
  const c = (await store.campaign(campaignId))!;
  const stored = new Map((await store.runs(campaignId)).map((r) => [r.runId, r]));
  const runs: HtmlRun[] = summary.records.map((r) => {
    const s = stored.get(r.runId);
    return { ...r, attempts: s?.attempts, lastError: s?.lastError ?? null, provenance: s?.provenance ?? {} };
  });
  return {
    campaign: { ...summary.campaign, seed: c.seed, specHash: c.specHash, sourcePath: c.sourcePath, provenance: c.provenance },
    summaries: summary.summaries,
    runs,
    hosts: await store.hosts(campaignId),
  };
}

export function renderSummary(s: CampaignSummary, color = Boolean(process.stdout.isTTY)): string {
  const head = `campaign ${s.campaign.id} (${s.campaign.name}, ${s.campaign.mode}, ${s.campaign.status}): ${s.counts.done}/${s.counts.total} runs done${s.counts.failed ? `, ${s.counts.failed} failed` : ''}`;
  return `${head}\n${reportTable(s.summaries, { color, statistics: s.campaign.statistics })}`;
}
