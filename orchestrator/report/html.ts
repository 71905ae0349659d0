// `ironlab report --format html`: ONE self-contained HTML file that opens offline. ECharts (Apache, one UMD
// file with no dependencies) and the page script are inlined; the report's data rides along as JSON; every
// table is static HTML, readable even with scripts off. Sections: verdict, the section 2.3 figures, the victim
// core's time, statistics, hosts, provenance, runs.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { EnforcementSupport, HostFacts } from '../../agents/backend.ts';
import { METRIC } from '../../agents/samples.ts';
import type { ScenarioSummary } from '../analysis/penalty.ts';
import { ISOLATION_TARGET, paperFigures, timeBreakdownRows, timeCategories, verdictOf, type Figure } from './figures.ts';
import type { CampaignInfo } from './json.ts';
import { sortScenarios } from './order.ts';
import { penaltyDefinitions, victimValueHeader } from './penalty-words.ts';
import type { CsvRunRecord } from './rows.ts';
import { formatCi, formatCv, formatPenalty, formatShare } from './table.ts';
import type { Spread } from '../analysis/conditions.ts';
import { controllerSvg, controllerTimelines } from './controller-timeline.ts';

export interface HtmlRun extends CsvRunRecord {
  attempts?: number;
  lastError?: string | null;
  provenance?: Record<string, unknown>;
}

export interface HtmlReportInput {
  campaign: CampaignInfo & { status?: string; seed?: number; specHash?: string; sourcePath?: string; provenance?: Record<string, unknown> };
  summaries: readonly ScenarioSummary[];
  runs: readonly HtmlRun[];
  hosts: readonly { facts: HostFacts; capabilities: EnforcementSupport[] }[];
  /** ISO 8601 time the report was made (default: now). */
  generatedAt?: string;
}

/** The file name `--out DIR` writes. */
export const HTML_FILE_NAME = 'report.html';

const require = createRequire(import.meta.url);
const HERE = dirname(fileURLToPath(import.meta.url));
let assets: { echarts: string; page: string } | null = null;
function loadAssets() {
  assets ??= {
    echarts: readFileSync(require.resolve('echarts/dist/echarts.min.js'), 'utf8'),
    page: readFileSync(join(HERE, 'html-page.js'), 'utf8'),
  };
  return assets;
}

/** Number of charts the page draws: the drawn section 2.3 figures, plus the time chart when there is data. */
export function chartCount(summaries: readonly ScenarioSummary[]): number {
  return paperFigures(summaries).filter((f) => f.drawn).length + (timeBreakdownRows(summaries).length ? 1 : 0);
}

