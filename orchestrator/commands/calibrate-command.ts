// `ironlab calibrate [CAMPAIGN] --out host.json`: measure this host's receive costs through the docker
// backend's own runs (agents/calibrate/floods.ts) and write a simulator profile: the paper profile with the
// measured keys replaced (`_kind: measured`, host/kernel/date in `_measured`). The floods are the campaign's
// receive cells (its message sizes and rates) plus its sysbench control, and the control again with timer
// interrupts on the victim's core (what a timer interrupt costs the task it lands on), each repeated, under `none`
// (eBPF accounting on where the host allows it). Prints every figure as median [min-max].
import { accessSync, constants, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import type { RunSpec } from '../../agents/run-spec.ts';
import { runFloods, type CalibrationFlood, type RetryRule } from '../../agents/calibrate/floods.ts';
import { measurementsFrom, mssSegments, pairedTimerInterruptNs, runFigures, type RunFigures } from '../../agents/calibrate/figures.ts';
import { buildHostProfile, fmt, spread } from '../../agents/calibrate/host-profile.ts';
import { readKernelConfig } from '../../agents/calibrate/kernel-config.ts';
import { loadProfile } from '../../agents/sim/profile.ts';
import { expandCampaign } from '../campaign/matrix.ts';
import { loadCampaign } from '../campaign/spec.ts';
import { ledgerRules } from '../store/store.ts';
import { guardViolations } from '../analysis/guards.ts';
import { isRetryable, messageOf, PrerequisiteError, UserInputError } from '../../workloads/common/errors.ts';

export interface CalibrateOptions {
  campaign?: string;
  out: string;
  repetitions: number;
  durationS: number;
}

const CALIBRATED = new Set(['sysbench', 'udp-receiver', 'tcp-receiver', 'udp-sender', 'tcp-sender']);
export const DEFAULT_CALIBRATION_CAMPAIGN = 'local-docker';
/**
 * The timer stimulus's period: 10 k interrupts/s, the order of the HTB watchdog wakeups a rate-limited sender
 * makes here (12.4 k/s at 0.15 Gbit/s), enough to cost a measurable share of the core (12-25% on a VM host
 * where an interrupt costs ~15 us), not so many that the core does little else.
 */
export const TIMER_STIMULUS_PERIOD_NS = 100_000;

/**
 * When a failed flood is tried again: the rule `ironlab run`'s ledger applies to a run (retryable and fewer
 * than the campaign's maxAttempts attempts), saying each failure as the campaign driver does.
 */
export function calibrationRetry(maxAttempts: number, say: (line: string) => void): RetryRule {
  return (err, attempts) => {
    const retryable = isRetryable(err);
    const again = ledgerRules.afterFailure({ attempts, budget_base: 0 }, retryable, maxAttempts) === 'todo';
    say(
      `  attempt ${attempts} of ${maxAttempts} failed (${retryable ? 'retryable' : 'fatal'}): ${messageOf(err)}${again ? '; trying again' : ''}`,
    );
    return again;
  };
}

/**
 * The runs of a calibration: one per receive and send cell of the campaign, its control, and the control with the
 * timer stimulus, per repetition.
 */
export function calibrationRuns(campaign: string, repetitions: number, durationS: number, stamp: string): CalibrationFlood[] {
  const { spec } = loadCampaign(campaign);
  const campaignId = `calibrate-${stamp}`;
  const cells = new Map<string, RunSpec>();
  for (const r of expandCampaign(spec, campaignId)) if (CALIBRATED.has(r.workload) && !cells.has(r.scenarioId)) cells.set(r.scenarioId, r);
  const control = [...cells.values()].find((r) => r.workload === 'sysbench')!;
  // A campaign without a receive cell still gets one of each, with the catalog's default message size.
  for (const workload of ['udp-receiver', 'tcp-receiver'] as const)
    if (![...cells.values()].some((r) => r.workload === workload))
      cells.set(workload, { ...control, workload, scenarioId: workload, params: {} });
  // Senders: an HTB-limited UDP sender (its dequeues run in NET_TX) and a TCP sender; only the UDP sender with a
  // rate says anything about HTB, so a campaign without one gets a 1 Gbit/s cell.
  if (![...cells.values()].some((r) => r.workload === 'udp-sender' && r.params.rateGbps !== undefined))
    cells.set('udp-sender-htb', { ...control, workload: 'udp-sender', scenarioId: 'udp-sender-htb', params: { rateGbps: 1 } });
  for (const [id, r] of cells) if (r.workload === 'udp-sender' && r.params.rateGbps === undefined) cells.delete(id);
  if (![...cells.values()].some((r) => r.workload === 'tcp-sender'))
    cells.set('tcp-sender', { ...control, workload: 'tcp-sender', scenarioId: 'tcp-sender', params: {} });
  const list: CalibrationFlood[] = [...cells.values()].map((spec) => ({ spec }));
  list.push({ spec: { ...control, scenarioId: 'timer-interrupts' }, timerPeriodNs: TIMER_STIMULUS_PERIOD_NS });
  const out: CalibrationFlood[] = [];
  for (let rep = 0; rep < repetitions; rep++)
    for (const [i, { spec: cell, ...stimulus }] of list.entries())
      out.push({
        ...stimulus,
        spec: {
          ...cell,
          campaignId,
          runId: `cal-${rep}-${i}`,
          repetition: rep,
          enforcement: 'none',
          durationS,
          warmupS: 1,
          peer: { cpus: cell.peer.cpus },
          profile: 'paper',
        },
      });
  return out;
}

export async function calibrateCommand(o: CalibrateOptions): Promise<number> {
  const out = resolve(o.out);
  if (!existsSync(dirname(out))) throw new UserInputError(`no directory ${dirname(out)} to write the profile in`, '--out');
  try {
    accessSync(dirname(out), constants.W_OK);
  } catch {
    throw new UserInputError(`cannot write in ${dirname(out)}`, '--out');
  }
  const campaign = o.campaign ?? DEFAULT_CALIBRATION_CAMPAIGN;
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');
  const runs = calibrationRuns(campaign, o.repetitions, o.durationS, stamp);
  if (process.getuid?.() !== 0)
    throw new PrerequisiteError('calibrate measures this host with real containers and eBPF: run it as root (sudo npx ironlab calibrate)');
  const base = loadProfile('paper');
  const kcfg = readKernelConfig();
  const kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  const host = hostname();
  const loadBefore = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  process.stdout.write(
    `calibrating ${host} (${kernel}) with ${runs.length} runs of ${campaign}'s receive and send cells and control (${o.durationS} s window each, ${o.repetitions} repetitions); load average ${loadBefore}\n`,
  );

  const say = (line: string) => void process.stdout.write(`${line}\n`);
  const cspec = loadCampaign(campaign).spec;
  const retry = calibrationRetry(cspec.maxAttempts, say);
  const floods = await runFloods(runs, {
    hostId: `calibrate-${host}`,
    retry,
    // The campaign's own guards: steal or foreign CPU on the victim core, or a flood off its rate, would bias the
    // figure as it biases a penalty.
    guard: {
      check: (r) => guardViolations(r.samples, r.spec, cspec.guards),
      maxAttempts: cspec.maxAttempts,
      onKept: (r, reasons) => say(`  kept out of guard after ${cspec.maxAttempts} attempts: ${r.spec.scenarioId}: ${reasons.join('; ')}`),
    },
    onRun: (s, i) => say(`  run ${i + 1}/${runs.length}: ${s.scenarioId} (repetition ${s.repetition + 1})`),
  });
  const figs = floods.map(runFigures);
  const loadAfter = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  process.stdout.write(renderFigures(figs, base.tcpMssBytes));

  const measurements = measurementsFrom(figs, base);
  const ticks = figs.filter((f) => f.workload !== 'sysbench').map((f) => f.ticksPerS);
  if (kcfg.hz)
    measurements.push({
      key: 'timerTickHz',
      unit: 'Hz',
      values: [kcfg.hz],
      how: `CONFIG_HZ from ${kcfg.source} (local timer interrupts on the NIC core during the floods: ${ticks.length ? fmt(spread(ticks).median) : 'n/a'}/s, hrtimers included).`,
    });
  const cpuModel = readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.+)$/m)?.[1] ?? 'unknown';
  const profile = buildHostProfile(
    base,
    measurements,
    {
      host,
      kernel,
      date: new Date().toISOString(),
      command: `ironlab calibrate ${campaign} --repetitions ${o.repetitions} --duration ${o.durationS}`,
      load: `load average ${loadBefore} before, ${loadAfter} after`,
    },
    {
      cpuModel,
      nicName: 'veth (docker bridge, RPS to the NIC core)',
      nicDriver: 'veth',
      coreCount: cpus().length,
      ...(kcfg.irqTimeAccounting === 'unknown' ? {} : { irqTimeAccounting: kcfg.irqTimeAccounting }),
    },
  );
  writeFileSync(out, `${JSON.stringify(profile, null, 2)}\n`);
  const irqCost = measurements.find((m) => m.key === 'htbWatchdogNsPerWakeup');
  process.stdout.write(
    [
      `CONFIG_IRQ_TIME_ACCOUNTING: ${kcfg.irqTimeAccounting === 'unknown' ? 'unknown (no /proc/config.gz or /boot/config-*)' : kcfg.irqTimeAccounting ? 'on' : 'off'}${kcfg.source ? ` (${kcfg.source})` : ''}`,
      `timer: CONFIG_HZ ${kcfg.hz ?? 'unknown'}; a timer interrupt costs the task it lands on ${irqCost ? `${fmt(spread(irqCost.values).median)} ns` : 'n/a'} (the stimulus above: a tick's interrupt without the tick handler's own work, which is not separated)`,
      'not measured: the direct UDP send path (veth_xmit in sendmsg); a NIC interrupt (hardIrqNsPerInterrupt: on a veth host an RPS IPI, not a timer)',
      `load average ${loadBefore} before, ${loadAfter} after: other work on the host inflates the spreads`,
      `wrote ${out}: ${measurements.length} measured keys (${measurements.map((m) => m.key).join(', ')}); use it with: ironlab run CAMPAIGN --sim-profile ${o.out}`,
      '',
    ].join('\n'),
  );
  return 0;
}

