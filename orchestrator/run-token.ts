// The token a campaign's agents prove: 32 random bytes, in a file only its owner can read, in a directory
// named after the orchestrator's pid. The directory goes when the run ends, also through process.exit (a
// second Ctrl-C). Directories of orchestrators that died without cleaning up (SIGKILL) are removed by the
// next run of the same user; another user's (root's) are left alone, never an error.
import { randomBytes } from 'node:crypto';
import { lstatSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pidAlive } from '../workloads/common/pid.ts';

const PREFIX = 'ironlab-run-';

export interface RunToken {
  token: string;
  file: string;
  remove(): void;
}

export function createRunToken(): RunToken {
  reapStaleTokens();
  const dir = mkdtempSync(join(tmpdir(), `${PREFIX}${process.pid}-`));
  const file = join(dir, 'token');
  const token = randomBytes(32).toString('hex');
  writeFileSync(file, token, { mode: 0o600 });
  const remove = () => {
    process.off('exit', remove);
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', remove);
  return { token, file, remove };
}

/** Remove this user's token directories whose orchestrator process no longer exists. Returns what was removed. */
export function reapStaleTokens(dir = tmpdir()): string[] {
  const removed: string[] = [];
  const uid = process.getuid?.();
  for (const name of readdirSync(dir)) {
    const m = name.startsWith(PREFIX) ? /^(\d+)-/.exec(name.slice(PREFIX.length)) : null;
    if (!m || pidAlive(Number(m[1]))) continue;
    const path = join(dir, name);
    try {
      if (uid !== undefined && lstatSync(path).uid !== uid) continue;
      rmSync(path, { recursive: true, force: true });
      removed.push(name);
    } catch {
      // gone meanwhile, or not ours to remove: not this run's business
    }
  }
  return removed;
}
