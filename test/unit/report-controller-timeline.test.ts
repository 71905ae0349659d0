// The HTML report's ebpf controller section: per-period controller samples of a run become one series per
// container, one timeline per ebpf scenario (its first completed repetition), drawn as a static SVG.
import { describe, expect, it } from 'vitest';
import { METRIC, sample, type Sample } from '../../agents/samples.ts';
import { controllerSeries, controllerSvg, controllerTimelines } from '../../orchestrator/report/controller-timeline.ts';

function period(
  container: string,
  t: string,
  v: { charged: number; credited: number; debt: number; quota: number; drops: number },
): Sample[] {
  const l = { container, t };
  return [
    sample(METRIC.controllerChargedS, v.charged, 's', l),
    sample(METRIC.controllerCreditedS, v.credited, 's', l),
    sample(METRIC.controllerDebtS, v.debt, 's', l),
    sample(METRIC.controllerQuotaUs, v.quota, 'us', l),
    sample(METRIC.controllerDrops, v.drops, 'packets', { ...l, on: v.drops ? '1' : '0' }),
  ];
}

const samples = [
  ...period('neighbour-0', '0.2', { charged: 0.06, credited: 0, debt: 0.012, quota: 5000, drops: 0 }),
  ...period('neighbour-0', '0.1', { charged: 0.03, credited: 0.001, debt: 0, quota: 20000, drops: 0 }),
  ...period('neighbour-0', '0.3', { charged: 0.001, credited: 0, debt: 0, quota: 49000, drops: 1234 }),
  sample(METRIC.victimEventsPerSec, 500, 'events/s', { container: 'victim' }),
];

describe('controller timeline (HTML report)', () => {
  it('turns the per-period samples into ordered series in ms', () => {
    const [s] = controllerSeries(samples);
    expect(s).toEqual({
      container: 'neighbour-0',
      t: [0.1, 0.2, 0.3],
      chargedMs: [30, 60, 1],
      creditedMs: [1, 0, 0],
      debtMs: [0, 12, 0],
      quotaMs: [20, 5, 49],
      drops: [0, 0, 1234],
    });
  });

  it('takes the first completed ebpf repetition per scenario, none of the none runs', () => {
    const run = (runId: string, enforcement: string, repetition: number, status = 'done') => ({
      runId,
      scenarioId: 'udp-receiver',
      enforcement,
      status,
      repetition,
      samples,
    });
    const tl = controllerTimelines([run('r3', 'ebpf', 1), run('r1', 'none', 0), run('r2', 'ebpf', 0, 'failed'), run('r4', 'ebpf', 0)]);
    expect(tl.map((x) => x.runId)).toEqual(['r4']);
    expect(controllerTimelines([run('r1', 'none', 0)])).toEqual([]);
  });

  it('draws lines and the drop periods, with the totals in the caption', () => {
    const svg = controllerSvg(controllerSeries(samples)[0]!);
    expect(svg).toContain('neighbour-0: 3 periods, 1234 packets dropped');
    expect(svg.match(/<polyline/g)).toHaveLength(4);
    expect(svg).toContain('t=0.3 s: 1234 packets dropped');
  });
});
