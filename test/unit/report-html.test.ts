// The HTML report's content without a browser, the comparison of two campaigns, the NDJSON export, and the
// `ironlab report` command writing them. The browser test (test/report/html-browser.test.ts) checks the drawing.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { reportCommand } from '../../orchestrator/commands/report-command.ts';
import { campaignReportInput, campaignSummary, renderSummary } from '../../orchestrator/commands/summary.ts';
import { SqliteStore } from '../../orchestrator/store/sqlite-store.ts';
import { ANALYSIS_METRICS } from '../../orchestrator/analysis/penalty.ts';
import { UserInputError } from '../../workloads/common/errors.ts';
import {
  CSV_COLUMNS,
  compareCampaigns,
  compareJson,
  compareTable,
  paperFigures,
  reportCsv,
  reportHtml,
  reportNdjson,
  timeBreakdownRows,
  verdictOf,
} from '../../orchestrator/report/index.ts';
import { buildReportStore } from '../fixtures/report/build-store.ts';

const built = await buildReportStore([
  { id: 'c-sim', outliers: [['udp-receiver rateGbps=4', 'none', 2, 0.7]], failures: [['tcp-receiver rateGbps=9', 'ebpf', 1]] },
  { id: 'c-real', name: 'real', mode: 'docker', enforcement: ['none'], effect: 1.3, seed: 7, createdAt: '2024-05-02T10:00:00.000Z' },
  {
    id: 'c-ebpf',
    name: 'ebpf-only',
    enforcement: ['ebpf'],
    without: ['tcp-sender rateGbps=2 flows=4'],
    createdAt: '2024-05-03T10:00:00.000Z',
  },
  {
    id: 'c-paper',
    name: 'paper-like',
    enforcement: ['none'],
    without: ['tcp-sender rateGbps=2 flows=1', 'tcp-sender rateGbps=2 flows=4'],
    createdAt: '2024-05-04T10:00:00.000Z',
  },
]);
afterAll(() => rmSync(built.dir, { recursive: true, force: true }));
const store = SqliteStore.open(built.path);
const sim = await campaignSummary(store, 'c-sim');
const html = reportHtml({ ...(await campaignReportInput(store, 'c-sim', sim)), generatedAt: '2024-05-05T00:00:00.000Z' });
await store.close();

describe('the section 2.3 figures', () => {
  it('draws a figure only where its parameter takes two values, and says why not otherwise', async () => {
    const s = SqliteStore.open(built.path);
    const paperLike = (await campaignSummary(s, 'c-paper')).summaries;
    await s.close();
    const figures = paperFigures(paperLike);
    expect(figures.map((f) => [f.id, f.drawn])).toEqual([
      ['udp-sender-rate', true],
      ['tcp-sender-rate', false],
      ['tcp-sender-flows', true],
      ['udp-receiver-rate', true],
      ['tcp-receiver-rate', true],
    ]);
    expect(figures[1].why).toBe('the campaign ran tcp-sender at one rate only (unlimited)');
    expect(figures[0].categories).toEqual(['1', '3', '8', 'unlimited']);
    expect(figures[0].series.map((x) => x.name)).toEqual(['none']);
  });

  it('has one series per enforcement mode, split by any other parameter that varies', () => {
    const figures = paperFigures(sim.summaries);
    const tcpRate = figures.find((f) => f.id === 'tcp-sender-rate')!;
    expect(tcpRate.series.map((s) => s.name)).toEqual([
      'none · flows=1',
      'none · flows=4',
      'iron-kernel · flows=1',
      'iron-kernel · flows=4',
      'ebpf · flows=1',
      'ebpf · flows=4',
    ]);
    expect(
      figures
        .find((f) => f.id === 'tcp-sender-flows')!
        .series.map((s) => s.name)
        .slice(0, 2),
    ).toEqual(['none · unlimited', 'none · 2 Gbit/s']);
    const rx = figures.find((f) => f.id === 'tcp-receiver-rate')!;
    expect(rx.categories).toEqual(['1', '4', '9']);
    const none9 = rx.series[0].points[2]!;
    const summary = sim.summaries.find((s) => s.scenarioId === 'tcp-receiver rateGbps=9' && s.enforcement === 'none')!;
    expect(none9).toEqual({ x: '9', mean: summary.penalty.mean, ci95: summary.penalty.ci95, n: 3, scenarioId: 'tcp-receiver rateGbps=9' });
  });
});

