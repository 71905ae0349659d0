// The testbed's long-lived processes (dockerds, agents) are ended by pid, and only after checking that the
// pid still runs what we started (its command line carries a path that belongs to this testbed): a recycled
// pid is never signalled.
import { readFileSync, readdirSync } from 'node:fs';
import { pidAlive } from '../workloads/common/pid.ts';

export function cmdlineOf(pid: number): string[] | null {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return null;
  }
}

/** Is `pid` alive and does its command line contain `marker`? (zombies count as gone) */
export function runsOurs(pid: number | null | undefined, marker: string): boolean {
  if (!pid || !pidAlive(pid)) return false;
  return (cmdlineOf(pid) ?? []).some((a) => a.includes(marker));
}

/** Pids whose command line contains `marker` (orphans of a killed dockerd: its containerd, shims). */
export function pidsWith(marker: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    const pid = Number(d);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    if (runsOurs(pid, marker)) out.push(pid);
  }
  return out;
}

/** SIGTERM, wait up to graceMs, then SIGKILL; resolves once the process is gone. */
export async function terminate(pid: number, marker: string, graceMs = 10_000): Promise<void> {
  if (!runsOurs(pid, marker)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (runsOurs(pid, marker) && Date.now() < deadline) await sleep(100);
  if (runsOurs(pid, marker)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone meanwhile */
    }
    for (let i = 0; i < 50 && runsOurs(pid, marker); i++) await sleep(100);
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
