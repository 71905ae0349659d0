// All or nothing: when host 2 of 3 fails to come up, `up` names the host, the step and the reason, and tears
// the testbed down: nothing of hosts 1 and 3 is left either. The failure is injected at lab-2's dockerd step
// (IRONLAB_TESTBED_FAULT), after every host's network is made and lab-1's engine is already running. Ctrl-C
// during `up` is a failure of the same kind.
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, startCli, until } from '../e2e/helpers.ts';
import { NOTHING_LEFT, labLeftovers, labSkipReason, useTempTestbedDir } from './helpers.ts';

const skip = labSkipReason('test/lab/partial-failure', { root: true, commands: ['dockerd', 'nsenter'] });

describe.skipIf(skip)('emulated lab: a host that fails to come up', () => {
  const dir = skip ? '' : useTempTestbedDir();
  afterAll(async () => {
    delete process.env.IRONLAB_TESTBED_FAULT;
    if (!skip) await runCli(['testbed', 'down']);
  });

  it('says which host failed at which step and why, and leaves nothing', async () => {
    process.env.IRONLAB_TESTBED_FAULT = 'lab-2:dockerd';
    const up = await runCli(['testbed', 'up', '--hosts', '3']);
    delete process.env.IRONLAB_TESTBED_FAULT;
    expect(up.code).toBe(1);
    expect(up.stderr).toContain("ironlab: testbed up: host lab-2 failed at step 'dockerd': fault injected");
    expect(up.stderr).toContain('the testbed was torn down');
    expect(up.stderr).toMatch(/lab-1: dockerd\n.*lab-2: dockerd\n/); // lab-1's engine was up before lab-2 failed
    expect(labLeftovers(dir)).toEqual(NOTHING_LEFT);
  });

  it('tears down after the current step on Ctrl-C (exit 130)', async () => {
    const up = startCli(['testbed', 'up']);
    await until('the first engine is starting', () => up.output().includes('lab-1: dockerd'), 60_000);
    up.child.kill('SIGINT');
    const r = await up.done;
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(/failed at step '\w+': interrupted \(Ctrl-C\)/);
    expect(labLeftovers(dir)).toEqual(NOTHING_LEFT);
  });
});
