// The HTML report in a real browser: headless Chromium (Debian's `chromium` package) driven by playwright-core.
// What a user sees: the page loads from disk with no console error and no network request, draws the expected
// charts with the expected data points, and shows the numbers of the analysis. A full-page screenshot and the
// report itself are kept under test-artifacts/report-html/.
// Runs for real when CI=true (a missing browser then fails the test); elsewhere it skips, saying why, only if
// there is no chromium binary.
import { copyFileSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { reportCommand } from '../../orchestrator/commands/report-command.ts';
import { campaignSummary } from '../../orchestrator/commands/summary.ts';
import { SqliteStore } from '../../orchestrator/store/sqlite-store.ts';
import { chartCount, paperFigures, timeBreakdownRows, type Figure } from '../../orchestrator/report/index.ts';
import type { ScenarioSummary } from '../../orchestrator/analysis/penalty.ts';
import { buildReportStore } from '../fixtures/report/build-store.ts';
import { openChromium, skipWithoutChromium, type OpenChromium } from '../browser/chromium.ts';

const ARTIFACTS = join(import.meta.dirname, '../../test-artifacts/report-html');

describe.skipIf(skipWithoutChromium('html-browser.test.ts'))('the HTML report in headless Chromium', () => {
  let dir: string;
  let browser: OpenChromium;
  let context: BrowserContext;
  let page: Page;
  let reportFile: string;
  let summaries: ScenarioSummary[];
  let consoleErrors: string[];
  const requests: string[] = [];

  beforeAll(async () => {
    const built = await buildReportStore([
      { id: 'c-browser', outliers: [['udp-receiver rateGbps=4', 'none', 2, 0.7]], failures: [['tcp-receiver rateGbps=9', 'ebpf', 1]] },
    ]);
    dir = built.dir;
    const out = join(dir, 'html');
    await reportCommand({ db: built.path, campaign: 'c-browser', format: 'html', out, list: false });
    reportFile = join(out, 'report.html');
    const store = SqliteStore.open(built.path);
    summaries = (await campaignSummary(store, 'c-browser')).summaries;
    await store.close();

    browser = await openChromium({ width: 1400, height: 900 });
    ({ context, page, consoleErrors } = browser);
    context.on('request', (r) => requests.push(r.url()));
    await page.goto(pathToFileURL(reportFile).href, { waitUntil: 'load' });
    await page.waitForSelector('body[data-charts-ready]');
  });

  afterAll(async () => {
    await browser?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('loads with no console error and no request but the file itself', () => {
    expect(consoleErrors).toEqual([]);
    expect(requests).toEqual([pathToFileURL(reportFile).href]);
  });

  it('draws one chart per section 2.3 figure and the time chart, each with its data points', async () => {
    const figures = paperFigures(summaries);
    const drawn = figures.filter((f) => f.drawn);
    expect(drawn.map((f) => f.id)).toEqual([
      'udp-sender-rate',
      'tcp-sender-rate',
      'tcp-sender-flows',
      'udp-receiver-rate',
      'tcp-receiver-rate',
    ]);
    expect(chartCount(summaries)).toBe(6);
    expect(await page.locator('.chart').count()).toBe(6);
    expect(await page.getAttribute('body', 'data-charts-ready')).toBe('6');

    const seen = await page.evaluate(() => {
      const w = window as unknown as {
        echarts: {
          getInstanceByDom(el: Element): { getOption(): { series: { type: string; name: string; data: unknown[] }[] } } | undefined;
        };
      };
      return [...document.querySelectorAll('.chart')].map((el) => {
        const series = w.echarts.getInstanceByDom(el)?.getOption().series ?? [];
        const count = (type: string) =>
          series.filter((s) => s.type === type).reduce((n, s) => n + s.data.filter((d) => d !== null && d !== undefined).length, 0);
        return {
          id: el.id,
          lines: count('line'),
          errorBars: count('custom'),
          bars: count('bar'),
          svgPaths: el.querySelectorAll('svg path').length,
        };
      });
    });
    const points = (f: Figure) => f.series.reduce((n, s) => n + s.points.filter((p) => p && p.mean !== null).length, 0);
    const bars = (f: Figure) => f.series.reduce((n, s) => n + s.points.filter((p) => p && p.ci95).length, 0);
    expect(seen.slice(0, 5)).toEqual(
      drawn.map((f) => ({ id: `chart-${f.id}`, lines: points(f), errorBars: bars(f), bars: 0, svgPaths: expect.any(Number) })),
    );
    // 4 rates x 3 modes of UDP sender; TCP sender: 2 rates x 2 flow counts x 3 modes in both of its figures
    expect(seen.map((s) => s.lines).slice(0, 5)).toEqual([12, 12, 12, 9, 9]);
    // every repetition set but the failed-run one (n = 2 still has an interval) carries an error bar
    expect(seen[4].errorBars).toBe(9);
    const timeRows = timeBreakdownRows(summaries);
    expect(timeRows.length).toBe(3 + 42);
    expect(seen[5]).toMatchObject({ id: 'chart-time', lines: 0, bars: timeRows.length * 5 });
    for (const s of seen) expect(s.svgPaths).toBeGreaterThan(10);
  });

  it('shows the verdict, the flagged scenario, hosts, provenance and every run', async () => {
    const worst = summaries.find((s) => s.scenarioId === 'tcp-receiver rateGbps=9' && s.enforcement === 'none')!;
    const verdict = await page.locator('#verdict').innerText();
    expect(verdict).toContain(`Without enforcement, the largest penalty is ${worst.penalty.mean!.toFixed(2)}`);
    expect(verdict).toMatch(/With iron-kernel, the largest penalty is 1\.0\d/);
    expect(verdict).toContain('isolation does not hold');

    const flagged = page.locator('#statistics tr.flagged');
    expect(await flagged.count()).toBe(1);
    expect(await flagged.getAttribute('data-scenario')).toBe('udp-receiver rateGbps=4');
    expect(await flagged.innerText()).toContain('repetitions disagree');

    expect(await page.locator('#hosts').innerText()).toMatch(/sim-1[\s\S]*6\.1\.0-sim[\s\S]*ixgbe/);
    expect(await page.locator('#provenance').innerText()).toContain('0123456789abcdef0123456789abcdef01234567');
    expect(await page.locator('#runs tr').count()).toBe(1 + 15 * 3 * 3);
    expect(await page.locator('#runs tr.run-failed').innerText()).toContain('agent sim-1 lost during measure');
  });

  it('saves a full-page screenshot as a test artifact', async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    const shot = join(ARTIFACTS, 'report.png');
    await page.screenshot({ path: shot, fullPage: true });
    copyFileSync(reportFile, join(ARTIFACTS, 'report.html'));
    expect(statSync(shot).size).toBeGreaterThan(50_000);
  });
});
