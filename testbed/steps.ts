// Bring-up is a list of named steps per host. A failing step becomes one HostStepFailed that says which host
// failed at which step and why; the caller then tears the whole testbed down, so that it is never left half up.
// IRONLAB_TESTBED_FAULT=HOST:STEP makes that step fail on purpose (the partial-failure test uses it: a real
// failure on one host among healthy ones cannot be produced on demand otherwise).
import { messageOf } from '../workloads/common/errors.ts';

export class HostStepFailed extends Error {
  override name = 'HostStepFailed';
  constructor(
    readonly hostId: string,
    readonly step: string,
    readonly reason: string,
  ) {
    super(`host ${hostId} failed at step '${step}': ${reason}`);
  }
}

export type Say = (line: string) => void;

/** Ctrl-C during `up`: the next step fails as 'interrupted', and `up` tears down what it made. */
export const interruptUp = new AbortController();

export async function step<T>(hostId: string, name: string, say: Say, fn: () => Promise<T> | T): Promise<T> {
  say(`${hostId}: ${name}`);
  try {
    if (interruptUp.signal.aborted) throw new Error('interrupted (Ctrl-C)');
    if (process.env.IRONLAB_TESTBED_FAULT === `${hostId}:${name}`)
      throw new Error(`fault injected by IRONLAB_TESTBED_FAULT=${hostId}:${name}`);
    return await fn();
  } catch (err) {
    if (err instanceof HostStepFailed) throw err;
    throw new HostStepFailed(hostId, name, messageOf(err));
  }
}
