// The orchestrator's own CPU on the lab-scale campaign (64 simulated hosts, 5,120 runs), apart from what the `lab`
// part's whole-process figure also counts: a child process runs `ironlab run`'s runCampaign in-process and
// reads process.cpuUsage() around it, so the figure is the orchestrator's work for the campaign (its agents are
// processes of their own; node's and tsx's start-up and module loading are left out). The same child's whole
// process (/proc/PID/stat, as `lab` reads it) is printed beside it, and its peak RSS (VmHWM). A second, smaller campaign (64 hosts, 1,280
// runs) runs under V8's sampling CPU profiler (the one `node --cpu-prof` starts, here through node:inspector so
// that it covers runCampaign alone) and its self time is printed as shares by where the code lives.
// Run alone with `npx tsx test/bench/orchestrator-bench.ts`, or through `npm run bench -- --json orchestrator`.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { PACKAGE_ROOT } from '../../workloads/common/version.ts';
import { cpuMs, labCampaign, peakRssMb } from './lab-bench.ts';

/** Repetitions of the profiled campaign: 1,280 runs, a quarter of the measured one (profiling costs time). */
const PROFILED_REPETITIONS = 64;

interface ChildResult {
  runs: number;
  cpuMs: number;
  /** Self-time shares of the profile, by where the code lives (empty without a profile). */
  shares: Record<string, number>;
}

/** The child: runCampaign in this process, its CPU (and profile) around it, written to `out`. */
async function child(campaign: string, db: string, out: string, profile: boolean): Promise<void> {
  const { runCampaign } = await import('../../testbed/cli/run-command.ts');
  const session = profile ? new Session() : null;
  if (session) {
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
  }
  const t0 = process.cpuUsage();
  const report = await runCampaign({ campaign, db, json: false, progress: false });
  const used = process.cpuUsage(t0);
  const shares = session ? profileShares(((await session.post('Profiler.stop')) as { profile: CpuProfile }).profile) : {};
  session?.disconnect();
  if (report.exitCode !== 0) throw new Error(`the campaign ended with exit ${report.exitCode}`);
  const { SqliteStore } = await import('../../orchestrator/store/sqlite-store.ts');
  const store = SqliteStore.open(db);
  const runs = (await store.ledger(report.campaignId!)).filter((r) => r.status === 'done').length;
  await store.close();
  writeFileSync(out, JSON.stringify({ runs, cpuMs: (used.user + used.system) / 1000, shares } satisfies ChildResult));
}

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string }; children?: number[] }[];
  samples: number[];
  timeDeltas: number[];
}

/** Node's own code, by what it does for the orchestrator (first match; task_queues, the promise and nextTick
 *  queue, is events and timers, not child processes). */
const NODE_PARTS: [RegExp, string][] = [
  [/^node:internal\/(modules|vm|process\/esm_loader)/, 'module loading'],
  [/crypto/, 'crypto'],
  [/^node:(events|internal\/(event_target|timers|process\/task_queues))|^node:timers/, 'events and timers'],
  [/child_process|internal\/process/, 'child processes'],
  [/^node:(net|stream|internal\/(streams|stream_base_commons|net|http|tls|dns|socket))/, 'sockets and streams'],
  [/^node:(fs|internal\/fs)/, 'files'],
  [/^node:(buffer|internal\/buffer|internal\/util|util)/, 'buffers and util'],
];

