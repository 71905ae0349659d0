// `ironlab calibrate`'s arithmetic and profile writing, and `ironlab run --sim-profile FILE`, without a real
// host: figures from known samples, the merged profile, and the CLI on a good and a bad profile file.
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { buildHostProfile, spread } from '../../agents/calibrate/host-profile.ts';
import { measurementsFrom, runFigures, timerInterruptNs } from '../../agents/calibrate/figures.ts';
import { parseLocalTimerInterrupts, withRetries } from '../../agents/calibrate/floods.ts';
import { cpuClockAttr } from '../../agents/calibrate/timer-interrupts.ts';
import { calibrationRetry, calibrationRuns, TIMER_STIMULUS_PERIOD_NS } from '../../orchestrator/commands/calibrate-command.ts';
import { FatalError, RetryableError } from '../../workloads/common/errors.ts';
import { parseKernelConfig } from '../../agents/calibrate/kernel-config.ts';
import { loadProfile } from '../../agents/sim/profile.ts';
import { paperRunSpec } from '../../agents/sim/paper-defaults.ts';
import { METRIC, sample } from '../../agents/samples.ts';
import { runCli, tempDb } from '../e2e/helpers.ts';

const on = { host: 'TestHost', kernel: '6.18.0-test', date: '2026-11-30T15:00:00.000Z', command: 'ironlab calibrate local-docker' };
const tmp = () => mkdtempSync(join(tmpdir(), 'ironlab-cal-'));

