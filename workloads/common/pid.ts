// Processes by pid, as every layer asks about them: is one alive, and a lock file that holds its owner's pid.
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';

/**
 * Is process `pid` alive? EPERM means it exists under another user: alive. A zombie is not: it has exited
 * and only its parent's wait is missing (a child we spawned stays one until we reap it).
 */
export function pidAlive(pid: number | null | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false; // exited meanwhile
  }
}

/**
 * Take the lock file at `path` (created exclusively, holding our pid). A lock whose owner is no longer alive is
 * stale and taken over. Returns null when taken, else the live owner's pid. Release it with `rmSync(path)`.
 */
export function takePidLock(path: string): number | null {
  try {
    const fd = openSync(path, 'wx');
    writeSync(fd, String(process.pid));
    closeSync(fd);
    return null;
  } catch {
    let owner = 0;
    try {
      owner = Number(readFileSync(path, 'utf8'));
    } catch {
      return takePidLock(path); // released meanwhile
    }
    if (owner && pidAlive(owner)) return owner;
    rmSync(path, { force: true });
    return takePidLock(path);
  }
}
