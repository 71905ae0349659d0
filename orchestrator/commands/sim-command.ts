// `ironlab sim`: one scenario on the simulated host, both arms (control = sysbench neighbours, interference =
// the given workload; same quotas, cores, duration and enforcement), so a user sees the penalty and where
// the victim core's time went in each arm.
import { writeFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { UserInputError } from '../../workloads/common/errors.ts';
import { CONTROL_WORKLOAD, WORKLOAD_KINDS, type ScenarioParams, type WorkloadKind } from '../../workloads/catalog.ts';
import { ENFORCEMENTS, type Enforcement } from '../../agents/enforcement/modes.ts';
import { ScenarioParams as ScenarioParamsSchema } from '../../workloads/catalog.ts';
import { simRefusal } from '../../workloads/registry.ts';
import { METRIC, sumOf, type Sample } from '../../agents/samples.ts';
import { listProfiles } from '../../agents/sim/profile.ts';
import { PAPER_NEIGHBOURS, paperRunSpec } from '../../agents/sim/paper-defaults.ts';
import { simulateRun } from '../../agents/sim/simulate.ts';
import type { TimelineBucket } from '../../agents/sim/host-kernel.ts';
import { CORE_CATEGORIES } from '../../agents/samples.ts';

interface SimFlags {
  workload: string;
  rateGbps?: string;
  flows?: string;
  messageBytes?: string;
  enforcement: string;
  neighbours: string;
  duration: string;
  warmup: string;
  seed?: string;
  profile: string;
  timeline?: string;
  json?: boolean;
}

export interface SimArm {
  workload: WorkloadKind;
  victimEventsPerSec: number;
  neighbourThroughput: number;
  neighbourUnit: string;
  /** Seconds per second of window on the victim's core, by category. */
  victimCore: Record<'victim' | 'neighbours' | 'softirq_task' | 'ksoftirqd' | 'idle', number>;
  samples: Sample[];
}

export interface SimCommandResult {
  scenario: {
    workload: WorkloadKind;
    params: ScenarioParams;
    enforcement: Enforcement;
    neighbours: number;
    durationS: number;
    warmupS: number;
    seed: number;
    profile: string;
  };
  control: SimArm;
  interference: SimArm;
  penaltyFactor: number;
}

export function registerSimCommand(program: Command): void {
  program
    .command('sim')
    .description(
      'simulate one scenario on the simulated host: victim throughput with sysbench vs network neighbours, the penalty, and where the core time went',
    )
    .addOption(new Option('--workload <kind>', `neighbour workload (${WORKLOAD_KINDS.join(' | ')})`).makeOptionMandatory())
    .option('--rate-gbps <n>', 'rate (HTB limit for senders, offered rate for receivers)')
    .option('--flows <n>', 'parallel flows')
    .option('--message-bytes <n>', 'message (datagram / write) size')
    .option('--enforcement <mode>', `${ENFORCEMENTS.join(' | ')}`, 'none')
    .option('--neighbours <K>', 'number of neighbour containers (rateGbps is their total)', String(PAPER_NEIGHBOURS))
    .option('--duration <s>', 'measurement window, simulated seconds', '5')
    .option('--warmup <s>', 'warm-up, simulated seconds', '1')
    .option('--seed <n>', 'random seed')
    .option('--profile <name>', 'host profile (agents/sim/profiles)', 'paper')
    .option('--timeline <file.json>', 'write a per-core timeline (10 ms buckets) of both arms')
    .option('--json', 'print the result as JSON')
    .action((flags: SimFlags) => {
      const result = runSimCommand(flags);
      if (flags.json) process.stdout.write(JSON.stringify(stripSamples(result), null, 2) + '\n');
      else process.stdout.write(formatSimResult(result));
    });
}

/** Validate flags, run both arms; exported for tests. */
export function runSimCommand(flags: SimFlags): SimCommandResult {
  const workload = WORKLOAD_KINDS.find((k) => k === flags.workload);
  if (!workload) throw new UserInputError(`unknown workload '${flags.workload}' (${WORKLOAD_KINDS.join(' | ')})`, '--workload');
  const refused = simRefusal([workload]);
  if (refused) throw new UserInputError(refused, '--workload');
  const enforcement = ENFORCEMENTS.find((e) => e === flags.enforcement);
  if (!enforcement) throw new UserInputError(`unknown enforcement '${flags.enforcement}' (${ENFORCEMENTS.join(' | ')})`, '--enforcement');
  const paramsRaw: Record<string, number> = {};
  if (flags.rateGbps !== undefined) paramsRaw.rateGbps = num(flags.rateGbps, '--rate-gbps');
  if (flags.flows !== undefined) paramsRaw.flows = num(flags.flows, '--flows');
  if (flags.messageBytes !== undefined) paramsRaw.messageBytes = num(flags.messageBytes, '--message-bytes');
  const parsed = ScenarioParamsSchema.safeParse(paramsRaw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const flag = { rateGbps: '--rate-gbps', flows: '--flows', messageBytes: '--message-bytes' }[String(issue?.path[0])] ?? 'params';
    throw new UserInputError(issue?.message ?? 'invalid', flag);
  }
  const neighbours = int(flags.neighbours, '--neighbours', 1, 64);
  const durationS = num(flags.duration, '--duration');
  const warmupS = num(flags.warmup, '--warmup', true);
  if (durationS <= 0 || durationS > 3600) throw new UserInputError('must be in (0, 3600] seconds', '--duration');
  if (warmupS > 600) throw new UserInputError('must be at most 600 seconds', '--warmup');
  const seed = flags.seed === undefined ? 1 : int(flags.seed, '--seed', -(2 ** 31), 2 ** 31 - 1);
  if (!listProfiles().includes(flags.profile))
    throw new UserInputError(`unknown profile '${flags.profile}' (${listProfiles().join(', ')})`, '--profile');

  const timelineBucketMs = flags.timeline ? 10 : undefined;
  const arm = (kind: WorkloadKind, params: ScenarioParams) => {
    const spec = paperRunSpec({ workload: kind, params, enforcement, neighbours, durationS, warmupS, seed, profile: flags.profile });
    return simulateRun(spec, { timelineBucketMs });
  };
  const control = arm(CONTROL_WORKLOAD, {});
  const interference = arm(workload, parsed.data);
  const result: SimCommandResult = {
    scenario: { workload, params: parsed.data, enforcement, neighbours, durationS, warmupS, seed, profile: flags.profile },
    control: summarise(CONTROL_WORKLOAD, control.samples, durationS),
    interference: summarise(workload, interference.samples, durationS),
    penaltyFactor: 0,
  };
  result.penaltyFactor = result.control.victimEventsPerSec / result.interference.victimEventsPerSec;
  if (flags.timeline) {
    const doc = {
      bucketS: 0.01,
      categories: CORE_CATEGORIES,
      note: 'seconds per category per core in each bucket, warm-up included (tS from simulation start)',
      scenario: result.scenario,
      arms: { control: timelineOf(control.timeline), interference: timelineOf(interference.timeline) },
    };
    writeFileSync(flags.timeline, JSON.stringify(doc) + '\n');
  }
  return result;
}

function timelineOf(buckets: TimelineBucket[]) {
  return buckets.map((b) => ({ tS: Number(b.tS.toFixed(3)), cores: b.cores.map((row) => row.map((x) => Number(x.toFixed(9)))) }));
}

function summarise(workload: WorkloadKind, samples: Sample[], windowS: number): SimArm {
  const core = (category: string) => sumOf(samples, METRIC.coreTimeS, { core: '0', category }) / windowS;
  const gbps = sumOf(samples, METRIC.neighbourThroughputGbps);
  const network = workload !== CONTROL_WORKLOAD;
  return {
    workload,
    victimEventsPerSec: sumOf(samples, METRIC.victimEventsPerSec),
    neighbourThroughput: network ? gbps : sumOf(samples, METRIC.neighbourEventsPerSec),
    neighbourUnit: network ? 'Gbit/s' : 'events/s',
    victimCore: {
      victim: core('victim'),
      neighbours: core('neighbours'),
      softirq_task: core('softirq_task'),
      ksoftirqd: core('ksoftirqd'),
      idle: core('idle'),
    },
    samples,
  };
}

function stripSamples(r: SimCommandResult) {
  const arm = ({ samples: _s, ...rest }: SimArm) => rest;
  return { ...r, control: arm(r.control), interference: arm(r.interference) };
}

export function formatSimResult(r: SimCommandResult): string {
  const s = r.scenario;
  const params = Object.entries(s.params)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  const pct = (x: number) => `${(x * 100).toFixed(1).padStart(5)}%`;
  const lines = [
    `scenario: ${s.workload}${params ? ` (${params})` : ''}, enforcement ${s.enforcement}, ${s.neighbours} neighbour(s), ${s.durationS}s window after ${s.warmupS}s warm-up, seed ${s.seed}, profile ${s.profile}`,
    '',
    `                      control (sysbench)   interference (${s.workload})`,
    `victim events/s      ${r.control.victimEventsPerSec.toFixed(1).padStart(18)}   ${r.interference.victimEventsPerSec.toFixed(1).padStart(18)}`,
    `neighbour throughput ${`${r.control.neighbourThroughput.toFixed(1)} ${r.control.neighbourUnit}`.padStart(18)}   ${`${r.interference.neighbourThroughput.toFixed(2)} ${r.interference.neighbourUnit}`.padStart(18)}`,
    '',
    'victim core (core 0) time:',
  ];
  const rows: [string, keyof SimArm['victimCore']][] = [
    ['victim (sysbench)', 'victim'],
    ['neighbours (task)', 'neighbours'],
    ['softirq in task ctx', 'softirq_task'],
    ['ksoftirqd', 'ksoftirqd'],
    ['idle', 'idle'],
  ];
  for (const [label, key] of rows)
    lines.push(
      `  ${label.padEnd(20)} ${pct(r.control.victimCore[key]).padStart(16)}   ${pct(r.interference.victimCore[key]).padStart(18)}`,
    );
  lines.push('', `penalty factor: ${r.penaltyFactor.toFixed(2)}  (control / interference victim events/s; 1.00 = perfect isolation)`, '');
  return lines.join('\n');
}

function num(v: string, flag: string, allowZero = false): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || (allowZero ? n < 0 : n <= 0))
    throw new UserInputError(`expected a ${allowZero ? 'non-negative' : 'positive'} number, got '${v}'`, flag);
  return n;
}

function int(v: string, flag: string, min: number, max: number): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < min || n > max)
    throw new UserInputError(`expected an integer in [${min}, ${max}], got '${v}'`, flag);
  return n;
}
