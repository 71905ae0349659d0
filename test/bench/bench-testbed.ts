// A bench's own testbed: a fresh testbed directory for the CLI processes it starts, the machine lock
// (/tmp/ironlab-real.lock, unless a process above already holds it) from before `up` to after `down`, and a last
// `testbed down` when the body left this testbed's state file behind (a failed `up` tears itself down). Never a
// `down` without that file: without a state, `down` sweeps every emulated lab on the machine by name.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../e2e/helpers.ts';
import { holdLock, lockHeldAbove, REAL_LOCK } from './repro-bench.ts';
import { readState } from '../../testbed/state.ts';

export async function withBenchTestbed<T>(name: string, body: (dir: string, work: string) => Promise<T>): Promise<T> {
  const work = mkdtempSync(join(tmpdir(), `ironlab-bench-${name}-`));
  const dir = join(work, 'testbed');
  const before = process.env.IRONLAB_TESTBED_DIR;
  process.env.IRONLAB_TESTBED_DIR = dir; // the CLI processes' testbed: this bench's own
  const lock = lockHeldAbove(REAL_LOCK) ? null : await holdLock(REAL_LOCK);
  try {
    return await body(dir, work);
  } finally {
    if (readState(dir)) await runCli(['testbed', 'down']);
    lock?.release();
    if (before === undefined) delete process.env.IRONLAB_TESTBED_DIR;
    else process.env.IRONLAB_TESTBED_DIR = before;
    rmSync(work, { recursive: true, force: true });
  }
}

/** The error of a failed CLI call: what, the exit code, the last lines it printed. */
export const cliFailed = (what: string, r: { code: number | null; stdout: string; stderr: string }) =>
  new Error(`${what} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`);
