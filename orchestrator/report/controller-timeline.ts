// The ebpf controller over time, for the HTML report: what it did each CFS period of one run per scenario
// (charged and credited time, carried debt, the quota it wrote, packets dropped) from the run's controller_*
// samples (agents/samples.ts), drawn as a static SVG so that it reads with scripts off. Pure: runs in, markup out.
import { METRIC, type Sample } from '../../agents/samples.ts';

export interface ControllerSeries {
  container: string;
  /** Seconds since the window began, one point per period. */
  t: number[];
  chargedMs: number[];
  creditedMs: number[];
  debtMs: number[];
  quotaMs: number[];
  drops: number[];
}
export interface ControllerTimeline {
  runId: string;
  scenarioId: string;
  series: ControllerSeries[];
}

const METRICS = {
  [METRIC.controllerChargedS]: 'chargedMs',
  [METRIC.controllerCreditedS]: 'creditedMs',
  [METRIC.controllerDebtS]: 'debtMs',
  [METRIC.controllerQuotaUs]: 'quotaMs',
  [METRIC.controllerDrops]: 'drops',
} as const;

/** The per-period series of one run (empty when the run has no controller samples, e.g. under none). */
export function controllerSeries(samples: readonly Sample[]): ControllerSeries[] {
  const by = new Map<string, Map<number, Record<string, number>>>();
  for (const s of samples) {
    const key = METRICS[s.metric as keyof typeof METRICS];
    if (!key || s.labels.container === undefined || s.labels.t === undefined) continue;
    const points = by.get(s.labels.container) ?? new Map<number, Record<string, number>>();
    by.set(s.labels.container, points);
    const t = Number(s.labels.t);
    const p = points.get(t) ?? {};
    points.set(t, p);
    p[key] = s.metric === METRIC.controllerDrops ? s.value : s.metric === METRIC.controllerQuotaUs ? s.value / 1000 : s.value * 1000;
  }
  return [...by].map(([container, points]) => {
    const ts = [...points.keys()].sort((a, b) => a - b);
    const col = (k: string) => ts.map((t) => points.get(t)![k] ?? 0);
    return {
      container,
      t: ts,
      chargedMs: col('chargedMs'),
      creditedMs: col('creditedMs'),
      debtMs: col('debtMs'),
      quotaMs: col('quotaMs'),
      drops: col('drops'),
    };
  });
}

/** One timeline per network scenario run under ebpf: its first completed repetition with controller samples. */
export function controllerTimelines(
  runs: readonly {
    runId: string;
    scenarioId: string;
    enforcement: string;
    status: string;
    repetition: number;
    samples?: readonly Sample[];
  }[],
): ControllerTimeline[] {
  const out = new Map<string, ControllerTimeline>();
  const sorted = [...runs].sort((a, b) => a.repetition - b.repetition);
  for (const r of sorted) {
    if (r.enforcement !== 'ebpf' || r.status !== 'done' || out.has(r.scenarioId)) continue;
    const series = controllerSeries(r.samples ?? []).filter((s) => s.t.length > 1);
    if (series.length) out.set(r.scenarioId, { runId: r.runId, scenarioId: r.scenarioId, series });
  }
  return [...out.values()];
}

const W = 640;
const H = 150;
const PAD = { l: 44, r: 10, t: 10, b: 22 };
const LINES = [
  ['quotaMs', 'quota written (ms/period)', '#1f77b4'],
  ['chargedMs', 'charged (ms)', '#d62728'],
  ['creditedMs', 'credited (ms)', '#2ca02c'],
  ['debtMs', 'debt (ms)', '#9467bd'],
] as const;

/** One small SVG chart per container: the lines above, and drop periods as shaded bars with their packet count. */
export function controllerSvg(s: ControllerSeries): string {
  const tMax = Math.max(...s.t, 0.1);
  const yMax = Math.max(1, ...LINES.flatMap(([k]) => s[k]));
  const x = (t: number) => PAD.l + (t / tMax) * (W - PAD.l - PAD.r);
  const y = (v: number) => H - PAD.b - (v / yMax) * (H - PAD.t - PAD.b);
  const step = s.t.length > 1 ? x(s.t[1]!) - x(s.t[0]!) : 4;
  const bars = s.t
    .map((t, i) =>
      s.drops[i]! > 0
        ? `<rect x="${(x(t) - step).toFixed(1)}" y="${PAD.t}" width="${step.toFixed(1)}" height="${H - PAD.t - PAD.b}" fill="#ff7f0e" fill-opacity="0.18"><title>t=${t.toFixed(1)} s: ${s.drops[i]} packets dropped</title></rect>`
        : '',
    )
    .join('');
  const paths = LINES.map(
    ([k, , color]) =>
      `<polyline fill="none" stroke="${color}" stroke-width="1.5" points="${s.t.map((t, i) => `${x(t).toFixed(1)},${y(s[k][i]!).toFixed(1)}`).join(' ')}"/>`,
  ).join('');
  const axes = `<line x1="${PAD.l}" y1="${H - PAD.b}" x2="${W - PAD.r}" y2="${H - PAD.b}" stroke="#888"/><line x1="${PAD.l}" y1="${PAD.t}" x2="${PAD.l}" y2="${H - PAD.b}" stroke="#888"/>`;
  const labels = `<text x="${PAD.l - 4}" y="${PAD.t + 8}" text-anchor="end" font-size="10">${yMax.toFixed(0)}</text><text x="${PAD.l - 4}" y="${H - PAD.b}" text-anchor="end" font-size="10">0</text><text x="${W - PAD.r}" y="${H - 6}" text-anchor="end" font-size="10">${tMax.toFixed(1)} s</text>`;
  const legend =
    LINES.map(([, name, color]) => `<span style="color:${color}">■ ${name}</span>`).join(' ') +
    ' <span style="color:#ff7f0e">■ packets dropped</span>';
  const totalDrops = s.drops.reduce((a, b) => a + b, 0);
  return `<figure class="controller"><figcaption>${s.container}: ${s.t.length} periods, ${totalDrops} packets dropped</figcaption><svg viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="controller actions of ${s.container} per period">${bars}${axes}${paths}${labels}</svg><p class="meta">${legend}</p></figure>`;
}
