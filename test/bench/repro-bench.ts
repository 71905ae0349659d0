// The `repro` part of the benchmark: is a real campaign reproducible? It runs the same campaign twice in a row
// (default `local-docker`; `--campaign lab-2host` on a testbed that is up), each `ironlab run --json` in a
// fresh store, and compares the two reports:
//   reproMaxCiHalfWidth:   largest 95% half-width / penalty over every scenario of both campaigns
//   reproMaxCampaignDiff:  largest |a - b| / ((a + b) / 2) between the two campaigns' penalties, per scenario
//   reproCampaignWallS:    the longer of the two campaigns' wall times (s)
// Both campaigns run under /tmp/ironlab-real.lock (flock; $IRONLAB_REAL_LOCK to change), the machine-wide lock
// every real suite takes, held from before the first to after the second, so nothing else real runs beside or
// between them; when the bench itself was started under `flock` on that lock, it uses that hold. It prints, per
// scenario, both penalties with their intervals and notes (steal, foreign CPU, load), so a miss can be read.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IRONLAB_BIN } from '../../testbed/local-agents.ts';

interface ScenarioJson {
  id: string;
  enforcement: string;
  host?: string | null;
  penalty: { mean: number | null; ci95: [number, number] | null; n: number; method?: string };
  conditionNotes?: string[];
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
  if (r.status !== 0) throw new Error(`ironlab run ${campaign} failed (exit ${r.status}): ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
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
      !s || s.penalty.mean === null ? '-' : `${s.penalty.mean.toFixed(2)} ${s.penalty.ci95 ? `[${s.penalty.ci95[0].toFixed(2)}, ${s.penalty.ci95[1].toFixed(2)}]` : '[no interval]'} n=${s.penalty.n}`;
    log(`repro ${campaign} (design ${a.design ?? '?'}): campaign 1 ${a.wallS.toFixed(0)} s, campaign 2 ${b.wallS.toFixed(0)} s`);
    for (const s of a.scenarios) {
      const t = other.get(key(s));
      log(`  ${key(s).padEnd(34)} ${fmt(s).padEnd(28)} ${fmt(t)}`);
      for (const note of new Set([...(s.conditionNotes ?? []), ...(t?.conditionNotes ?? [])])) log(`      ${note}`);
    }
    return { ...reproFigures(a.scenarios, b.scenarios), reproCampaignWallS: round(Math.max(a.wallS, b.wallS), 1) };
  } finally {
    lock?.release();
    rmSync(dir, { recursive: true, force: true });
  }
}
