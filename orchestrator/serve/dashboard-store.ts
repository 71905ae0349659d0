// What the dashboard reads from a result store, as a few small async functions: the campaigns, their ledgers
// in counts, their runs' times, and the existing analysis and HTML report of one campaign. Only this file knows
// the store's class; a store behind another interface (PostgreSQL) needs another `open` here and nothing else.
// A store file that does not exist yet is read as empty until a campaign creates it (`ironlab serve` may start
// before the first `ironlab run`); the dashboard never creates it.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { Store, type CampaignActivity, type CampaignRow, type RunTimes } from '../store/store.ts';
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
  const path = resolve(file);
  let store: Store | null = null;
  const open = (): Store | null => {
    if (!store && existsSync(path)) store = Store.open(path);
    return store;
  };
  const withStore = <T>(empty: T, read: (s: Store) => T): Promise<T> => {
    try {
      const s = open();
      return Promise.resolve(s ? read(s) : empty);
    } catch (err) {
      return Promise.reject(err);
    }
  };
  const required = (): Store => {
    const s = open();
    if (!s) throw new Error(`no result store at ${path} yet`);
    return s;
  };
  return {
    description: path,
    campaigns: () => withStore([], (s) => s.campaigns()),
    activity: () => withStore([], (s) => s.activity()),
    runTimes: (id) => withStore([], (s) => s.runTimes(id)),
    summary: async (id) => campaignSummary(required(), id),
    reportHtml: async (id) => {
      const s = required();
      return reportHtml(campaignReportInput(s, id));
    },
    close: () => {
      store?.close();
      store = null;
    },
  };
}
