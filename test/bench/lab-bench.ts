// Scale of one orchestrator: 64 simulated hosts (64 real agent processes over authenticated WebSockets) and a
// campaign of 5,120 runs, run by the real CLI into a fresh SQLite store. The orchestrator's own CPU (user +
// system, without its agent children) and its peak resident memory come from /proc/PID (stat, status VmHWM),
// sampled every 100 ms until it exits; the store's size (file + WAL) after it ends.
// Run alone with `npx tsx test/bench/lab-bench.ts`, or through `npm run bench -- --json lab`.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IRONLAB_BIN } from '../../testbed/local-agents.ts';

export const LAB_HOSTS = 64;
/** 10 scenarios x 2 enforcement modes x 256 repetitions. */
const REPETITIONS = 256;

/** The campaign: short simulated windows, so the orchestrator's work per run (not the simulator) dominates.
 *  10 scenarios x 2 enforcement modes x `repetitions` runs (the orchestrator part profiles a smaller one). */
export function labCampaign(repetitions = REPETITIONS): string {
  const hosts = Array.from({ length: LAB_HOSTS }, (_, i) => `  - { id: sim-${i + 1}, backend: sim, profile: paper }`).join('\n');
  return `name: lab-scale
description: 64 simulated hosts, ${repetitions * 20} runs (npm run bench -- lab)
hosts:
${hosts}
defaults:
  warmupS: 0.05
  durationS: 0.2
matrix:
  - workload: sysbench
  - workload: udp-sender
    rateGbps: [1, 3]
  - workload: tcp-sender
    flows: [1, 4]
  - workload: udp-receiver
    rateGbps: [1, 4]
  - workload: tcp-receiver
    rateGbps: [1, 4, 9]
enforcement: [none, iron-kernel]
repetitions: ${repetitions}
seed: 11
`;
}

const CLK_TCK = 100; // USER_HZ on Linux

/** A process's own CPU so far (user + system, not its children's), from /proc/PID/stat; null once it is gone. */
export function cpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK; // utime, stime (fields 14, 15)
  } catch {
    return null;
  }
}

/** A process's peak resident memory so far (VmHWM, MB); null once it is gone. */
export function peakRssMb(pid: number): number | null {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

export async function benchLab(): Promise<Record<string, number>> {
  const dir = mkdtempSync(join(tmpdir(), 'ironlab-bench-lab-'));
  try {
    const file = join(dir, 'lab-scale.yaml');
    writeFileSync(file, labCampaign());
    const db = join(dir, 'lab.db');
    const t0 = process.hrtime.bigint();
    const child = spawn(process.execPath, [IRONLAB_BIN, 'run', file, '--db', db, '--no-progress'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    let cpu = 0;
    let rss = 0;
    const sample = () => {
      cpu = cpuMs(child.pid!) ?? cpu;
      rss = peakRssMb(child.pid!) ?? rss;
    };
    const timer = setInterval(sample, 100);
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    clearInterval(timer);
    const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
    if (code !== 0) throw new Error(`ironlab run lab-scale failed (exit ${code}):\n${out.slice(-3000)}`);
    const m = /(\d+)\/(\d+) runs done/.exec(out);
    if (!m || m[1] !== m[2]) throw new Error(`not every run was done:\n${out.slice(0, 2000)}`);
    const runs = Number(m[1]);
    const bytes = [db, `${db}-wal`].filter(existsSync).reduce((a, f) => a + statSync(f).size, 0);
    const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;
    return {
      labHosts: LAB_HOSTS,
      labRuns: runs,
      labRunsPerWallS: round(runs / wallS, 1),
      orchestratorCpuMsPerRun: round(cpu / runs),
      orchestratorRssMb: round(rss, 0),
      storeBytesPerRun: Math.round(bytes / runs),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(JSON.stringify(await benchLab()));
