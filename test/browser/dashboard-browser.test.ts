// The dashboard in a real browser: headless Chromium (Debian's `chromium`) driven by playwright-core, as in the
// HTML report's browser test. The dashboard is started first, off loopback's default address so that it asks
// for its token; the page is opened with the address it printed; then a simulated campaign starts, and the
// page must show it appear, its progress move and its penalties come in, pushed by the server, with no reload.
// A screenshot taken while the campaign runs is kept under test-artifacts/dashboard/ (its path is printed).
// Runs for real when CI=true (a missing browser then fails); elsewhere it skips, saying why, only without chromium.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { fixture, startCli, until, type CliResult } from '../e2e/helpers.ts';
import { openChromium, skipWithoutChromium, type OpenChromium } from './chromium.ts';

const ARTIFACTS = join(import.meta.dirname, '../../test-artifacts/dashboard');

describe.skipIf(skipWithoutChromium('dashboard-browser.test.ts'))('the live dashboard in headless Chromium', () => {
  let dir: string;
  let browser: OpenChromium;
  let page: Page;
  let serve: ReturnType<typeof startCli>;
  let origin: string;
  let consoleErrors: string[];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ironlab-dashboard-'));
    serve = startCli(['serve', '--db', join(dir, 'ironlab.db'), '--host', '127.0.0.2', '--port', '0']);
    const address = await until('the dashboard address', () => /open (http:\/\/\S+\?token=\S+)/.exec(serve.output())?.[1], 60_000);
    origin = new URL(address).origin;
    browser = await openChromium({ width: 1400, height: 1000 });
    ({ page, consoleErrors } = browser);
    await page.goto(address, { waitUntil: 'load' });
  });

  afterAll(async () => {
    await browser?.close();
    if (serve && serve.child.exitCode === null) {
      serve.child.kill('SIGINT');
      await serve.done;
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('opens with the printed address (the token becomes a cookie and leaves the address), empty store, connected', async () => {
    expect(page.url()).toBe(`${origin}/`);
    await page.waitForSelector('body[data-connected="true"]');
    expect(await page.locator('#empty').isVisible()).toBe(true);
    expect(await page.locator('#store').innerText()).toBe(join(dir, 'ironlab.db'));
  });

  it('shows a campaign started meanwhile, its progress moving and its penalties coming in, without a reload', async () => {
    // a marker that a reload would wipe, and every text the progress showed
    await page.evaluate(() => {
      const w = window as unknown as { sameDocument: boolean };
      w.sameDocument = true;
    });
    const run = startCli(['run', fixture('e2e-long.yaml'), '--db', join(dir, 'ironlab.db'), '--no-progress']);
    let finished: CliResult | null = null;
    void run.done.then((r) => (finished = r));

    const row = page.locator('#campaigns tbody tr[data-campaign]');
    await row.first().waitFor({ timeout: 60_000 });
    expect(await page.locator('#empty').isVisible()).toBe(false);
    expect(await row.first().locator('td').nth(0).innerText()).toContain('e2e-long');
    await row.first().click();
    await page.waitForSelector('#detail[data-campaign]:not([hidden])');
    await page.evaluate(() => {
      const w = window as unknown as { seen: string[] };
      w.seen = [document.querySelector('#detail-progress')!.textContent!];
      new MutationObserver(() => w.seen.push(document.querySelector('#detail-progress')!.textContent!)).observe(
        document.querySelector('#detail-progress')!,
        { childList: true, characterData: true, subtree: true },
      );
    });

    // while it runs: part of the runs done, the orchestrator named, hosts in flight, an ETA
    await page.waitForFunction(
      () => {
        const d = document.querySelector('#detail') as HTMLElement & {
          campaign?: { state: string; progress: { done: number; total: number } };
        };
        return d.campaign?.state === 'running' && d.campaign.progress.done >= 2 && d.campaign.progress.done < d.campaign.progress.total;
      },
      null,
      { timeout: 60_000, polling: 50 },
    );
    expect(await page.locator('#detail-state').innerText()).toBe('running');
    expect(await page.locator('#detail-who').innerText()).toMatch(/orchestrator \S+@\S+ pid \d+/);
    expect(await page.locator('#detail-who').innerText()).toContain('sim-1 (sim), sim-2 (sim)');
    mkdirSync(ARTIFACTS, { recursive: true });
    const shot = join(ARTIFACTS, 'dashboard-running.png');
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`dashboard screenshot during the run: ${shot}`);

    await page.waitForSelector('#detail[data-state="done"]', { timeout: 120_000 });
    await until('the campaign to exit', () => finished !== null, 60_000);
    expect(finished!.code).toBe(0);

    const seen = await page.evaluate(() => (window as unknown as { seen: string[] }).seen);
    const doneCounts = [...new Set(seen.map((t) => Number(/^(\d+)\/16 runs/.exec(t)?.[1])))].filter(Number.isFinite);
    expect(doneCounts.length).toBeGreaterThanOrEqual(2); // it moved in place: a count below 16 (seen running above), then 16
    expect(doneCounts).toEqual([...doneCounts].sort((a, b) => a - b));
    expect(doneCounts.at(-1)).toBe(16);
    expect(await page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument)).toBe(true);
    expect(await page.locator('#campaigns tbody tr[data-campaign] .state').innerText()).toBe('done');
    expect(await page.locator('#running').innerText()).toBe('none');

    // the penalties of `ironlab report`: TCP receive flood without enforcement well above 1, IRON at about 1
    const cells = async (enforcement: string) =>
      page.locator(`#penalties tr[data-scenario="tcp-receiver rateGbps=9"][data-enforcement="${enforcement}"] td`).allInnerTexts();
    const none = await cells('none');
    expect(Number(none[3])).toBeGreaterThan(1.5);
    expect(none[4]).toMatch(/^\[\d+\.\d\d, \d+\.\d\d\]$/);
    expect(none[6]).toBe('4');
    expect(Number((await cells('iron-kernel'))[3])).toBeLessThan(1.1);
    expect(consoleErrors).toEqual([]);
  });

  it("links the campaign's HTML report, which draws in the dashboard's origin with nothing blocked", async () => {
    const href = await page.locator('#report-link').getAttribute('href');
    expect(href).toMatch(/^\/campaigns\/c[\w-]+\/report\.html$/);
    await page.click('#report-link');
    await page.waitForSelector('body[data-charts-ready]', { timeout: 60_000 });
    expect(page.url()).toBe(`${origin}${href}`);
    expect(await page.locator('#verdict').innerText()).toMatch(/penalty/);
    expect(consoleErrors).toEqual([]);
  });

  it('Ctrl-C stops the dashboard (exit 0) and the page says it lost it', async () => {
    await page.goBack();
    await page.waitForSelector('body[data-connected="true"]');
    serve.child.kill('SIGINT');
    const r = await serve.done;
    expect(r.code).toBe(0);
    await page.waitForSelector('#connection[data-state="reconnecting"]');
  });
});