describe('the calibrated profile', () => {
  it('starts from paper, replaces only the measured keys with their median, and says where and how', () => {
    const paper = loadProfile('paper');
    const p = buildHostProfile(
      paper,
      [{ key: 'udpRxStackNsPerPacket', unit: 'ns', values: [2100, 1900, 2000.4], how: 'NET_RX per datagram.' }],
      on,
      { nicDriver: 'veth', irqTimeAccounting: false },
    );
    expect(p.name).toBe('host-testhost');
    expect(p.udpRxStackNsPerPacket).toBe(2000);
    expect(p._kind.udpRxStackNsPerPacket).toBe('measured');
    expect(p._doc.udpRxStackNsPerPacket).toMatch(/TestHost \(6\.18\.0-test, 2026-11-30.*median 2000 ns of 3 \(min 1900, max 2100\)/);
    expect(p._kind.irqTimeAccounting).toBe('measured');
    expect(p._measured).toMatchObject({ host: 'TestHost', kernel: '6.18.0-test', basedOn: 'paper' });
    // everything else is the paper's, kind included
    expect(p.tcpRxCopyNsPerByte).toBe(paper.tcpRxCopyNsPerByte);
    expect(p._kind.tcpRxCopyNsPerByte).toBe(paper._kind.tcpRxCopyNsPerByte);
    // and it loads back as a file
    const f = join(tmp(), 'host.json');
    writeFileSync(f, JSON.stringify(p));
    expect(loadProfile(f).udpRxStackNsPerPacket).toBe(2000);
  });

  it('refuses a measured value outside the schema', () => {
    expect(() => buildHostProfile(loadProfile('paper'), [{ key: 'irqModerationUs', unit: 'us', values: [0], how: '' }], on)).toThrow(
      /irqModerationUs/,
    );
  });

  it('spreads are median, min and max', () => {
    expect(spread([3, 1, 2, 10])).toEqual({ median: 2.5, min: 1, max: 10, n: 4 });
  });
});

describe('figures from a flood run', () => {
  /** What a 2 s window's accounting reports for neighbour-0: the softirq time it owns per vector, what was charged, its cgroup usage. */
  const accounted = (a: { netRxS: number; netTxS: number; chargedS: number; cgroupS: number }) => [
    sample(METRIC.windowS, 2, 's'),
    sample(METRIC.attributedSoftirqS, a.netRxS, 's', { container: 'neighbour-0', vec: 'NET_RX' }),
    sample(METRIC.attributedSoftirqS, a.netTxS, 's', { container: 'neighbour-0', vec: 'NET_TX' }),
    sample(METRIC.chargedTimeS, a.chargedS, 's', { container: 'neighbour-0', enforced: 'no' }),
    sample(METRIC.cgroupUsageS, a.cgroupS, 's', { container: 'neighbour-0' }),
  ];
  const spec = paperRunSpec({
    workload: 'udp-receiver',
    params: { messageBytes: 1470 },
    enforcement: 'none',
    neighbours: 1,
    durationS: 2,
    warmupS: 1,
    seed: 1,
    profile: 'paper',
  });
  const run = {
    spec,
    windowS: 2,
    rxSkbs: 400_000,
    rxBytes: 600e6,
    txSkbs: 0,
    txBytes: 0,
    locPerCore: [500, 10],
    timerPeriodNs: null as number | null,
    samples: [
      ...accounted({ netRxS: 0.8, netTxS: 0, chargedS: 0.6, cgroupS: 0.9 }),
      sample(METRIC.packetsReceived, 350_000, 'packets', { container: 'neighbour-0' }),
      sample('softirq_count', 20_000, 'count', { core: '0', vec: 'NET_RX' }),
    ],
  };
  it('divides the accounted NET_RX time by the skbs, the task time (minus softirq on it) by the datagrams', () => {
    const f = runFigures(run);
    expect(f.netRxSource).toBe('ebpf');
    expect((f.netRxS * 1e9) / f.skbs).toBeCloseTo(2000, 6); // 0.8 s / 400k
    expect(f.appCpuS).toBeCloseTo(0.9 - 0.2, 9); // 0.2 s of its NET_RX ran on its own time
    expect(f.ticksPerS).toBe(250);
    const m = new Map(measurementsFrom([f], loadProfile('paper')).map((x) => [x.key, x.values[0]]));
    expect(m.get('udpRxStackNsPerPacket')).toBeCloseTo(2000, 6);
    expect(m.get('udpRecvSyscallNsPerPacket')).toBeCloseTo(2000, 6); // 0.7 s / 350k
    expect(m.get('irqModerationUs')).toBe(100); // 2 s / 20k softirqs
    expect(m.get('driverRxNsPerPacket')).toBe(0);
  });
  it('counts TCP segments as payload / MSS (a veth passes 64 KB TSO skbs whole)', () => {
    const tcpSpec = { ...spec, workload: 'tcp-receiver' as const, params: { messageBytes: 131072 } };
    // 10k skbs of 45 segments each, 0.2 s of NET_RX: 20 us per skb, 444 ns per segment
    const f = runFigures({
      ...run,
      spec: tcpSpec,
      rxSkbs: 10_000,
      rxBytes: 10_000 * (45 * 1448 + 66),
      samples: [...run.samples, sample(METRIC.neighbourThroughputGbps, 2.6, 'Gbit/s', { container: 'neighbour-0' })].map((s) =>
        s.metric === METRIC.attributedSoftirqS && s.labels.vec === 'NET_RX' ? { ...s, value: 0.2 } : s,
      ),
    });
    const paper = loadProfile('paper');
    const m = new Map(measurementsFrom([f], paper).map((x) => [x.key, x.values[0]]));
    const ack = paper.tcpAckTxNsPerPacket + paper.txCompletionNsPerPacket;
    expect(m.get('tcpRxGroNsPerPacket')).toBeCloseTo((0.2e9 - ack * 10_000) / 450_000, 6);
    expect(m.get('tcpRxStackNsPerSuperPacket')).toBe(0);
  });

  it("senders: NET_TX per queued datagram is the HTB dequeue path, the task time per datagram its sendmsg; a TCP sender's task time per byte and NET_TX per skb", () => {
    const paper = loadProfile('paper');
    const htbSpec = { ...spec, workload: 'udp-sender' as const, params: { rateGbps: 1 } };
    // 170k datagrams, 0.204 s of NET_TX owned by the sender (1200 ns each), 0.34 s of task time of which 0.01 s softirq
    const htb = runFigures({
      ...run,
      spec: htbSpec,
      rxSkbs: 0,
      rxBytes: 0,
      txSkbs: 170_000,
      txBytes: 170_000 * 1512,
      samples: [
        ...accounted({ netRxS: 0.01, netTxS: 0.204, chargedS: 0.204, cgroupS: 0.35 }),
        sample(METRIC.packetsSent, 170_000, 'packets', { container: 'neighbour-0' }),
        sample('softirq_count', 150_000, 'count', { core: '0', vec: 'NET_TX' }),
      ],
    });
    expect(htb.netTxSoftirqs / htb.sent).toBeCloseTo(150 / 170, 9);
    const m = new Map(measurementsFrom([htb], paper).map((x) => [x.key, x.values[0]]));
    expect(m.get('htbDequeueNsPerPacket')).toBeCloseTo(1200, 6);
    expect(m.has('htbWatchdogNsPerWakeup')).toBe(false); // measured by the timer stimulus, not from the HTB cell
    expect(m.get('driverTxNsPerPacket')).toBe(0);
    expect(m.get('udpTxSyscallNsPerPacket')).toBeCloseTo(((0.35 - 0.01) * 1e9) / 170_000, 6);
    const tcpSpec = { ...spec, workload: 'tcp-sender' as const, params: { flows: 2, messageBytes: 131072 } };
    // 2.5 Gbit/s for 2 s = 625 MB; 10k TSO skbs out, 20k ACKs in
    const tcp = runFigures({
      ...run,
      spec: tcpSpec,
      rxSkbs: 20_000,
      rxBytes: 20_000 * 66,
      txSkbs: 10_000,
      txBytes: 625e6,
      samples: [
        ...accounted({ netRxS: 0.03, netTxS: 0.001, chargedS: 0.031, cgroupS: 0.3 }),
        sample(METRIC.neighbourThroughputGbps, 2.5, 'Gbit/s', { container: 'neighbour-0' }),
      ],
    });
    const t = new Map(measurementsFrom([tcp], paper).map((x) => [x.key, x.values[0]]));
    expect(t.get('tcpTxCopyNsPerByte')).toBeCloseTo(0.3e9 / 625e6 - paper.tcpSyscallNsPerCall / 131072, 6);
    expect(t.get('txCompletionNsPerPacket')).toBeCloseTo(100, 6);
    expect(t.has('tcpAckRxNsPerPacket')).toBe(false); // on a veth host that NET_RX time is the peer's receive path
  });

  it("a timer interrupt's cost: the events per CPU-second the stimulus took, times its period, against the control of the same repetition", () => {
    const ctl = (rep: number, eps: number, timerPeriodNs: number | null, loc = 500) =>
      runFigures({
        ...run,
        spec: { ...spec, workload: 'sysbench' as const, repetition: rep, params: {} },
        locPerCore: [loc, 10],
        timerPeriodNs,
        samples: [
          sample(METRIC.windowS, 2, 's'),
          sample(METRIC.cgroupUsageS, 1, 's', { container: 'victim' }),
          sample(METRIC.victimEventsPerSec, eps, 'events/s'),
          sample(METRIC.cgroupUsageS, 0, 's', { container: 'neighbour-0' }),
        ],
      });
    // Repetition 0: 4000 -> 3400 events per CPU-second at 10 k interrupts/s: 15% of the victim's time, 15 us each.
    // Repetition 1 has a slower control (drift): paired, it gives the same cost.
    const figs = [ctl(0, 2000, null), ctl(0, 1700, 100_000, 10_500), ctl(1, 1800, null), ctl(1, 1530, 100_000, 10_400)];
    expect(figs[1]!.victimTicksPerS).toBe(5250);
    expect(timerInterruptNs(figs[1]!, 4000)).toBeCloseTo(15_000, 6);
    const m = measurementsFrom(figs, loadProfile('paper'));
    expect(m.find((x) => x.key === 'htbWatchdogNsPerWakeup')?.values.map((v) => Math.round(v))).toEqual([15_000, 15_000]);
    // The stimulus runs are not controls.
    expect(m.find((x) => x.key === 'sysbenchEventsPerCpuSecond')?.values).toEqual([4000, 3600]);
    // A stimulus that cost nothing measurable (noise above the control) is dropped, not written as a negative cost.
    expect(
      measurementsFrom([ctl(0, 2000, null), ctl(0, 2050, 100_000)], loadProfile('paper')).some((x) => x.key === 'htbWatchdogNsPerWakeup'),
    ).toBe(false);
  });

  it('falls back to the tick-sampled softirq time without accounting', () => {
    const f = runFigures({
      ...run,
      samples: [
        ...run.samples.filter((s) => s.metric !== METRIC.attributedSoftirqS),
        sample(METRIC.softirqTimeS, 0.5, 's', { core: '0', vec: 'NET_RX' }),
      ],
    });
    expect(f.netRxSource).toBe('stat');
    expect(f.netRxS).toBe(0.5);
  });
});

describe('the timer stimulus', () => {
  it('asks for a cpu-clock event (struct perf_event_attr, VER0) at the period, and refuses a period under the kernel floor', () => {
    const b = cpuClockAttr(100_000);
    expect([b.readUInt32LE(0), b.readUInt32LE(4), Number(b.readBigUInt64LE(8)), Number(b.readBigUInt64LE(16))]).toEqual([
      1, 64, 0, 100_000,
    ]);
    expect(b.subarray(24).every((x) => x === 0)).toBe(true); // no sample written, enabled at open
    expect(() => cpuClockAttr(5000)).toThrow(/>= 10000/);
  });
  it('runs the control again with the stimulus in every repetition', () => {
    const runs = calibrationRuns('local-docker', 2, 2, 'x');
    const timed = runs.filter((r) => r.timerPeriodNs);
    expect(timed.map((r) => [r.spec.workload, r.spec.repetition, r.timerPeriodNs])).toEqual([
      ['sysbench', 0, TIMER_STIMULUS_PERIOD_NS],
      ['sysbench', 1, TIMER_STIMULUS_PERIOD_NS],
    ]);
    for (const rep of [0, 1])
      expect(runs.some((r) => r.spec.workload === 'sysbench' && r.spec.repetition === rep && !r.timerPeriodNs)).toBe(true);
    expect(new Set(runs.map((r) => r.spec.runId)).size).toBe(runs.length);
  });
});

describe('host counters', () => {
  it('reads the LOC line of /proc/interrupts and the kernel config', () => {
    expect(
      parseLocalTimerInterrupts(
        '           CPU0       CPU1\n  0:         10          0   IO-APIC   2-edge  timer\nLOC:     123456      7890   Local timer interrupts\n',
      ),
    ).toEqual([123456, 7890]);
    expect(parseKernelConfig('CONFIG_HZ_250=y\nCONFIG_HZ=250\n# CONFIG_IRQ_TIME_ACCOUNTING is not set\n', 'x')).toEqual({
      source: 'x',
      irqTimeAccounting: false,
      hz: 250,
    });
    expect(parseKernelConfig('CONFIG_IRQ_TIME_ACCOUNTING=y\n', 'x').irqTimeAccounting).toBe(true);
  });
});

describe('ironlab run --sim-profile', () => {
  it('refuses a bad profile file with exit 2, naming it, and creates no store', async () => {
    const dir = tmp();
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ ...loadProfile('paper'), irqModerationUs: -1 }));
    const db = join(dir, 'x.db');
    const r = await runCli(['run', 'smoke', '--sim-profile', bad, '--db', db, '--no-progress']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(bad);
    expect(r.stderr).toContain('irqModerationUs');
    expect(existsSync(db)).toBe(false);
    const missing = await runCli(['run', 'smoke', '--sim-profile', join(dir, 'nope.json'), '--db', db, '--no-progress']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('nope.json');
  });

  it("runs a docker campaign on simulated hosts with the file's profile", async () => {
    const f = join(tmp(), 'host.json');
    writeFileSync(
      f,
      JSON.stringify(
        buildHostProfile(loadProfile('paper'), [{ key: 'udpRxStackNsPerPacket', unit: 'ns', values: [1500], how: 'test.' }], on),
      ),
    );
    const db = tempDb();
    const r = await runCli(['run', 'local-docker', '--sim-profile', f, '--db', db, '--no-progress']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('local-docker, sim');
    const sql = new Database(db, { readonly: true });
    const profiles = new Set(
      (sql.prepare('SELECT provenance_json FROM runs').all() as { provenance_json: string }[]).map(
        (x) => JSON.parse(x.provenance_json).profile,
      ),
    );
    sql.close();
    expect(profiles).toEqual(new Set(['host-testhost']));
  }, 120_000);
});

describe('a failed calibration flood', () => {
  // The docker backend's error when a workload container exits before the window ends (loaded host).
  const exitedEarly = () => new RetryableError('ironlab-victim exited early (code 0): ', 'WORKLOAD_EXITED');

  it('is tried again, as `ironlab run` retries a run: one early exit does not end the calibration', async () => {
    const lines: string[] = [];
    let calls = 0;
    const flood = await withRetries(
      async (attempt) => {
        calls++;
        if (attempt === 1) throw exitedEarly();
        return `measured on attempt ${attempt}`;
      },
      calibrationRetry(3, (l) => lines.push(l)),
    );
    expect(flood).toBe('measured on attempt 2');
    expect(calls).toBe(2);
    expect(lines).toEqual(['  attempt 1 of 3 failed (retryable): ironlab-victim exited early (code 0): ; trying again']);
  });

  it("stops after the campaign's maxAttempts with the last error", async () => {
    let calls = 0;
    const lines: string[] = [];
    const all = withRetries(
      async () => {
        calls++;
        throw exitedEarly();
      },
      calibrationRetry(3, (l) => lines.push(l)),
    );
    await expect(all).rejects.toThrow(/exited early/);
    expect(calls).toBe(3);
    expect(lines.at(-1)).toBe('  attempt 3 of 3 failed (retryable): ironlab-victim exited early (code 0): ');
  });

  it('is not tried again when the failure is fatal', async () => {
    let calls = 0;
    const all = withRetries(
      async () => {
        calls++;
        throw new FatalError("enforcement 'ebpf' cannot run on calibrate-x: no BTF", 'UNSUPPORTED');
      },
      calibrationRetry(3, () => undefined),
    );
    await expect(all).rejects.toThrow(/cannot run/);
    expect(calls).toBe(1);
  });
});
