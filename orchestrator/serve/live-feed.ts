// The dashboard's views of the store, kept current and pushed to whoever watches. The store is written by
// other processes (`ironlab run`, possibly on other machines), so the feed reads its cheap counts every tick
// (one query) and rebuilds only what changed: the campaign list when any count, status or liveness changes;
// a watched campaign's penalties (the full analysis) when its own ledger changed, at most every few times
// that analysis takes, so a big campaign cannot keep the server busy.
import type { CampaignActivity, CampaignRow } from '../store/store.ts';
import type { DashboardStore } from './dashboard-store.ts';
import { campaignDetail, campaignItem, type CampaignDetail, type CampaignItem } from './campaign-view.ts';
import { orchestratorAlive, THIS_HOST, type Here } from './liveness.ts';
import { QUEUE_EVERY_MS, readQueueView, type QueueView, type ReadQueue } from './scheduler-queue.ts';

export const TICK_MS = 400;
/** A campaign's analysis is redone at most once per this many times its last duration. */
const ANALYSIS_DUTY = 4;

export type FeedEvent =
  | { event: 'campaigns'; data: CampaignItem[] }
  | { event: 'campaign'; data: CampaignDetail | null }
  | { event: 'trouble'; data: { message: string } }
  /** The batch scheduler's queue (only when the command gave a reader). */
  | { event: 'queue'; data: QueueView };

interface Watcher {
  campaignId: string | null;
  send(e: FeedEvent): void;
}

export class LiveFeed {
  private readonly watchers = new Set<Watcher>();
  private timer: NodeJS.Timeout | null = null;
  private busy = false;
  private lastList = '';
  private readonly items = new Map<string, { key: string; item: CampaignItem }>();
  private readonly details = new Map<string, { key: string; json: string; at: number; tookMs: number }>();
  private trouble: string | null = null;
  private queueView: { json: string; view: QueueView; at: number } | null = null;

  constructor(
    private readonly store: DashboardStore,
    private readonly opts: { tickMs?: number; now?: () => number; here?: Here; queue?: ReadQueue; queueEveryMs?: number } = {},
  ) {}

  /** The scheduler's queue, read at most every queueEveryMs; null when there is no scheduler to ask. */
  async queue(): Promise<QueueView | null> {
    return (await this.refreshQueue())?.view ?? null;
  }

  /** Reads the queue when the last read is old enough, and pushes it to every watcher when it changed. */
  private async refreshQueue(): Promise<{ view: QueueView; pushed: boolean } | null> {
    if (!this.opts.queue) return null;
    const now = this.now();
    if (this.queueView && now - this.queueView.at < (this.opts.queueEveryMs ?? QUEUE_EVERY_MS))
      return { view: this.queueView.view, pushed: false };
    const view = await readQueueView(this.opts.queue);
    const json = JSON.stringify(view);
    const pushed = json !== this.queueView?.json;
    this.queueView = { json, view, at: now };
    if (pushed) this.broadcast(() => true, { event: 'queue', data: view });
    return { view, pushed };
  }

  private now(): number {
    return this.opts.now?.() ?? Date.now();
  }

  /** Every campaign, newest first. */
  async list(): Promise<CampaignItem[]> {
    const [campaigns, activity] = await Promise.all([this.store.campaigns(), this.store.activity()]);
    const byId = new Map(activity.map((a) => [a.campaignId, a]));
    const out: CampaignItem[] = [];
    for (const c of campaigns) out.push(await this.item(c, byId.get(c.id)));
    return out.reverse();
  }

  /** One campaign with its runs in flight and its penalties so far; undefined when the store has no such campaign. */
  async detail(campaignId: string): Promise<CampaignDetail | undefined> {
    const c = (await this.store.campaigns()).find((x) => x.id === campaignId);
    if (!c) return undefined;
    const activity = (await this.store.activity()).find((a) => a.campaignId === campaignId);
    const [item, runs, summary] = await Promise.all([
      this.item(c, activity),
      this.store.runTimes(campaignId),
      this.store.summary(campaignId),
    ]);
    return campaignDetail(item, runs, summary);
  }

  /** Start pushing to `send`: the list (and the campaign, when one is named) now, then whenever they change. */
  watch(campaignId: string | null, send: (e: FeedEvent) => void): () => void {
    const w: Watcher = { campaignId, send };
    this.watchers.add(w);
    void this.greet(w);
    if (!this.timer) this.timer = setInterval(() => void this.tick(), this.opts.tickMs ?? TICK_MS);
    return () => {
      this.watchers.delete(w);
      if (this.watchers.size === 0) this.stop();
    };
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async greet(w: Watcher): Promise<void> {
    try {
      w.send({ event: 'campaigns', data: await this.list() });
      const queue = await this.refreshQueue();
      if (queue && !queue.pushed) w.send({ event: 'queue', data: queue.view });
      if (w.campaignId) w.send({ event: 'campaign', data: (await this.detail(w.campaignId)) ?? null });
    } catch (err) {
      w.send({ event: 'trouble', data: { message: (err as Error).message } });
    }
  }

  /** One look at the store; exported for tests that drive time themselves. */
  async tick(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const list = await this.list();
      const json = JSON.stringify(list);
      if (json !== this.lastList) {
        this.lastList = json;
        this.broadcast(() => true, { event: 'campaigns', data: list });
      }
      const watched = new Set([...this.watchers].map((w) => w.campaignId).filter((id): id is string => id !== null));
      for (const id of watched) await this.refreshDetail(id);
      await this.refreshQueue();
      if (this.trouble) this.broadcast(() => true, { event: 'trouble', data: { message: '' } });
      this.trouble = null;
    } catch (err) {
      const message = (err as Error).message;
      if (message !== this.trouble) this.broadcast(() => true, { event: 'trouble', data: { message } });
      this.trouble = message;
    } finally {
      this.busy = false;
    }
  }

  private async refreshDetail(id: string): Promise<void> {
    const key = this.items.get(id)?.key ?? 'missing';
    const last = this.details.get(id);
    if (last?.key === key) return;
    const now = this.now();
    if (last && now - last.at < last.tookMs * ANALYSIS_DUTY) return; // next tick
    const started = Date.now();
    const detail = (await this.detail(id)) ?? null;
    const json = JSON.stringify(detail);
    this.details.set(id, { key, json, at: now, tookMs: Date.now() - started });
    if (json !== last?.json) this.broadcast((w) => w.campaignId === id, { event: 'campaign', data: detail });
  }

  private broadcast(to: (w: Watcher) => boolean, e: FeedEvent): void {
    for (const w of this.watchers) if (to(w)) w.send(e);
  }

  /** The campaign's list entry, rebuilt (its runs read) only when its counts, status or liveness changed. */
  private async item(c: CampaignRow, activity: CampaignActivity | undefined): Promise<CampaignItem> {
    const now = this.now();
    const alive = orchestratorAlive(activity?.orchestrator ?? null, now, this.opts.here ?? THIS_HOST);
    const { orchestrator, ...counts } = activity ?? ({} as Partial<CampaignActivity>);
    const key = JSON.stringify([c.status, c.finishedAt, counts, orchestrator?.pid, orchestrator?.host, alive]);
    const cached = this.items.get(c.id);
    if (cached?.key === key) return cached.item;
    const item = campaignItem(c, activity, await this.store.runTimes(c.id), now, this.opts.here ?? THIS_HOST);
    this.items.set(c.id, { key, item });
    return item;
  }
}
