// What the dashboard reads from a result store, as a few small async functions: the campaigns, their ledgers
// in counts, their runs' times, and the existing analysis and HTML report of one campaign. Only this file knows
// the store's class; a store behind another interface (PostgreSQL) needs another `open` here and nothing else.
// A store file that does not exist yet is read as empty until a campaign creates it (`ironlab serve` may start
// before the first `ironlab run`); the dashboard never creates it.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { CampaignActivity, CampaignRow, RunTimes, Store } from '../store/store.ts';
import { openStore, storeLocation, type StoreTarget } from '../store/open-store.ts';
import { campaignReportInput, campaignSummary, type CampaignSummary } from '../commands/summary.ts';
import { reportHtml } from '../report/index.ts';

export interface DashboardStore {
  /** Where the results are, for the page's header. */
  readonly description: string;
  campaigns(): Promise<CampaignRow[]>;
  activity(): Promise<CampaignActivity[]>;
  runTimes(campaignId: string): Promise<RunTimes[]>;
  /** The analysis `ironlab report` prints (penalties, 95% intervals) of the runs done so far. */
  summary(campaignId: string): Promise<CampaignSummary>;
  /** `ironlab report --format html` of the campaign. */
  reportHtml(campaignId: string): Promise<string>;
  close(): void;
}

export function sqliteDashboardStore(file: string): DashboardStore {
  return storeDashboard({ kind: 'sqlite', path: resolve(file) });
}

/** Any result store (SQLite file or PostgreSQL), opened on first use; a SQLite file that is not there reads as empty. */
export function storeDashboard(target: StoreTarget): DashboardStore {
  let store: Promise<Store> | null = null;
  const open = async (): Promise<Store | null> => {
    if (!store && (target.kind === 'postgres' || existsSync(target.path))) store = openStore(target);
    return store;
  };
  const withStore = async <T>(empty: T, read: (s: Store) => Promise<T>): Promise<T> => {
    const s = await open();
    return s ? read(s) : empty;
  };
  const required = async (): Promise<Store> => {
    const s = await open();
    if (!s) throw new Error(`no result store at ${storeLocation(target)} yet`);
    return s;
  };
  return {
    description: storeLocation(target),
    campaigns: () => withStore([], (s) => s.campaigns()),
    activity: () => withStore([], (s) => s.activity()),
    runTimes: (id) => withStore([], (s) => s.runTimes(id)),
    summary: async (id) => campaignSummary(await required(), id),
    reportHtml: async (id) => reportHtml(await campaignReportInput(await required(), id)),
    close: () => {
      void store?.then((s) => s.close()).catch(() => {});
      store = null;
    },
  };
}
