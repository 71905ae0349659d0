// `ironlab report`: a stored campaign as a table, the JSON contract, tidy CSV or NDJSON, or one self-contained
// HTML file; or two campaigns side by side (`--compare A B`, table or JSON).
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { openStore, storeExists, storeLocation, storeTarget } from '../store/open-store.ts';
import { compareCampaigns, compareJson, compareTable, reportCsv, reportHtml, reportNdjson, HTML_FILE_NAME } from '../report/index.ts';
import { UserInputError } from '../../workloads/common/errors.ts';
import { campaignReportInput, campaignSummary, renderSummary } from './summary.ts';
import { buildChecks, checksJson, renderChecks } from '../report/checks.ts';
import type { CampaignSpec } from '../campaign/spec.ts';

export type ReportFormat = 'table' | 'json' | 'csv' | 'ndjson' | 'html';

export interface ReportOptions {
  /** SQLite file (`--db`); or give `store`. Neither: $IRONLAB_STORE, else ./ironlab.db. */
  db?: string;
  /** `--store`: a postgres:// URL or a SQLite file. */
  store?: string;
  campaign?: string;
  format: ReportFormat;
  /** A file; for html a directory (report.html is written in it) or a file name ending in .html. */
  out?: string;
  list: boolean;
  /** Two campaign ids: A then B. */
  compare?: string[];
}

export async function reportCommand(o: ReportOptions): Promise<void> {
  const target = storeTarget(o);
  if (!storeExists(target))
    throw new UserInputError('no result store here (run `ironlab run` first, or give --db FILE or --store URL)', storeLocation(target));
  if (o.compare && o.compare.length !== 2)
    throw new UserInputError(`--compare takes two campaign ids (A B), got ${o.compare.length}`, '--compare');
  if (o.compare && o.campaign) throw new UserInputError('give --campaign or --compare A B, not both', '--compare');
  if (o.compare && o.format !== 'table' && o.format !== 'json')
    throw new UserInputError(`--compare writes a table or json, not ${o.format}`, '--format');
  const store = await openStore(target);
  try {
    if (o.list) {
      const lines = (await store.campaigns()).map(
        (c) => `${c.id}  ${c.name.padEnd(14)} ${c.mode.padEnd(8)} ${c.status.padEnd(8)} ${c.createdAt}`,
      );
      emit(lines.join('\n') + '\n', o.out);
      return;
    }
    if (o.compare) {
      const [a, b] = await Promise.all(o.compare.map((id) => campaignSummary(store, id, { analysisSamples: true })));
      const c = compareCampaigns({ campaign: a.campaign, summaries: a.summaries }, { campaign: b.campaign, summaries: b.summaries });
      emit(
        o.format === 'json'
          ? JSON.stringify(compareJson(c), null, 2) + '\n'
          : compareTable(c, { color: !o.out && Boolean(process.stdout.isTTY) }) + '\n',
        o.out,
      );
      return;
    }
    const id = o.campaign ?? (await store.latestCampaign())?.id;
    if (!id) throw new UserInputError('the store holds no campaign yet', store.location);
    // CSV, NDJSON and HTML list every sample; the table and JSON only what the analysis reads
    const s = await campaignSummary(store, id, { analysisSamples: !['csv', 'ndjson', 'html'].includes(o.format) });
    // the expectations of the stored campaign file, judged as `ironlab run` judged them
    const checks = buildChecks((await store.campaign(id))!.spec as CampaignSpec, s, null, false);
    switch (o.format) {
      case 'json':
        return emit(JSON.stringify({ ...s.json, ...checksJson(checks) }, null, 2) + '\n', o.out);
      case 'csv':
        return emit(reportCsv(s.campaign, s.records), o.out);
      case 'ndjson':
        return emit(reportNdjson(s.campaign, s.records), o.out);
      case 'html': {
        if (!o.out && process.stdout.isTTY) throw new UserInputError('an HTML report goes to a directory: give --out DIR', '--out');
        const html = reportHtml(await campaignReportInput(store, id, s));
        if (!o.out) return emit(html, undefined);
        const file = htmlTarget(o.out);
        writeFileSync(file, html);
        process.stderr.write(`ironlab: wrote ${file}\n`);
        return;
      }
      default:
        return emit(renderSummary(s, !o.out && Boolean(process.stdout.isTTY)) + '\n' + withNewline(renderChecks(checks)), o.out);
    }
  } finally {
    await store.close();
  }
}

/** `--out DIR` (made if missing) -> DIR/report.html; `--out FILE.html` -> that file. */
export function htmlTarget(out: string): string {
  const isDir = existsSync(out) ? statSync(out).isDirectory() : extname(out).toLowerCase() !== '.html';
  if (!isDir) return resolve(out);
  mkdirSync(out, { recursive: true });
  return resolve(join(out, HTML_FILE_NAME));
}

function withNewline(text: string): string {
  return text ? `${text}\n` : '';
}

function emit(text: string, out: string | undefined): void {
  if (out) writeFileSync(out, text);
  else process.stdout.write(text);
}
