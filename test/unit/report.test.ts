import { describe, expect, it } from 'vitest';
import { sample } from '../../agents/samples.ts';
import { summarizePenalties, type RunRecord } from '../../orchestrator/analysis/penalty.ts';
import { ReportJson, reportCsv, reportJson, reportTable, type CsvRunRecord } from '../../orchestrator/report/index.ts';

let seq = 0;
function rec(
  scenarioId: string,
  workload: RunRecord['workload'],
  params: RunRecord['params'],
  enforcement: RunRecord['enforcement'],
  events: number,
  extra: Partial<CsvRunRecord> = {},
): CsvRunRecord {
  return {
    runId: `r${++seq}`,
    scenarioId,
    workload,
    params,
    enforcement,
    repetition: seq % 3,
    status: 'done',
    victimCore: 0,
    hostId: 'sim-1',
    samples: [
      sample('victim_events_per_sec', events, 'events/s', { container: 'victim' }),
      sample('ksoftirqd_share', 0.54, 'ratio', { core: '0' }),
    ],
    ...extra,
  };
}
const tcpRx9 = { rateGbps: 9, flows: 1 };
const records: CsvRunRecord[] = [
  ...['none', 'iron-kernel', 'ebpf'].flatMap((e) =>
    [100, 102, 98].map((v) => rec('sysbench', 'sysbench', {}, e as RunRecord['enforcement'], v)),
  ),
  ...[50, 51, 49].map((v) => rec('tcp-receiver rateGbps=9', 'tcp-receiver', tcpRx9, 'none', v)),
  ...[99, 100, 101].map((v) => rec('tcp-receiver rateGbps=9', 'tcp-receiver', tcpRx9, 'iron-kernel', v)),
  rec('tcp-receiver rateGbps=9', 'tcp-receiver', tcpRx9, 'ebpf', 90),
  ...[80, 82].map((v) => rec('udp-sender unlimited', 'udp-sender', { flows: 1, messageBytes: 1470 }, 'none', v)),
  ...[70, 72].map((v) => rec('udp-sender rateGbps=2', 'udp-sender', { rateGbps: 2, flows: 1, messageBytes: 1470 }, 'none', v)),
];
const summaries = summarizePenalties(records);
const campaign = { id: 'c-2024', name: 'paper', mode: 'sim', createdAt: '2024-05-01T10:00:00.000Z' };

describe('reportTable', () => {
  const text = reportTable(summaries);
  const lines = text.split('\n');
  const row = (scenario: string, enforcement: string) => lines.find((l) => l.includes(` ${scenario} `) && l.includes(` ${enforcement} `));

  it('shows the penalty, its 95% CI, n and the ksoftirqd share per scenario and enforcement', () => {
    expect(lines[1]).toMatch(/scenario\s+│\s+enforcement\s+│\s+penalty\s+│\s+95% CI\s+│\s+n\s+│\s+ksoftirqd/);
    expect(row('tcp-receiver rateGbps=9', 'none')).toMatch(/│\s+2\.00 │\s+\[1\.91, 2\.09\] │\s+3 │\s+54% │/);
    expect(row('tcp-receiver rateGbps=9', 'iron-kernel')).toMatch(/│\s+1\.00 │\s+\[0\.9\d, 1\.0\d\] │\s+3 │/);
    expect(row('tcp-receiver rateGbps=9', 'ebpf')).toMatch(/│\s+1\.11 \(1\) │\s+- │\s+1 │/);
    expect(text).toContain('(1) no interval with 1 repetition in an arm (needs 2)');
    expect(text).toContain('1.00 = perfect isolation');
    expect(text).not.toContain('\u001b['); // no colour codes unless asked
  });

  it('orders rows by catalog workload, then parameters, then none, iron-kernel, ebpf', () => {
    const order = lines
      .filter((l) => l.startsWith('│ ') && !l.includes('scenario'))
      .map((l) =>
        l
          .split('│')
          .slice(1, 3)
          .map((c) => c.trim())
          .join(' / '),
      );
    expect(order).toEqual([
      'udp-sender unlimited / none',
      'udp-sender rateGbps=2 / none',
      'tcp-receiver rateGbps=9 / none',
      'tcp-receiver rateGbps=9 / iron-kernel',
      'tcp-receiver rateGbps=9 / ebpf',
    ]);
  });
});