export function reportHtml(input: HtmlReportInput): string {
  const { campaign } = input;
  const summaries = sortScenarios(input.summaries);
  const figures = paperFigures(summaries);
  const timeRows = timeBreakdownRows(summaries);
  const verdict = verdictOf(summaries);
  const data = { target: ISOLATION_TARGET, figures, time: { rows: timeRows, categories: timeCategories(timeRows) } };
  const { echarts, page } = loadAssets();
  const done = input.runs.filter((r) => r.status === 'done').length;
  const title = `ironlab · ${campaign.name} · ${campaign.id}`;

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="ironlab">
<title>${esc(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>Campaign ${esc(campaign.name)} <small>${esc(campaign.id)}</small></h1>
<p class="meta">${esc(campaign.mode)} hosts · ${campaign.status ? `${esc(campaign.status)} · ` : ''}${done}/${input.runs.length} runs done · created ${esc(campaign.createdAt)} · report made ${esc(input.generatedAt ?? new Date().toISOString())}</p>
<p class="meta">${esc(penaltyDefinitions(summaries).join('; '))} (IRON's target is ${ISOLATION_TARGET.toFixed(2)}). ${methodSentence(campaign.statistics)}</p>
</header>

<section id="verdict">
<h2>Verdict</h2>
${verdict.sentences.length ? `<ul class="verdict">${verdict.sentences.map((s) => `<li>${esc(s)}</li>`).join('')}</ul>` : '<p>No penalty could be computed: no completed scenario with a control.</p>'}
${verdictTable(verdict)}
</section>

<section id="figures">
<h2>Penalty factor as in IRON section 2.3</h2>
<div class="grid">
${figures.map(figureBlock).join('\n')}
</div>
</section>

<section id="time">
<h2>Where the victim core's time went</h2>
<p class="meta">Mean share of the victim's core over the measurement window, interference arm of each scenario, with each enforcement mode's control first.</p>
${timeRows.length ? `<div class="chart" id="chart-time" role="img" aria-label="where the victim core's time went" style="height:${Math.max(220, 26 * timeRows.length + 90)}px"></div>` : '<p class="missing">No run reported core_time_s on the victim core.</p>'}
</section>

${controllerSection(input.runs)}
<section id="statistics">
<h2>Statistics</h2>
${statisticsTable(summaries)}
</section>

<section id="hosts">
<h2>Hosts</h2>
${hostsTable(input.hosts)}
</section>

<section id="provenance">
<h2>Provenance</h2>
${provenanceBlock(input)}
</section>

<section id="runs">
<h2>Runs</h2>
${runsTable(input.runs, summaries)}
</section>

<script type="application/json" id="ironlab-data">${jsonForScript(data)}</script>
<script>${scriptText(echarts)}</script>
<script>${scriptText(page)}</script>
</body>
</html>
`;
}

/** The ebpf controller per period (only when an ebpf run recorded it). */
function controllerSection(runs: readonly HtmlRun[]): string {
  const timelines = controllerTimelines(runs);
  if (!timelines.length) return '';
  const blocks = timelines.map(
    (tl) => `<h3>${esc(tl.scenarioId)} <small>run ${esc(tl.runId)}</small></h3>${tl.series.map(controllerSvg).join('\n')}`,
  );
  return `<section id="controller">
<h2>What the ebpf controller did, period by period</h2>
<p class="meta">One run per scenario under ebpf (its first repetition): each CFS period the controller charged the owner for its packets' softirq time run on others' time, credited the container that was interrupted for them, carried what exceeded the quota as debt, wrote the next quota, and dropped the owner's packets while it had debt.</p>
${blocks.join('\n')}
</section>
`;
}

function figureBlock(f: Figure): string {
  if (!f.drawn)
    return `<figure class="missing" data-figure="${esc(f.id)}"><figcaption>${esc(f.title)}</figcaption><p>Not drawn: ${esc(f.why ?? '')}.</p></figure>`;
  return `<figure data-figure="${esc(f.id)}"><figcaption>${esc(f.title)}</figcaption><div class="chart" id="chart-${esc(f.id)}" role="img" aria-label="${esc(f.title)}"></div></figure>`;
}

function verdictTable(v: ReturnType<typeof verdictOf>): string {
  if (!v.rows.length) return '';
  const head = `<tr><th>workload</th>${v.modes.map((m) => `<th>largest penalty, ${m === 'none' ? 'no enforcement' : esc(m)}</th>`).join('')}</tr>`;
  const body = v.rows
    .map((r) => {
      const cells = v.modes.map((m) => {
        const c = r.worst[m];
        if (!c) return '<td>-</td>';
        const cls = c.mean > ISOLATION_TARGET ? ' class="bad"' : '';
        return `<td${cls}><b>${formatPenalty(c.mean)}</b> ${formatCi(c.ci95)}<br><small>${esc(c.scenarioId)}</small></td>`;
      });
      return `<tr><td>${esc(r.workload)}</td>${cells.join('')}</tr>`;
    })
    .join('\n');
  return `<table class="verdict-table">${head}\n${body}</table>`;
}

/** The design and interval the numbers come from, and any correction, in one or two sentences. */
function methodSentence(st: HtmlReportInput['campaign']['statistics']): string {
  if (!st) return 'Intervals are 95% (Fieller).';
  const design =
    st.design === 'blocked'
      ? 'Design: blocked (each repetition a block: the control and the scenarios back to back on one host, in a seeded random order). Penalty and interval: paired, from the within-block ratios (geometric mean, t interval on their logs, back-transformed).'
      : "Design: shuffled (one seeded random order). Penalty and interval: unpaired, ratio of the arms' means with a Fieller interval.";
  return `${design} Intervals are ${(st.level * 100).toFixed(st.level === 0.95 ? 0 : 2)}%.${st.adaptiveCorrection ? ` ${st.adaptiveCorrection[0].toUpperCase()}${st.adaptiveCorrection.slice(1)}.` : ''}`;
}

const pct = (x: number) => `${(x * 100).toFixed(x < 0.1 ? 1 : 0)}%`;
function spread(s: Spread | null | undefined, f: (x: number) => string): string {
  if (!s) return '-';
  return `${f(s.min)}–${f(s.max)}${s.cv !== null ? ` <small>(CV ${formatCv(s.cv)})</small>` : ''}`;
}

function statisticsTable(summaries: readonly ScenarioSummary[]): string {
  const head = `<tr><th>scenario</th><th>enforcement</th><th>host</th><th>penalty</th><th>95% CI</th><th>95% CI (bootstrap)</th><th>n</th><th>CV control</th><th>CV interference</th><th>ksoftirqd</th><th>${esc(victimValueHeader(summaries))} control / interference</th><th>check</th></tr>`;
  const body = summaries.map((s) => {
    const g = [s.control?.guards, s.interference?.guards].filter((x) => x && (x.repeated || x.kept));
    const guard = g.length
      ? `out of guard: ${g.reduce((a, x) => a + x!.repeated, 0)} attempt(s) repeated, ${g.reduce((a, x) => a + x!.kept, 0)} run(s) kept out of guard (${[...new Set(g.flatMap((x) => x!.reasons))].join('; ')})`
      : undefined;
    const notes = [
      s.penalty.note,
      s.notDone ? `${s.notDone} run(s) not done, left out` : undefined,
      ...(s.disagreement?.flagged ? s.disagreement.reasons : []),
      guard,
      ...(s.conditionNotes ?? []),
    ].filter(Boolean);
    const flagged = s.disagreement?.flagged ?? false;
    return `<tr data-scenario="${esc(s.scenarioId)}" data-enforcement="${esc(s.enforcement)}"${flagged ? ' class="flagged"' : ''}><td>${esc(s.scenarioId)}</td><td>${esc(s.enforcement)}</td><td>${esc(s.stratum ?? '-')}</td><td class="num">${formatPenalty(s.penalty.mean)}</td><td class="num">${formatCi(s.penalty.ci95)} <small>${esc(s.penalty.method === 'paired-log-t' ? 'paired' : 'Fieller')}</small></td><td class="num">${formatCi(s.bootstrap?.ci ?? null)}</td><td class="num">${s.penalty.n}</td><td class="num">${formatCv(s.cv.control)}</td><td class="num">${formatCv(s.cv.interference)}</td><td class="num">${formatShare(s.ksoftirqdShare)}</td><td class="num">${num(s.victim.controlEventsPerSec)} / ${num(s.victim.interferenceEventsPerSec)}</td><td>${flagged ? '<b>repetitions disagree</b>: ' : ''}${esc(notes.join('; '))}</td></tr>`;
  });
  return `<table class="stats">${head}\n${body.join('\n')}</table>\n<p class="meta">Bootstrap: percentile, 10 000 resamples (of each arm, or of the blocks in a blocked design), seeded per scenario (reproducible); with 2-3 repetitions it is narrower than it should be, which is why the t-based interval is the headline. A scenario is flagged when an arm's coefficient of variation is above 5% or a repetition is an outlier (modified z-score above 3.5).</p>
<h3>Run conditions</h3>
${conditionsTable(summaries)}`;
}

/** Per scenario and arm: the spread of the conditions its runs were measured under (why repetitions differ). */
function conditionsTable(summaries: readonly ScenarioSummary[]): string {
  const head =
    '<tr><th>scenario</th><th>enforcement</th><th>arm</th><th>achieved Gbit/s</th><th>achieved / offered</th><th>steal (victim core)</th><th>foreign CPU (victim core)</th><th>foreign CPU by who</th><th>softirqs/s (victim core)</th><th>ksoftirqd share</th></tr>';
  const rows = summaries.flatMap((s) =>
    (
      [
        ['control', s.control],
        ['interference', s.interference],
      ] as const
    ).flatMap(([arm, a]) => {
      if (!a?.conditions) return [];
      const c = a.conditions;
      const who =
        Object.entries(c.foreignCpuByWho)
          .map(([w, sp]) => `${esc(w)} ${spread(sp, pct)}`)
          .join('<br>') || '-';
      return [
        `<tr data-scenario="${esc(s.scenarioId)}" data-arm="${arm}"><td>${esc(s.scenarioId)}</td><td>${esc(s.enforcement)}</td><td>${arm}</td><td class="num">${spread(c.achievedGbps, (x) => x.toFixed(2))}</td><td class="num">${spread(c.loadRatio, (x) => x.toFixed(2))}</td><td class="num">${spread(c.stealShare, pct)}</td><td class="num">${spread(c.foreignCpuShare, pct)}</td><td>${who}</td><td class="num">${spread(c.softirqPerSec, (x) => x.toFixed(0))}</td><td class="num">${spread(c.ksoftirqdShare, pct)}</td></tr>`,
      ];
    }),
  );
  return `<table class="conditions">${head}\n${rows.join('\n')}</table><p class="meta">min–max over the arm's counted repetitions (CV in brackets); "-" where the backend did not report the metric.</p>`;
}

function hostsTable(hosts: HtmlReportInput['hosts']): string {
  if (!hosts.length) return '<p class="missing">No host facts recorded.</p>';
  const head =
    '<tr><th>host</th><th>backend</th><th>kernel</th><th>CPU</th><th>cores</th><th>NIC (driver, speed)</th><th>cgroup</th><th>enforcement</th><th>more</th></tr>';
  const body = hosts.map(({ facts: f, capabilities }) => {
    const caps = capabilities
      .map((c) => (c.available ? esc(c.mode) : `<s>${esc(c.mode)}</s>${c.reason ? ` <small>(${esc(c.reason)})</small>` : ''}`))
      .join(', ');
    const extra = Object.entries(f.extra ?? {})
      .map(([k, v]) => `${esc(k)}=${esc(String(v))}`)
      .join('<br>');
    return `<tr><td>${esc(f.hostId)}</td><td>${esc(f.backend)}</td><td>${esc(f.kernel)}</td><td>${esc(f.cpuModel)}</td><td class="num">${f.cores}</td><td>${esc(f.nic.name)} (${esc(f.nic.driver)}${f.nic.speedMbps ? `, ${f.nic.speedMbps} Mbit/s` : ''})</td><td>${f.cgroupVersion ? `v${f.cgroupVersion}` : '-'}</td><td>${caps}</td><td><small>${extra}</small></td></tr>`;
  });
  return `<table>${head}\n${body.join('\n')}</table>`;
}

function provenanceBlock(input: HtmlReportInput): string {
  const c = input.campaign;
  const rows: [string, unknown][] = [
    ['campaign id', c.id],
    ['spec hash (sha256)', c.specHash],
    ['campaign file', c.sourcePath],
    ['seed', c.seed],
    ...Object.entries(c.provenance ?? {}),
  ];
  const campaignTable = `<table class="kv">${rows
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(show(v))}</td></tr>`)
    .join('')}</table>`;
  // per-run provenance: each key with its distinct values and how many runs had each
  const byKey = new Map<string, Map<string, number>>();
  for (const r of input.runs)
    for (const [k, v] of Object.entries(r.provenance ?? {})) {
      const values = byKey.get(k) ?? new Map<string, number>();
      byKey.set(k, values);
      values.set(show(v), (values.get(show(v)) ?? 0) + 1);
    }
  const runTable = byKey.size
    ? `<h3>Per run</h3><table class="kv">${[...byKey]
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(
          ([k, values]) =>
            `<tr><th>${esc(k)}</th><td>${[...values].map(([v, n]) => `${esc(v)} <small>(${n} run${n === 1 ? '' : 's'})</small>`).join('<br>')}</td></tr>`,
        )
        .join('')}</table>`
    : '';
  return campaignTable + runTable;
}

function runsTable(runs: readonly HtmlRun[], summaries: readonly ScenarioSummary[]): string {
  // the victim's primary metric (events/s for sysbench, p99 ms for a latency victim)
  const primary = summaries[0]?.victimMetric.metric ?? METRIC.victimEventsPerSec;
  const head = `<tr><th>run</th><th>scenario</th><th>enforcement</th><th>rep</th><th>status</th><th>host</th><th>attempts</th><th>${esc(victimValueHeader(summaries))}</th><th>ksoftirqd</th><th>guard</th><th>error</th></tr>`;
  const sorted = [...runs].sort(
    (a, b) =>
      (a.scenarioId < b.scenarioId ? -1 : a.scenarioId > b.scenarioId ? 1 : 0) ||
      (a.enforcement < b.enforcement ? -1 : a.enforcement > b.enforcement ? 1 : 0) ||
      a.repetition - b.repetition,
  );
  const body = sorted.map((r) => {
    const events = r.samples.filter((s) => s.metric === primary).reduce((a, s) => a + s.value, 0);
    const shares = r.samples.filter(
      (s) => s.metric === METRIC.ksoftirqdShare && (s.labels.core === undefined || s.labels.core === String(r.victimCore)),
    );
    const share = shares.length ? shares.reduce((a, s) => a + s.value, 0) / shares.length : null;
    const has = r.samples.some((s) => s.metric === primary);
    return `<tr class="run-${esc(r.status)}"><td><code>${esc(r.runId)}</code></td><td>${esc(r.scenarioId)}</td><td>${esc(r.enforcement)}</td><td class="num">${r.repetition}</td><td>${esc(r.status)}</td><td>${esc(r.hostId ?? '-')}</td><td class="num">${r.attempts ?? '-'}</td><td class="num">${has ? num(events) : '-'}</td><td class="num">${formatShare(share)}</td><td><small>${esc([...(r.guardRepeats ?? []).map((g) => `repeated: ${g}`), ...(r.guardReason ? [`kept out of guard: ${r.guardReason}`] : [])].join('; '))}</small></td><td><small>${esc(r.lastError ?? '')}</small></td></tr>`;
  });
  return `<table class="runs">${head}\n${body.join('\n')}</table>`;
}

// ---------------------------------------------------------------------------------------------------------

function esc(text: string | undefined | null): string {
  return (text ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
function show(v: unknown): string {
  return v === null || v === undefined ? '-' : typeof v === 'object' ? JSON.stringify(v) : String(v);
}
function num(v: number | null): string {
  return v === null ? '-' : v.toLocaleString('en-US', { maximumFractionDigits: 1 });
}
/** JSON inside <script>: `<` escaped so no `</script>` or `<!--` can end or bend the element. */
function jsonForScript(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}
/** JavaScript inside <script>: a `</script` in a string or regex literal is written `<\/script` (same meaning). */
function scriptText(js: string): string {
  return js.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');
}

const STYLE = `
:root { color-scheme: light; --fg: #1c2833; --muted: #5d6d7e; --line: #d5d8dc; --bad: #fdedec; --flag: #fef5e7; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Liberation Sans", sans-serif; color: var(--fg); margin: 0 auto; padding: 16px 24px 48px; max-width: 1400px; }
h1 { font-size: 22px; margin: 8px 0 4px; } h1 small { color: var(--muted); font-weight: normal; font-size: 14px; }
h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 15px; margin: 16px 0 6px; }
.meta { color: var(--muted); margin: 2px 0; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(560px, 1fr)); gap: 16px; }
figure { margin: 0; border: 1px solid var(--line); border-radius: 6px; padding: 8px; }
figcaption { font-weight: 600; margin-bottom: 4px; }
figure.missing { color: var(--muted); }
.chart { width: 100%; height: 340px; }
table { border-collapse: collapse; margin: 8px 0; font-size: 13px; }
th, td { border: 1px solid var(--line); padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f4f6f7; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.bad { background: var(--bad); }
tr.flagged td { background: var(--flag); }
tr.run-failed td { color: #922b21; }
table.runs td:not(:last-child), table.stats td:nth-child(-n+2) { white-space: nowrap; }
ul.verdict li { margin: 2px 0; }
.missing { color: var(--muted); }
code { font-size: 12px; }
`;
