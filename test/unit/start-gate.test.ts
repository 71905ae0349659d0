// The start gate with the image's own shell (dash here too): the workload runs only once the gate is opened,
// and a gate nobody opens exits by itself without running it.
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { gateArmed, gatedArgv, openGate, waitGateArmed } from '../../agents/docker/start-gate.ts';

function runGated(argv: string[], boundS?: number) {
  const [cmd, ...args] = gatedArgv(argv, boundS);
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, exit, output: () => out };
}

describe('start gate', () => {
  it('runs the workload only after the gate is opened, as the same process', async () => {
    const g = runGated(['sh', '-c', 'echo "ran as $$"']);
    await waitGateArmed(g.child.pid!, 5000);
    expect(gateArmed(g.child.pid!)).toBe(true);
    await new Promise((r) => setTimeout(r, 200));
    expect(g.output()).toBe(''); // still waiting
    openGate(g.child.pid!);
    expect(await g.exit).toBe(0);
    expect(g.output().trim()).toBe(`ran as ${g.child.pid}`); // exec'd: the workload keeps the gate's pid
  });

  it('exits with 124 and runs nothing when nobody opens it within its bound', async () => {
    const g = runGated(['echo', 'should not run'], 1);
    expect(await g.exit).toBe(124);
    expect(g.output()).toBe('');
  });

  it('is not armed for a process without the handler', () => {
    const sleeper = spawn('sleep', ['5']);
    try {
      expect(gateArmed(sleeper.pid!)).toBe(false);
    } finally {
      sleeper.kill();
    }
    expect(gateArmed(2 ** 22 + 12345)).toBe(false); // no such process
  });
});
