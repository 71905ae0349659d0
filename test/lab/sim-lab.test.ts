// The simulated lab: `ironlab testbed up --sim` starts long-lived simulated agents (no root), the same campaign
// files run on it through `ironlab run`, and `down` stops them. Also: an emulated lab refuses a user who is not
// root, with one line and exit code 2, before anything is created.
import { chmodSync, existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../e2e/helpers.ts';
import { CHECKOUT, runAsNobody } from '../fakes/as-nobody.ts';
import { IRONLAB_BIN } from '../../testbed/local-agents.ts';
import { labLeftovers, useTempTestbedDir } from './helpers.ts';

describe('simulated lab: testbed up --sim, run, down', () => {
  const dir = useTempTestbedDir();
  afterAll(async () => {
    await runCli(['testbed', 'down']);
  });

  it('starts authenticated simulated agents, and a second up changes nothing', async () => {
    const up = await runCli(['testbed', 'up', '--sim', '--hosts', '2']);
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout).toContain('simulated lab, 2 host(s), orchestrator address ws://127.0.0.1:7788');
    expect(up.stdout).toMatch(/lab-1\s+server\s+sim\s.*authenticated/);
    expect(up.stdout).toMatch(/lab-2\s+peer\s+sim\s.*authenticated/);
    // each agent holds its own host's key, not the testbed's token, so one host cannot speak for another
    const token = readFileSync(join(dir, 'token'), 'utf8').trim();
    for (const h of ['lab-1', 'lab-2']) {
      const key = readFileSync(join(dir, 'hosts', h, 'key'), 'utf8');
      expect(key).toMatch(new RegExp(`^ironlab-host-key:${h}:[0-9a-f]{64}\\n$`));
      expect(key).not.toContain(token);
      expect(statSync(join(dir, 'hosts', h, 'key')).mode & 0o077).toBe(0);
    }
    expect((await runCli(['testbed', 'up', '--sim', '--hosts', '2'])).stdout).toContain('already up, nothing changed');
    const other = await runCli(['testbed', 'up', '--sim', '--hosts', '3']);
    expect(other.code).toBe(2);
    expect(other.stderr).toContain('has 2 hosts, not 3');
  });

  it("runs the shipped two-host campaign (lab-2host) with the testbed's agents", async () => {
    const work = mkdtempSync(join(tmpdir(), 'ironlab-sim-lab-'));
    const r = await runCli(['run', 'lab-2host', '--db', join(work, 'ironlab.db'), '--no-progress']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('using the testbed (sim');
    expect(r.stdout).toMatch(/\(lab-2host, sim, done\): 48\/48 runs done/);
  });

  it('names a testbed whose agents are gone instead of waiting for them, and up brings them back', async () => {
    const state = JSON.parse(readFileSync(join(dir, 'testbed.json'), 'utf8')) as { hosts: { agent: { pid: number } }[] };
    for (const h of state.hosts) process.kill(h.agent.pid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 300));
    const r = await runCli(['run', 'smoke', '--db', join(mkdtempSync(join(tmpdir(), 'ironlab-sim-lab-')), 'x.db')]);
    expect(r.code).toBe(0); // smoke names hosts the testbed does not provide: the testbed is not consulted
    const work = mkdtempSync(join(tmpdir(), 'ironlab-sim-lab-'));
    writeFileSync(
      join(work, 'c.yaml'),
      'name: c\nhosts: [{ id: lab-1, backend: sim }]\nmatrix: [{ workload: sysbench }]\nrepetitions: 1\n',
    );
    const dead = await runCli(['run', join(work, 'c.yaml'), '--db', join(work, 'x.db')]);
    expect(dead.code).toBe(2);
    expect(dead.stderr).toMatch(/testbed: the sim testbed in .* is not running \(its agents are gone\): run `ironlab testbed up` again/);
    const up = await runCli(['testbed', 'up', '--sim', '--hosts', '2']);
    expect(up.stdout).toMatch(/: up \(/);
    expect(up.stdout).toMatch(/lab-2\s+peer\s+sim\s.*authenticated/);
  });

  it('shows its agents and takes them down', async () => {
    const s = await runCli(['testbed', 'status']);
    expect(s.stdout).toMatch(/lab-1\s+server\s+sim\s+-\s+(waiting|connected) \(pid \d+\)/);
    const down = await runCli(['testbed', 'down']);
    expect(down.stdout).toContain('removed agent lab-1, agent lab-2');
    const left = labLeftovers(dir);
    expect(left.processes).toEqual([]);
    expect(existsSync(dir)).toBe(false);
  });
});

describe.skipIf(process.getuid?.() !== 0)('emulated lab without root', () => {
  it('is refused with one line and exit code 2, nothing created', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'ironlab-nonroot-')), 'tb');
    chmodSync(join(dir, '..'), 0o777);
    const r = runAsNobody((view) => [process.execPath, join(view, relative(CHECKOUT, IRONLAB_BIN)), 'testbed', 'up'], {
      ...process.env,
      IRONLAB_TESTBED_DIR: dir,
      HOME: '/tmp',
    });
    expect(r.stderr).toMatch(/^ironlab: testbed up: an emulated lab .* needs root: run as root, or use --sim\n$/);
    expect(r.status).toBe(2);
    expect(existsSync(dir)).toBe(false);
  });
});