describe('reportJson', () => {
  const json = reportJson(campaign, summaries);

  it('validates against the contract and survives JSON', () => {
    expect(ReportJson.parse(JSON.parse(JSON.stringify(json)))).toBeTruthy();
    expect(json.campaign).toEqual(campaign);
  });

  it('carries penalty, CI, n, victim means and ksoftirqd share per scenario', () => {
    const s = json.scenarios.find((x) => x.id === 'tcp-receiver rateGbps=9' && x.enforcement === 'none')!;
    expect(s).toMatchObject({
      workload: 'tcp-receiver',
      params: { rateGbps: 9, flows: 1 },
      penalty: { mean: 2, n: 3 },
      victim: { controlEventsPerSec: 100, interferenceEventsPerSec: 50 },
      ksoftirqdShare: 0.54,
    });
    expect(s.penalty.ci95![0]).toBeCloseTo(1.91131, 5);
    expect(json.scenarios.find((x) => x.id === 'udp-sender unlimited')!.params).not.toHaveProperty('rateGbps');
    expect(json.scenarios.find((x) => x.enforcement === 'ebpf')!.penalty.ci95).toBeNull();
  });

  it("names the victim's primary metric, its unit and direction beside the sysbench-era field names", () => {
    const s = json.scenarios.find((x) => x.id === 'tcp-receiver rateGbps=9' && x.enforcement === 'none')!;
    expect(s.victim).toEqual({
      controlEventsPerSec: 100,
      interferenceEventsPerSec: 50,
      metric: 'victim_events_per_sec',
      unit: 'events/s',
      direction: 'higher-is-better',
      controlValue: 100,
      interferenceValue: 50,
    });
    // a report written before these names existed still reads (a --baseline file)
    const old = JSON.parse(JSON.stringify(json));
    for (const x of old.scenarios)
      x.victim = { controlEventsPerSec: x.victim.controlEventsPerSec, interferenceEventsPerSec: x.victim.interferenceEventsPerSec };
    expect(ReportJson.safeParse(old).success).toBe(true);
  });
});

describe('reportCsv', () => {
  it('writes one RFC 4180 row per sample of each done run', () => {
    const odd: CsvRunRecord = {
      ...rec('tcp-receiver rateGbps=9', 'tcp-receiver', tcpRx9, 'none', 1),
      runId: 'r-odd',
      hostId: 'host,"a"',
      samples: [sample('packets_dropped', 3, 'packets', { reason: 'nic_throttled', container: 'neighbour-0' })],
    };
    const failed: CsvRunRecord = { ...rec('sysbench', 'sysbench', {}, 'none', 5), status: 'failed' };
    const csv = reportCsv(campaign, [records[0], odd, failed]);
    const lines = csv.split('\r\n');
    expect(lines[0]).toBe(
      'campaign,run,scenario,workload,rateGbps,flows,messageBytes,enforcement,repetition,host,metric,value,unit,labels',
    );
    expect(lines[1]).toBe(
      `c-2024,${records[0].runId},sysbench,sysbench,,,,none,${records[0].repetition},sim-1,victim_events_per_sec,100,events/s,container=victim`,
    );
    expect(lines).toContain(
      `c-2024,r-odd,tcp-receiver rateGbps=9,tcp-receiver,9,1,,none,${odd.repetition},"host,""a""",packets_dropped,3,packets,container=neighbour-0;reason=nic_throttled`,
    );
    expect(lines).toHaveLength(1 + 2 + 1 + 1); // header, 2 samples, 1 sample, trailing empty
    expect(lines.at(-1)).toBe('');
  });
});