/** Where a profile node's code lives: a package, a project folder, node's own code, or V8's pseudo-frames. */
function placeOf(url: string, fn: string): string | null {
  if (!url) return /^\((garbage collector|program|idle)\)$/.test(fn) ? fn : null; // null: a builtin, charged to its caller
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  if (url.startsWith('node:')) return `node: ${NODE_PARTS.find(([re]) => re.test(url))?.[1] ?? 'other'}`;
  const path = relative(PACKAGE_ROOT, url.replace(/^file:\/\//, ''));
  return path.startsWith('..') ? 'other' : path.split('/').slice(0, 2).join('/').replace(/\.ts$/, '');
}

/** Self time by place, as shares of the non-idle samples (builtins count for the code that called them). */
export function profileShares(p: CpuProfile): Record<string, number> {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const place = new Map<number, string>();
  const placeFor = (id: number): string => {
    const known = place.get(id);
    if (known !== undefined) return known;
    const n = byId.get(id)!;
    const here = placeOf(n.callFrame.url, n.callFrame.functionName);
    const up = parent.get(id);
    const found = here ?? (up === undefined ? 'native' : placeFor(up));
    place.set(id, found);
    return found;
  };
  const time = new Map<string, number>();
  p.samples.forEach((id, i) => {
    const where = placeFor(id);
    if (where !== '(idle)') time.set(where, (time.get(where) ?? 0) + (p.timeDeltas[i] ?? 0));
  });
  const total = [...time.values()].reduce((a, b) => a + b, 0) || 1;
  const shares: Record<string, number> = {};
  let rest = 0;
  for (const [k, v] of [...time].sort((a, b) => b[1] - a[1]))
    if (v / total >= 0.01) shares[k] = Math.round((v / total) * 1000) / 1000;
    else rest += v / total;
  return { ...shares, 'the rest (each under 1%)': Math.round(rest * 1000) / 1000 };
}

/** One child: the lab campaign (with `repetitions`, else the lab part's), its result, and its whole process's CPU
 *  and peak RSS as /proc says at its end. */
async function runChild(
  dir: string,
  repetitions: number | undefined,
  profile: boolean,
): Promise<ChildResult & { processCpuMs: number; peakRssMb: number }> {
  const tag = profile ? 'profiled' : 'measured';
  const campaign = join(dir, `${tag}.yaml`);
  writeFileSync(campaign, labCampaign(repetitions));
  const out = join(dir, `${tag}.json`);
  const args = [
    '--import',
    import.meta.resolve('tsx'),
    import.meta.filename,
    '--child',
    campaign,
    join(dir, `${tag}.db`),
    out,
    profile ? 'profile' : '',
  ];
  const c = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], cwd: dir });
  let err = '';
  c.stderr.on('data', (d) => (err += d));
  let processCpuMs = 0;
  let rss = 0;
  const timer = setInterval(() => {
    processCpuMs = cpuMs(c.pid!) ?? processCpuMs;
    rss = peakRssMb(c.pid!) ?? rss;
  }, 100);
  const code = await new Promise<number | null>((resolve) => c.on('exit', resolve));
  clearInterval(timer);
  if (code !== 0) throw new Error(`the ${tag} orchestrator failed (exit ${code}): ${err.slice(-2000)}`);
  return { ...(JSON.parse(readFileSync(out, 'utf8')) as ChildResult), processCpuMs, peakRssMb: rss };
}

export async function benchOrchestrator(): Promise<Record<string, number>> {
  const dir = mkdtempSync(join(tmpdir(), 'ironlab-bench-orchestrator-'));
  try {
    const measured = await runChild(dir, undefined, false); // the lab part's campaign
    const profiled = await runChild(dir, PROFILED_REPETITIONS, true);
    const round = (x: number) => Math.round(x * 100) / 100;
    return {
      orchestratorRuns: measured.runs,
      orchestratorCpuMsPerRun: round(measured.cpuMs / measured.runs),
      orchestratorProcessCpuMsPerRun: round(measured.processCpuMs / measured.runs),
      orchestratorRssMb: Math.round(measured.peakRssMb),
      orchestratorProfiledRuns: profiled.runs,
      ...Object.fromEntries(Object.entries(profiled.shares).map(([k, v]) => [`orchestratorCpuShare:${k}`, v])),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') {
  await child(process.argv[3], process.argv[4], process.argv[5], process.argv[6] === 'profile');
  process.exit(0); // as the CLI does: nothing of the campaign is left to wait for
} else if (import.meta.url === `file://${process.argv[1]}`) console.log(JSON.stringify(await benchOrchestrator()));
