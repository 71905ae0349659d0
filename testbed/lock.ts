// One `testbed up` or `down` at a time: two at once would race on the same namespaces and state file. The lock
// is a file beside the testbed directory holding the owner's pid; a lock whose owner is gone is taken over.
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { UserInputError } from '../workloads/common/errors.ts';
import { pidExists } from './processes.ts';

export async function withTestbedLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const lock = `${dir}.lock`;
  mkdirSync(dirname(lock), { recursive: true });
  if (!take(lock)) {
    const owner = Number(readFileSync(lock, 'utf8'));
    throw new UserInputError(`another ironlab testbed command (pid ${owner}) is changing this testbed; wait for it`, lock);
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { force: true });
  }
}

function take(lock: string): boolean {
  try {
    const fd = openSync(lock, 'wx');
    writeSync(fd, String(process.pid));
    closeSync(fd);
    return true;
  } catch {
    let owner = 0;
    try {
      owner = Number(readFileSync(lock, 'utf8'));
    } catch {
      return take(lock); // released meanwhile
    }
    if (owner && pidExists(owner)) return false;
    rmSync(lock, { force: true });
    return take(lock);
  }
}
