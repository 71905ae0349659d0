// The Slurm queue on the dashboard page, in headless Chromium: a dashboard server given a queue reader (as
// `ironlab serve` is when Slurm is configured) shows ironlab's jobs, and the table follows the queue as it changes,
// pushed by the server, with no reload. Skips outside CI only without chromium (it says why).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DashboardServer } from '../../orchestrator/serve/server.ts';
import { sqliteDashboardStore } from '../../orchestrator/serve/dashboard-store.ts';
import type { QueuedJob } from '../../orchestrator/serve/scheduler-queue.ts';
import { openChromium, skipWithoutChromium, type OpenChromium } from './chromium.ts';

const job = (jobId: string, state: string, where: string): QueuedJob => ({
  jobId,
  user: 'ana',
  state,
  elapsed: '0:07',
  timeLimit: '2:00:00',
  nodes: '2',
  where,
  campaign: `ironlab c-${jobId}`,
});

describe.skipIf(skipWithoutChromium('dashboard-queue-browser.test.ts'))('the Slurm queue on the dashboard page', () => {
  let dir: string;
  let server: DashboardServer;
  let browser: OpenChromium;
  let jobs: QueuedJob[] = [job('7', 'RUNNING', 'node[1-2]'), job('8', 'PENDING', '(Resources)')];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ironlab-dashboard-queue-'));
    const store = sqliteDashboardStore(join(dir, 'ironlab.db'));
    server = new DashboardServer({ store, host: '127.0.0.1', port: 0, token: null, tickMs: 50, queue: () => jobs, queueEveryMs: 100 });
    const url = await server.listen();
    browser = await openChromium({ width: 1200, height: 800 });
    await browser.page.goto(`${url}/`, { waitUntil: 'load' });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("shows ironlab's jobs, running where and pending why, and follows the queue without a reload", async () => {
    const { page } = browser;
    await page.waitForSelector('#queue:not([hidden]) #jobs tr[data-job="8"]');
    const rows = () => page.$$eval('#jobs tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)));
    expect(await rows()).toEqual([
      ['7', 'ana', 'RUNNING', '0:07', '2:00:00', '2', 'node[1-2]', 'ironlab c-7'],
      ['8', 'ana', 'PENDING', '0:07', '2:00:00', '2', '(Resources)', 'ironlab c-8'],
    ]);
    await page.evaluate(() => ((window as unknown as { marker: number }).marker = 1));
    jobs = [job('8', 'RUNNING', 'node[3-4]')];
    await page.waitForSelector('#jobs tr[data-job="8"][data-state="RUNNING"]');
    expect(await rows()).toEqual([['8', 'ana', 'RUNNING', '0:07', '2:00:00', '2', 'node[3-4]', 'ironlab c-8']]);
    jobs = [];
    await page.waitForFunction(() => document.querySelector('#queue-note')?.textContent === 'no ironlab job in the queue');
    expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(1); // same page, not reloaded
    expect(browser.consoleErrors).toEqual([]);
  });
});
