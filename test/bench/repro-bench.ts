// The `repro` part of the benchmark: is a real campaign reproducible? It runs the same campaign twice in a row
// (default `local-docker`; `--campaign lab-2host` on a testbed that is up), each `ironlab run --json` in a
// fresh store, and compares the two reports:
//   reproMaxCiHalfWidth:   largest 95% half-width / penalty over every scenario of both campaigns
//   reproMaxCampaignDiff:  largest |a - b| / ((a + b) / 2) between the two campaigns' penalties, per scenario
//   reproCampaignWallS:    the longer of the two campaigns' wall times (s)
// Both campaigns run under /tmp/ironlab-real.lock (flock; $IRONLAB_REAL_LOCK to change), the machine-wide lock
// every real suite takes, held from before the first to after the second, so nothing else real runs beside or
// between them; when the bench itself was started under `flock` on that lock, it uses that hold. It prints, per
// scenario, both penalties with their intervals and notes (steal, foreign CPU, load), and for every scenario that
// misses a target (half-width > 5%, the campaigns > 10% apart) a `why` line from its own counters in each
// campaign (load achieved, steal, foreign CPU and by whom, softirq regime, the arms' CV), so a miss can be read.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IRONLAB_BIN } from '../../testbed/local-agents.ts';

interface SpreadJson {
  min: number;
  max: number;
  mean: number;
  cv: number | null;
  n: number;
}

interface ConditionsJson {
  achievedGbps: SpreadJson | null;
  offeredGbps: SpreadJson | null;
  loadRatio: SpreadJson | null;
  stealShare: SpreadJson | null;
  foreignCpuShare: SpreadJson | null;
  foreignCpuByWho: Record<string, SpreadJson>;
  softirqPerSec: SpreadJson | null;
  ksoftirqdShare: SpreadJson | null;
}

export interface ScenarioJson {
  id: string;
  enforcement: string;
  host?: string | null;
  penalty: { mean: number | null; ci95: [number, number] | null; n: number; method?: string };
  conditionNotes?: string[];
  cv?: { control: number | null; interference: number | null };
  conditions?: { control: ConditionsJson | null; interference: ConditionsJson | null };
  guards?: { control: { repeated: number; kept: number } | null; interference: { repeated: number; kept: number } | null };
}

/** The targets of the repro part (the issue's): half-width / penalty, and the two campaigns' disagreement. */
export const REPRO_TARGETS = { halfWidth: 0.05, campaignDiff: 0.1 };

const pct = (x: number) => `${(x * 100).toFixed(x < 0.1 ? 1 : 0)}%`;
const range = (s: SpreadJson, f: (x: number) => string) => (s.min === s.max ? f(s.min) : `${f(s.min)}-${f(s.max)}`);

/**
 * One campaign's counters of a scenario, in words: the flood's achieved load (against its offered rate), steal,
 * foreign CPU (and whose), the victim core's softirq regime (ksoftirqd share), the arms' CV and the runs the
 * guards kept out of guard. Always says something: a miss with every counter quiet reads as such.
 */
export function countersInWords(s: ScenarioJson): string {
  const c = s.conditions?.interference;
  const parts: string[] = [];
  if (c?.achievedGbps) {
    const load = c.loadRatio
      ? ` = ${range(c.loadRatio, (x) => `${x.toFixed(2)}x`)} of ${c.offeredGbps ? range(c.offeredGbps, (x) => x.toFixed(2)) : '?'} offered`
      : ' (unlimited)';
    parts.push(`load ${range(c.achievedGbps, (x) => x.toFixed(2))} Gbit/s${load}`);
  }
  if (c?.stealShare) parts.push(`steal <= ${pct(c.stealShare.max)}`);
  if (c?.foreignCpuShare) {
    const top = Object.entries(c.foreignCpuByWho).sort((a, b) => b[1].max - a[1].max)[0];
    parts.push(`foreign CPU <= ${pct(c.foreignCpuShare.max)}${top && top[1].max > 0 ? ` (most ${top[0]} ${pct(top[1].max)})` : ''}`);
  }
  if (c?.ksoftirqdShare)
    parts.push(
      `ksoftirqd ${range(c.ksoftirqdShare, pct)} of the victim core (${c.ksoftirqdShare.max >= 0.1 ? (c.ksoftirqdShare.min < 0.1 ? 'both regimes' : 'ksoftirqd regime') : 'inline regime'})`,
    );
  if (s.cv)
    parts.push(
      `CV ctl ${s.cv.control === null ? '-' : pct(s.cv.control)} / int ${s.cv.interference === null ? '-' : pct(s.cv.interference)}`,
    );
  const kept = (s.guards?.control?.kept ?? 0) + (s.guards?.interference?.kept ?? 0);
  const repeated = (s.guards?.control?.repeated ?? 0) + (s.guards?.interference?.repeated ?? 0);
  if (kept || repeated) parts.push(`guards: ${repeated} repeated, ${kept} kept out of guard`);
  if (!c) parts.push('no counters recorded');
  return parts.join('; ');
}

