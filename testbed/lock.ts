// One `testbed up` or `down` at a time: two at once would race on the same namespaces and state file. The lock
// is a file beside the testbed directory holding the owner's pid; a lock whose owner is gone is taken over.
import { mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { UserInputError } from '../workloads/common/errors.ts';
import { takePidLock } from '../workloads/common/pid.ts';

export async function withTestbedLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const lock = `${dir}.lock`;
  mkdirSync(dirname(lock), { recursive: true });
  const owner = takePidLock(lock);
  if (owner !== null) {
    throw new UserInputError(`another ironlab testbed command (pid ${owner}) is changing this testbed; wait for it`, lock);
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { force: true });
  }
}
