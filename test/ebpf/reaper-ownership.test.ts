// The reaper strips ironlab programs only from interfaces no live agent owns: a drop program that another
// agent's state file records (its process alive) stays; once that agent is gone, the same reap removes it.
// Real: an `ironlab`-named veth pair on the host, the XDP drop program attached to one end.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBpf } from '../../agents/enforcement/build.ts';
import { enforcementCapabilities } from '../../agents/enforcement/capabilities.ts';
import { reapEnforcement } from '../../agents/enforcement/enforcer.ts';
import { writeState } from '../../agents/enforcement/state.ts';
import { attachXdp, hasOurXdp } from '../../agents/enforcement/xdp.ts';
import { announceSkip, REAL } from './real.ts';

announceSkip('reaper ownership');

const DEV = 'ironlab-own0';
const PEER = 'ironlab-own1';

describe.runIf(REAL)('the reaper and interfaces another live agent owns (real)', () => {
  let other: ChildProcess;
  const stateDir = mkdtempSync(join(tmpdir(), 'ironlab-own-state-'));
  beforeAll(() => {
    enforcementCapabilities(); // mounts bpffs if needed
    execFileSync('ip', ['link', 'add', DEV, 'type', 'veth', 'peer', 'name', PEER]);
    execFileSync('ip', ['link', 'set', DEV, 'up']);
    execFileSync('ip', ['link', 'set', PEER, 'up']);
    other = spawn('sleep', ['120'], { stdio: 'ignore' }); // stands in for another live agent
  });
  afterAll(async () => {
    other.kill('SIGKILL');
    try {
      execFileSync('ip', ['link', 'del', DEV], { stdio: 'ignore' });
    } catch {
      // already gone
    }
    await reapEnforcement({ stateDir });
  });

  it("leaves a live agent's XDP program in place, and removes it once that agent is gone", async () => {
    const t = { dev: DEV };
    writeState(stateDir, { id: 'other-agent-run', pid: other.pid!, mode: 'ebpf', quotas: [], tc: [], xdp: [{ ...t, aliased: false }] });
    attachXdp(t, buildBpf().drop);
    expect(hasOurXdp(t)).toBe(true);

    const whileAlive = await reapEnforcement({ stateDir });
    expect(whileAlive.filter((d) => d.includes(DEV))).toEqual([]);
    expect(hasOurXdp(t)).toBe(true);

    other.kill('SIGKILL');
    await new Promise<void>((resolve) => other.once('exit', () => resolve()));
    const afterDeath = await reapEnforcement({ stateDir });
    expect(afterDeath.some((d) => d.includes(DEV))).toBe(true);
    expect(hasOurXdp(t)).toBe(false);
  });
});