/** Which targets a scenario misses (empty: none), given its row in both campaigns. */
export function missedTargets(a: ScenarioJson, b: ScenarioJson | undefined): string[] {
  const out: string[] = [];
  for (const [i, s] of [a, b].entries()) {
    if (!s) continue;
    const { mean, ci95 } = s.penalty;
    const half = mean === null || ci95 === null ? Infinity : Math.max(mean - ci95[0], ci95[1] - mean) / mean;
    if (half > REPRO_TARGETS.halfWidth)
      out.push(`campaign ${i + 1} half-width ${Number.isFinite(half) ? pct(half) : 'unbounded'} > ${pct(REPRO_TARGETS.halfWidth)}`);
  }
  const x = a.penalty.mean;
  const y = b?.penalty.mean ?? null;
  const diff = x === null || y === null ? Infinity : Math.abs(x - y) / ((x + y) / 2);
  if (diff > REPRO_TARGETS.campaignDiff)
    out.push(`campaigns ${Number.isFinite(diff) ? pct(diff) : 'not both measured'} apart > ${pct(REPRO_TARGETS.campaignDiff)}`);
  return out;
}

export const REAL_LOCK = process.env.IRONLAB_REAL_LOCK ?? '/tmp/ironlab-real.lock';

/** Whether a process above this one is `flock <lock> ...` (the bench was started under the lock already). */
export function lockHeldAbove(lock: string): boolean {
  let pid = process.ppid;
  for (let depth = 0; pid > 1 && depth < 32; depth++) {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (argv[0].endsWith('flock') && argv.includes(lock)) return true;
      pid = Number(/^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    } catch {
      return false;
    }
  }
  return false;
}

/**
 * Takes the lock for as long as the returned holder lives: `flock` runs `cat` on a pipe from this process, so
 * the lock goes when release() closes the pipe, or when this process dies for any reason.
 */
export async function holdLock(lock: string): Promise<{ release: () => void }> {
  const holder: ChildProcess = spawn('flock', [lock, 'sh', '-c', 'echo locked; exec cat'], { stdio: ['pipe', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    holder.once('error', (err) => reject(new Error(`cannot start flock (util-linux): ${err.message}`)));
    holder.once('exit', (code) => reject(new Error(`flock ${lock} exited (${code}) before taking the lock`)));
    holder.stdout!.once('data', () => resolve());
  });
  holder.removeAllListeners('exit');
  return { release: () => holder.stdin!.end() };
}

function runOnce(campaign: string, dir: string, i: number): { wallS: number; scenarios: ScenarioJson[]; design?: string } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [IRONLAB_BIN, 'run', campaign, '--json', '--db', join(dir, `repro-${i}.db`), '--no-progress'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.error) throw new Error(`cannot start ironlab: ${r.error.message}`);
  if (r.status !== 0)
    throw new Error(`ironlab run ${campaign} failed (exit ${r.status}): ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  const json = JSON.parse(r.stdout) as { scenarios: ScenarioJson[]; statistics?: { design: string } };
  return { wallS, scenarios: json.scenarios, design: json.statistics?.design };
}

const key = (s: ScenarioJson) => `${s.id} · ${s.enforcement}${s.host ? ` @${s.host}` : ''}`;
const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;

export function reproFigures(a: ScenarioJson[], b: ScenarioJson[]): { reproMaxCiHalfWidth: number; reproMaxCampaignDiff: number } {
  let half = 0;
  for (const s of [...a, ...b]) {
    const { mean, ci95 } = s.penalty;
    // no interval (unbounded, too few repetitions) is as wide as it gets
    half = Math.max(half, mean === null || ci95 === null ? Infinity : Math.max(mean - ci95[0], ci95[1] - mean) / mean);
  }
  let diff = 0;
  const other = new Map(b.map((s) => [key(s), s]));
  for (const s of a) {
    const x = s.penalty.mean;
    const y = other.get(key(s))?.penalty.mean ?? null;
    diff = Math.max(diff, x === null || y === null ? Infinity : Math.abs(x - y) / ((x + y) / 2));
  }
  return { reproMaxCiHalfWidth: round(half), reproMaxCampaignDiff: round(diff) };
}

export async function benchRepro(opts: { campaign?: string; log?: (line: string) => void } = {}) {
  const campaign = opts.campaign ?? 'local-docker';
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const dir = mkdtempSync(join(tmpdir(), 'ironlab-repro-'));
  const lock = lockHeldAbove(REAL_LOCK) ? null : await holdLock(REAL_LOCK);
  try {
    const a = runOnce(campaign, dir, 1);
    const b = runOnce(campaign, dir, 2);
    const other = new Map(b.scenarios.map((s) => [key(s), s]));
    const fmt = (s?: ScenarioJson) =>
      !s || s.penalty.mean === null
        ? '-'
        : `${s.penalty.mean.toFixed(2)} ${s.penalty.ci95 ? `[${s.penalty.ci95[0].toFixed(2)}, ${s.penalty.ci95[1].toFixed(2)}]` : '[no interval]'} n=${s.penalty.n}`;
    log(`repro ${campaign} (design ${a.design ?? '?'}): campaign 1 ${a.wallS.toFixed(0)} s, campaign 2 ${b.wallS.toFixed(0)} s`);
    for (const s of a.scenarios) {
      const t = other.get(key(s));
      log(`  ${key(s).padEnd(34)} ${fmt(s).padEnd(28)} ${fmt(t)}`);
      for (const note of new Set([...(s.conditionNotes ?? []), ...(t?.conditionNotes ?? [])])) log(`      ${note}`);
      const missed = missedTargets(s, t);
      if (!missed.length) continue;
      log(`      misses: ${missed.join('; ')}`);
      log(`      why (counters, campaign 1): ${countersInWords(s)}`);
      if (t) log(`      why (counters, campaign 2): ${countersInWords(t)}`);
    }
    return { ...reproFigures(a.scenarios, b.scenarios), reproCampaignWallS: round(Math.max(a.wallS, b.wallS), 1) };
  } finally {
    lock?.release();
    rmSync(dir, { recursive: true, force: true });
  }
}