describe('the verdict', () => {
  it('gives the largest penalty per workload and mode, and says whether isolation holds', () => {
    const v = verdictOf(sim.summaries);
    expect(v.modes).toEqual(['none', 'iron-kernel', 'ebpf']);
    expect(v.rows.map((r) => r.workload)).toEqual(['udp-sender', 'udp-receiver', 'tcp-sender', 'tcp-receiver']);
    const rx = v.rows.find((r) => r.workload === 'tcp-receiver')!;
    expect(rx.worst.none!.scenarioId).toBe('tcp-receiver rateGbps=9');
    expect(rx.worst.none!.mean).toBeGreaterThan(5.5);
    expect(v.sentences[0]).toMatch(
      /^Without enforcement, the largest penalty is 5\.\d\d \(95% CI 5\.\d\d–\d\.\d\d\) in tcp-receiver rateGbps=9: isolation does not hold\.$/,
    );
    expect(v.sentences).toHaveLength(3);
  });

  it('checks every scenario\'s interval: a wide one beside the largest, or none at all, never supports "holds"', () => {
    const at = (scenarioId: string, mean: number, ci95: [number, number] | null) => {
      const base = sim.summaries.find((s) => s.enforcement === 'iron-kernel')!;
      return { ...base, scenarioId, penalty: { ...base.penalty, mean, ci95 } };
    };
    const tight = at('tcp-receiver rateGbps=9', 1.04, [1.03, 1.05]);
    expect(verdictOf([tight]).sentences[0]).toMatch(/: isolation holds: every penalty's interval is within 1\.05\.$/);
    // 1.04 [1.03, 1.05] beside 1.03 [0.85, 1.25]: the second interval reaches above the target
    expect(verdictOf([tight, at('udp-receiver rateGbps=4', 1.03, [0.85, 1.25])]).sentences[0]).toMatch(
      /largest penalty is 1\.04 .* isolation is not shown to hold: the interval of udp-receiver rateGbps=4 reaches above 1\.05\.$/,
    );
    // an unbounded (or missing) interval cannot support the claim, however small the penalty
    expect(verdictOf([tight, at('udp-receiver rateGbps=4', 1.0, null)]).sentences[0]).toMatch(
      /isolation is not shown to hold: udp-receiver rateGbps=4 has no interval\.$/,
    );
  });
});

describe('the HTML file: design and run conditions', () => {
  it("says which design and interval it used, and shows each arm's run conditions", () => {
    expect(html).toContain(
      "Design: shuffled (one seeded random order). Penalty and interval: unpaired, ratio of the arms' means with a Fieller interval. Intervals are 95%.",
    );
    expect(html).toMatch(/<h3>Run conditions<\/h3>\s*<table class="conditions">/);
    expect(html).toMatch(/<th>steal \(victim core\)<\/th><th>foreign CPU \(victim core\)<\/th>/);
  });
});

describe('the HTML file', () => {
  it('is self-contained: no external script, style, font, image or link', () => {
    expect(html.startsWith('<!doctype html>')).toBe(true);
    const markup = html.replace(/(<script\b[^>]*>)[\s\S]*?<\/script>/g, '$1</script>');
    expect(markup).not.toMatch(/<(script|img|iframe|link|source|video|audio|object|embed)\b[^>]*\b(src|href|data)=/i);
    expect(markup).not.toMatch(/@import|url\(/i);
    expect(markup).not.toMatch(/https?:\/\//);
    expect(markup.match(/<script\b/g)).toHaveLength(3); // data, ECharts, page script
    expect(html).toContain('Apache License'); // the inlined library keeps its licence header
    expect(html.length).toBeGreaterThan(500_000);
  });

  it('carries its data as JSON and the sections a user reads', () => {
    const data = JSON.parse(/<script type="application\/json" id="ironlab-data">([^<]*)<\/script>/.exec(html)![1]);
    expect(data.figures).toHaveLength(5);
    expect(data.time.categories).toEqual(['victim', 'neighbours', 'softirq_task', 'ksoftirqd', 'idle']);
    expect(data.time.rows).toHaveLength(timeBreakdownRows(sim.summaries).length);
    for (const id of ['verdict', 'figures', 'time', 'statistics', 'hosts', 'provenance', 'runs'])
      expect(html).toContain(`<section id="${id}">`);
    expect(html.match(/class="chart"/g)).toHaveLength(6);
    expect(html).toContain('report made 2024-05-05T00:00:00.000Z');
    expect(html).toContain('134/135 runs done');
  });

  it('escapes text from the store', async () => {
    const s = SqliteStore.open(built.path);
    const input = await campaignReportInput(s, 'c-real');
    await s.close();
    const page = reportHtml({
      ...input,
      campaign: { ...input.campaign, name: '<b>x</b>', provenance: { note: '</script><script>alert(1)</script>' } },
    });
    expect(page).toContain('&lt;b&gt;x&lt;/b&gt;');
    expect(page).not.toContain('</script><script>alert(1)');
  });
});

const sides = SqliteStore.open(built.path);
const real = await campaignSummary(sides, 'c-real');
const ebpf = await campaignSummary(sides, 'c-ebpf');
await sides.close();

describe('two campaigns side by side', () => {
  it('pairs by scenario and enforcement: both penalties, their ratio, and whether the intervals overlap', () => {
    const c = compareCampaigns(
      { campaign: sim.campaign, summaries: sim.summaries },
      { campaign: real.campaign, summaries: real.summaries },
    );
    expect(c.pairedBy).toBe('scenario+enforcement');
    const row = c.rows.find((r) => r.scenarioId === 'tcp-receiver rateGbps=9' && r.enforcement === 'none')!;
    expect(row.ratio).toBeCloseTo(row.b!.mean! / row.a!.mean!, 12);
    expect(row.ratio!).toBeGreaterThan(1.2);
    expect(row.overlap).toBe(false);
    expect(c.rows.find((r) => r.scenarioId === 'udp-sender unlimited' && r.enforcement === 'none')!.overlap).toBe(true);
    expect(c.rows.find((r) => r.enforcement === 'ebpf')!.b).toBeNull();

    const table = compareTable(c);
    expect(table.split('\n')[0]).toBe('A = c-sim (paper, sim)');
    expect(table).toMatch(
      /tcp-receiver rateGbps=9\s+│ none\s+│\s+5\.\d\d │ \[5\.\d\d, \d\.\d\d\] │\s+7\.\d\d │ \[\d\.\d\d, \d\.\d\d\] │\s+1\.\d\d │ NO/,
    );
    const json = JSON.parse(JSON.stringify(compareJson(c)));
    expect(
      json.scenarios.find((r: { id: string; enforcement: string }) => r.id === 'tcp-receiver rateGbps=9' && r.enforcement === 'none'),
    ).toMatchObject({ overlap: false, a: { n: 3 }, b: { n: 3 } });
  });

  it('pairs by scenario alone when the campaigns share no enforcement mode (none vs ebpf)', () => {
    const c = compareCampaigns(
      { campaign: real.campaign, summaries: real.summaries },
      { campaign: ebpf.campaign, summaries: ebpf.summaries },
    );
    expect(c.pairedBy).toBe('scenario');
    const row = c.rows.find((r) => r.scenarioId === 'tcp-receiver rateGbps=9')!;
    expect([row.a!.enforcement, row.b!.enforcement]).toEqual(['none', 'ebpf']);
    expect(row.ratio!).toBeLessThan(0.3);
    expect(c.rows.find((r) => r.scenarioId === 'tcp-sender rateGbps=2 flows=4')!.b).toBeNull();
    expect(compareTable(c)).toContain('A mode');
  });
});

describe('NDJSON export', () => {
  it('has one object per CSV row, with the same fields in the same order', () => {
    const ndjson = reportNdjson(sim.campaign, sim.records);
    const csv = reportCsv(sim.campaign, sim.records).trimEnd().split('\r\n');
    const lines = ndjson
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(csv.length - 1);
    expect(Object.keys(lines[0])).toEqual([...CSV_COLUMNS]);
    const victim = lines.find((l) => l.metric === 'victim_events_per_sec' && l.scenario === 'udp-sender unlimited')!;
    expect(victim).toMatchObject({
      campaign: 'c-sim',
      workload: 'udp-sender',
      rateGbps: null,
      flows: 1,
      messageBytes: 1470,
      host: 'sim-1',
      unit: 'events/s',
      labels: { container: 'victim' },
    });
    expect(lines.some((l) => l.run.includes('tcp-receiver-rateGbps-9-ebpf-1'))).toBe(false); // the failed run
  });
});

describe('a summary from the samples the analysis reads', () => {
  it('is the same summary, its records without the other samples; the CSV still lists them all', async () => {
    const s = SqliteStore.open(built.path);
    const lean = await campaignSummary(s, 'c-sim', { analysisSamples: true });
    await s.close();
    expect(lean.summaries).toEqual(sim.summaries);
    expect(lean.json).toEqual(sim.json);
    expect(renderSummary(lean, false)).toBe(renderSummary(sim, false));
    const metrics = (x: typeof sim) => new Set(x.records.flatMap((r) => r.samples.map((m) => m.metric)));
    expect([...metrics(lean)].every((m) => ANALYSIS_METRICS.includes(m))).toBe(true);
    expect(metrics(sim).has('cgroup_usage_s')).toBe(true);
    expect(reportCsv(sim.campaign, sim.records)).toContain('cgroup_usage_s');
  });
});

describe('ironlab report', () => {
  const capture = async (fn: () => Promise<void>) => {
    let out = '';
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((out += String(chunk)), true));
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      await fn();
    } finally {
      spy.mockRestore();
      err.mockRestore();
    }
    return out;
  };

  it('--format html --out DIR writes DIR/report.html', async () => {
    const out = join(built.dir, 'html-out');
    await capture(() => reportCommand({ db: built.path, campaign: 'c-real', format: 'html', out, list: false }));
    const page = readFileSync(join(out, 'report.html'), 'utf8');
    expect(page).toContain('Campaign real');
    expect(existsSync(join(out, 'report.html'))).toBe(true);
  });

  it('--format ndjson and --compare A B (table and json)', async () => {
    const nd = await capture(() => reportCommand({ db: built.path, campaign: 'c-real', format: 'ndjson', list: false }));
    expect(JSON.parse(nd.split('\n')[0])).toHaveProperty('campaign', 'c-real');
    const table = await capture(() => reportCommand({ db: built.path, format: 'table', list: false, compare: ['c-sim', 'c-real'] }));
    expect(table).toContain('B = c-real (real, docker)');
    const json = JSON.parse(
      await capture(() => reportCommand({ db: built.path, format: 'json', list: false, compare: ['c-sim', 'c-real'] })),
    );
    expect(json).toMatchObject({ a: { id: 'c-sim' }, b: { id: 'c-real' }, pairedBy: 'scenario+enforcement' });
  });

  it('refuses --compare with one id, with --campaign, or with csv', async () => {
    await expect(reportCommand({ db: built.path, format: 'table', list: false, compare: ['c-sim'] })).rejects.toThrow(UserInputError);
    await expect(
      reportCommand({ db: built.path, campaign: 'c-sim', format: 'table', list: false, compare: ['c-sim', 'c-real'] }),
    ).rejects.toThrow(/not both/);
    await expect(reportCommand({ db: built.path, format: 'csv', list: false, compare: ['c-sim', 'c-real'] })).rejects.toThrow(
      /table or json/,
    );
  });

  it('the terminal summary shows both intervals, the CVs and the disagreement note', () => {
    const text = renderSummary(sim, false);
    expect(text.split('\n')[0]).toBe('campaign c-sim (paper, sim, failed): 134/135 runs done, 1 failed');
    expect(text).toMatch(/│ scenario\s+│ enforcement │\s+penalty │\s+95% CI │ n │ ksoftirqd │ bootstrap CI │ CV ctl\/int │/);
    expect(text).toMatch(/udp-receiver rateGbps=4\s+│ none\s+│ \d\.\d\d \(\d+\) │/);
    expect(text).toMatch(
      /\(\d\) repetitions disagree: interference arm varies by [\d.]+% \(CV above 5%\); interference arm has outlier run c-sim-udp-receiver-rateGbps-4-none-2/,
    );
  });
});
