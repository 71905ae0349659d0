// The kernel and guest-image caches build into scratch named after the building process (`<hash>.build.<pid>`,
// `<hash>.tree.<pid>`, `rootfs.ext4.<pid>.tmp`): two builds never share one, and a build that was killed (SIGKILL,
// a stopped CI run) leaves scratch whose pid no longer runs. The next build removes that, and only that.
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pidAlive } from '../workloads/common/pid.ts';

const SCRATCH = /\.(?:build|tree)\.(\d+)$|\.(\d+)\.tmp$/;

/** Remove the scratch entries directly under `dir` whose building process is gone; returns their names. */
export function sweepDeadScratch(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return []; // no cache yet
  }
  const gone: string[] = [];
  for (const name of names) {
    const m = SCRATCH.exec(name);
    const pid = m ? Number(m[1] ?? m[2]) : 0;
    if (!pid || pid === process.pid || pidAlive(pid)) continue;
    rmSync(join(dir, name), { recursive: true, force: true });
    gone.push(name);
  }
  return gone;
}
