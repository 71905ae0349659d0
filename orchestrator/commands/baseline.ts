// `--baseline FILE|DB[:campaign-id]`: the stored campaign a run is checked against. FILE is a JSON report
// (`ironlab report --format json` or `ironlab run --json`); DB is a result store (a SQLite file, or a PostgreSQL
// URL `postgres://...`), with a campaign id or, without one, its latest done campaign of the same name. Read completely before the run starts: a bad baseline is bad
// input (exit 2, nothing created).
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { UserInputError } from '../../workloads/common/errors.ts';
import { ReportJson } from '../report/json.ts';
import type { CompareSide } from '../report/compare.ts';
import { openStore, storeLocation, storeTarget, type StoreTarget } from '../store/open-store.ts';
import { campaignSummary } from './summary.ts';

export interface Baseline {
  /** As the user gave it. */
  source: string;
  side: CompareSide;
}

const WHERE = '--baseline';

export async function loadBaseline(arg: string, campaignName: string): Promise<Baseline> {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(arg)) {
    const { url, id } = splitStoreUrl(arg);
    let target: StoreTarget;
    try {
      target = storeTarget({ store: url });
    } catch (err) {
      throw err instanceof UserInputError ? new UserInputError(err.message.replace(/^--store: /, ''), WHERE) : err;
    }
    return { source: id ? `${storeLocation(target)}:${id}` : storeLocation(target), side: await fromStore(target, id, campaignName) };
  }
  const { path, id } = splitBaseline(arg);
  if (statSync(path).isDirectory()) throw new UserInputError(`${path} is a directory, not a JSON report or a result store`, WHERE);
  return { source: arg, side: isSqlite(path) ? await fromStore({ kind: 'sqlite', path }, id, campaignName) : fromJson(path, id) };
}

/** `postgres://me@db/ironlab:c2026...` -> the URL and the id: a last `:ID` with no `/`, `@` or `?` after it
 *  (a port is followed by the path, a password by `@`). */
function splitStoreUrl(arg: string): { url: string; id?: string } {
  const m = /^(.+\/\/.*[^:]):([A-Za-z0-9._-]+)$/.exec(arg);
  return m && !/^\d+$/.test(m[2]) ? { url: m[1], id: m[2] } : { url: arg };
}

/** `old.db:c2026...` -> the store and the id; a path that exists as given wins (it may hold a colon). */
function splitBaseline(arg: string): { path: string; id?: string } {
  if (existsSync(arg)) return { path: arg };
  const m = /^(.+):([A-Za-z0-9._-]+)$/.exec(arg);
  if (m && existsSync(m[1])) return { path: m[1], id: m[2] };
  throw new UserInputError(`no such file: ${m ? m[1] : arg} (expected a JSON report or a result store, optionally DB:campaign-id)`, WHERE);
}

function isSqlite(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(16);
    return readSync(fd, head, 0, 16, 0) === 16 && head.toString('latin1') === 'SQLite format 3\0';
  } finally {
    closeSync(fd);
  }
}

async function fromStore(target: StoreTarget, id: string | undefined, campaignName: string): Promise<CompareSide> {
  const path = storeLocation(target);
  const store = await openStore(target);
  try {
    const chosen = id
      ? await store.campaign(id)
      : (await store.campaigns()).filter((c) => c.name === campaignName && c.status === 'done').at(-1);
    if (!chosen) {
      const known = (await store.campaigns()).map((c) => `${c.id} (${c.name}, ${c.status})`).join(', ') || 'none';
      throw new UserInputError(
        id
          ? `no campaign '${id}' in ${path} (campaigns there: ${known})`
          : `no done campaign named '${campaignName}' in ${path}; name one with ${path}:CAMPAIGN-ID (campaigns there: ${known})`,
        WHERE,
      );
    }
    const s = await campaignSummary(store, chosen.id, { analysisSamples: true });
    return { campaign: s.campaign, summaries: s.summaries };
  } finally {
    await store.close();
  }
}

function fromJson(path: string, id: string | undefined): CompareSide {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new UserInputError(`${path} is neither a result store nor a JSON report: ${(err as Error).message}`, WHERE);
  }
  const parsed = ReportJson.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UserInputError(
      `${path} is not an ironlab JSON report (ironlab report --format json): ${issue.path.join('.') || '(top level)'}: ${issue.message}`,
      WHERE,
    );
  }
  const report = parsed.data;
  if (id && id !== report.campaign.id) throw new UserInputError(`${path} holds campaign ${report.campaign.id}, not ${id}`, WHERE);
  return {
    campaign: report.campaign,
    summaries: report.scenarios.map((s) => ({
      scenarioId: s.id,
      workload: s.workload,
      params: s.params,
      enforcement: s.enforcement,
      penalty: { mean: s.penalty.mean, ci95: s.penalty.ci95, n: s.penalty.n },
    })),
  };
}
