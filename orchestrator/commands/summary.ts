// From the store to a campaign's summary: the stored runs become analysis records, the analysis gives one
// summary per (scenario, enforcement) with its statistics (Fieller and seeded bootstrap intervals, CV,
// disagreement flags), and the report modules render it (table, JSON contract, CSV, NDJSON, HTML).
import type { Store, StoredRun } from '../store/store.ts';
import { summarizePenalties, type ScenarioSummary } from '../analysis/penalty.ts';
import { reportJson, reportTable, type CsvRunRecord } from '../report/index.ts';
import type { HtmlReportInput, HtmlRun } from '../report/html.ts';
import { UserInputError } from '../errors.ts';

export interface CampaignSummary {
  campaign: { id: string; name: string; mode: string; createdAt: string; status: string };
  records: CsvRunRecord[];
  summaries: ScenarioSummary[];
  json: ReturnType<typeof reportJson>;
  counts: { total: number; done: number; failed: number; todo: number };
}

export function toRecord(r: StoredRun): CsvRunRecord {
  return {
    runId: r.runId,
    scenarioId: r.spec.scenarioId,
    workload: r.spec.workload,
    params: r.spec.params,
    enforcement: r.spec.enforcement,
    repetition: r.spec.repetition,
    status: r.status,
    victimCore: r.spec.victim.cpus[0],
    samples: r.samples,
    hostId: r.hostId,
  };
}

export function campaignSummary(store: Store, campaignId: string): CampaignSummary {
  const c = store.campaign(campaignId);
  if (!c) throw new UserInputError(`no campaign '${campaignId}' in this store`, '--campaign');
  const records = store.runs(campaignId).map(toRecord);
  // the campaign's seed seeds the bootstrap: the same campaign reports the same intervals every time
  const summaries = summarizePenalties(records, { seed: c.seed });
  const campaign = { id: c.id, name: c.name, mode: c.mode, createdAt: c.createdAt, status: c.status };
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
export function campaignReportInput(store: Store, campaignId: string, summary = campaignSummary(store, campaignId)): HtmlReportInput {
  const c = store.campaign(campaignId)!;
  const stored = new Map(store.runs(campaignId).map((r) => [r.runId, r]));
  const runs: HtmlRun[] = summary.records.map((r) => {
    const s = stored.get(r.runId);
    return { ...r, attempts: s?.attempts, lastError: s?.lastError ?? null, provenance: s?.provenance ?? {} };
  });
  return {
    campaign: { ...summary.campaign, seed: c.seed, specHash: c.specHash, sourcePath: c.sourcePath, provenance: c.provenance },
    summaries: summary.summaries,
    runs,
    hosts: store.hosts(campaignId),
  };
}

export function renderSummary(s: CampaignSummary, color = Boolean(process.stdout.isTTY)): string {
  const head = `campaign ${s.campaign.id} (${s.campaign.name}, ${s.campaign.mode}, ${s.campaign.status}): ${s.counts.done}/${s.counts.total} runs done${s.counts.failed ? `, ${s.counts.failed} failed` : ''}`;
  return `${head}\n${reportTable(s.summaries, { color })}`;
}