/** One line per cell: each figure as median [min-max] over the repetitions. */
export function renderFigures(figs: readonly RunFigures[], mssBytes: number): string {
  const groups = new Map<string, RunFigures[]>();
  for (const f of figs) {
    const k = `${f.workload}${f.timerPeriodNs ? ` + timer interrupts every ${f.timerPeriodNs / 1000} us` : ''}${f.rateGbps ? ` ${f.rateGbps} Gbit/s` : ''}${f.messageBytes ? ` ${f.messageBytes} B` : ''}`;
    groups.set(k, [...(groups.get(k) ?? []), f]);
  }
  const s = (xs: number[]) => {
    const ok = xs.filter(Number.isFinite);
    if (!ok.length) return 'n/a';
    const sp = spread(ok);
    return `${fmt(sp.median)} [${fmt(sp.min)}-${fmt(sp.max)}]`;
  };
  const lines = ['measured (median [min-max] over repetitions):'];
  for (const [k, g] of groups) {
    if (g[0]!.workload === 'sysbench') {
      const timer = g[0]!.timerPeriodNs
        ? `, ${s(g.map((f) => f.victimTicksPerS))} timer irq/s on the victim core, ${s(g.map((f) => pairedTimerInterruptNs(f, figs)))} ns per interrupt`
        : '';
      lines.push(`  ${k}: victim ${s(g.map((f) => f.victimEventsPerCpuS ?? NaN))} events per CPU-second${timer}`);
      continue;
    }
    if (g[0]!.workload === 'udp-sender' || g[0]!.workload === 'tcp-sender') {
      const udp = g[0]!.workload === 'udp-sender';
      const parts = [
        `NET_TX ${s(g.map((f) => (f.netTxS * 1e9) / (udp ? f.sent : f.txSkbs)))} ns/${udp ? 'datagram' : 'skb'}`,
        udp
          ? `${s(g.map((f) => f.netTxSoftirqs / f.sent))} NET_TX softirqs/datagram`
          : `NET_RX owned ${s(g.map((f) => (f.netRxS * 1e9) / f.skbs))} ns/received skb (the peer's receive path on a veth host; not written)`,
        udp
          ? `app ${s(g.map((f) => (f.appCpuS * 1e9) / f.sent))} ns/datagram`
          : `app ${s(g.map((f) => (f.appCpuS * 1e9) / f.appBytes))} ns/byte`,
        udp
          ? `${s(g.map((f) => f.sent / f.windowS / 1000))} kdatagrams/s`
          : `${s(g.map((f) => (f.appBytes * 8) / f.windowS / 1e9))} Gbit/s`,
      ];
      lines.push(`  ${k}: ${parts.join(', ')}`);
      continue;
    }
    const tcp = g[0]!.workload === 'tcp-receiver';
    const parts = [
      `NET_RX ${s(g.map((f) => (f.netRxS * 1e9) / f.skbs))} ns/skb`,
      ...(tcp
        ? [
            `${s(g.map((f) => (f.netRxS * 1e9) / mssSegments(f, mssBytes)))} ns/${mssBytes}-byte segment`,
            `${s(g.map((f) => mssSegments(f, mssBytes) / f.skbs))} segments/skb`,
            `${s(g.map((f) => f.delivered / f.skbs))} InSegs/skb`,
          ]
        : []),
      tcp
        ? `app ${s(g.map((f) => (f.appCpuS * 1e9) / f.appBytes))} ns/byte`
        : `app ${s(g.map((f) => (f.appCpuS * 1e9) / f.delivered))} ns/datagram`,
      `${s(g.map((f) => f.softirqs / f.skbs))} NET_RX softirqs/skb`,
      `${s(g.map((f) => f.skbs / f.windowS / 1000))} kskb/s`,
      `${s(g.map((f) => f.ticksPerS))} timer irq/s on the NIC core`,
      `(NET_RX from ${g[0]!.netRxSource === 'ebpf' ? 'eBPF accounting' : 'tick-sampled /proc/stat'})`,
    ];
    lines.push(`  ${k}: ${parts.join(', ')}`);
  }
  return `${lines.join('\n')}\n`;
}
