// The IRON switch against a fake /proc tree (test/fixtures/proc-iron): copied to a temp dir, so toggling
// never changes the fixture.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  detectIronKernel,
  IronKernelSwitch,
  IRON_OWNERS,
  IRON_STATS,
  IRON_SWITCH,
  parseIronStats,
  registerIronOwners,
} from '../../agents/enforcement/iron-kernel.ts';
import { createEnforcer, reapEnforcement, type EnforcedContainer } from '../../agents/enforcement/enforcer.ts';
import { PrerequisiteError } from '../../workloads/common/errors.ts';

const dirs: string[] = [];
function fakeProc(kind: 'patched' | 'stock'): string {
  const d = mkdtempSync(join(tmpdir(), 'ironlab-proc-'));
  dirs.push(d);
  cpSync(`test/fixtures/proc-iron/${kind}`, d, { recursive: true });
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const value = (root: string) => readFileSync(join(root, IRON_SWITCH), 'utf8').trim();

describe('iron-kernel switch', () => {
  it("reads the kernel's counters from /proc/iron_stats by name", () => {
    const stats = parseIronStats(readFileSync(join(fakeProc('patched'), IRON_STATS), 'utf8'));
    expect(stats).toMatchObject({ enabled: 1, rx_marks: 7576, charged_ns: 29611025, self_ns: 499012877, drops: 0 });
    expect(Object.keys(stats)).toHaveLength(9);
  });

  it('detects the switch and its version', () => {
    expect(detectIronKernel(fakeProc('patched'))).toEqual({
      present: true,
      enabled: false,
      version: 'iron-1.0 (NSDI18 charging+dropping)',
    });
  });

  it('toggles, verifies by reading back, and restores what it found', () => {
    const root = fakeProc('patched');
    const sw = new IronKernelSwitch(root);
    sw.set(true);
    expect(value(root)).toBe('1');
    expect(sw.found).toBe('0');
    sw.set(false);
    sw.set(true);
    sw.restore();
    expect(value(root)).toBe('0');
    sw.restore(); // idempotent
    expect(value(root)).toBe('0');
  });

  it('refuses with a clear error naming the missing switch', () => {
    const sw = new IronKernelSwitch(fakeProc('stock'));
    expect(() => sw.set(true)).toThrow(PrerequisiteError);
    expect(() => sw.set(true)).toThrow(/\/proc\/sys\/kernel\/iron_enabled/);
  });

  it('the enforcer turns it on for a run, and stop or the reaper restore it', async () => {
    if (process.getuid?.() !== 0) return console.log('[skip] enforcer part needs root (it writes a state file under /run)');
    const root = fakeProc('patched');
    const stateDir = mkdtempSync(join(tmpdir(), 'ironlab-state-'));
    dirs.push(stateDir);
    const e = createEnforcer('iron-kernel', { containers: [], periodUs: 100_000, procRoot: root, stateDir });
    await e.start();
    expect(value(root)).toBe('1');
    await e.stop();
    expect(value(root)).toBe('0');
    const e2 = createEnforcer('iron-kernel', { containers: [], periodUs: 100_000, procRoot: root, stateDir });
    await e2.start();
    const reaped = await reapEnforcement({ stateDir });
    expect(reaped.join('\n')).toContain('stopped');
    expect(value(root)).toBe('0');
  });

  it("registers each container's address as the owner of its packets, named by a process of its cgroup, and removes it", async () => {
    if (process.getuid?.() !== 0) return console.log('[skip] enforcer part needs root (it writes a state file under /run)');
    const root = fakeProc('patched');
    const stateDir = mkdtempSync(join(tmpdir(), 'ironlab-state-'));
    const cg = mkdtempSync(join(tmpdir(), 'ironlab-cg-'));
    dirs.push(stateDir, cg);
    writeFileSync(join(cg, 'cgroup.procs'), '4242\n4243\n');
    // The fake /proc/iron_owners is a plain file: it keeps the last line written, as the kernel takes one per write.
    const owners = () => readFileSync(join(root, IRON_OWNERS), 'utf8');
    const containers: EnforcedContainer[] = [{ name: 'n1', ipv4: '169.254.0.65', cgroup: { version: 1, cpu: cg, cpuacct: cg } }];
    const e = createEnforcer('iron-kernel', { containers, periodUs: 100_000, procRoot: root, stateDir });
    await e.start();
    expect(owners()).toBe('169.254.0.65 4242');
    await e.stop();
    expect(owners()).toBe('-169.254.0.65');
    const e2 = createEnforcer('iron-kernel', { containers, periodUs: 100_000, procRoot: root, stateDir });
    await e2.start();
    expect(owners()).toBe('169.254.0.65 4242');
    expect((await reapEnforcement({ stateDir })).join('\n')).toContain('stopped'); // a live enforcer: stop() removes them
    expect(owners()).toBe('-169.254.0.65');
    writeFileSync(join(cg, 'cgroup.procs'), '');
    expect(() => registerIronOwners(root, [{ ipv4: '169.254.0.66', cgroupPath: cg }])).toThrow(/no process in .*cgroup\.procs/);
  });

  it("samples the kernel's own counters over the window under the iron-kernel arm", async () => {
    if (process.getuid?.() !== 0) return console.log('[skip] enforcer part needs root (it writes a state file under /run)');
    const root = fakeProc('patched');
    const stateDir = mkdtempSync(join(tmpdir(), 'ironlab-state-'));
    const cg = mkdtempSync(join(tmpdir(), 'ironlab-cg-'));
    dirs.push(stateDir, cg);
    writeFileSync(join(cg, 'cgroup.procs'), '4242\n');
    const containers: EnforcedContainer[] = [{ name: 'n1', ipv4: '169.254.0.65', cgroup: { version: 1, cpu: cg, cpuacct: cg } }];
    const e = createEnforcer('iron-kernel', { containers, periodUs: 100_000, procRoot: root, stateDir });
    await e.start();
    e.beginWindow();
    const stats = readFileSync(join(root, IRON_STATS), 'utf8');
    writeFileSync(
      join(root, IRON_STATS),
      stats.replace(/^rx_marks (\d+)$/m, (_, n) => `rx_marks ${Number(n) + 100}`),
    );
    const got = e.samples(1).filter((s) => s.metric === 'iron_kernel_counter');
    await e.stop();
    expect(got.find((s) => s.labels.counter === 'rx_marks')?.value).toBe(100);
    expect(got.find((s) => s.labels.counter === 'charged_ns')).toMatchObject({ value: 0, unit: 'ns' });
    expect(got.map((s) => s.labels.counter)).not.toContain('enabled');
  });

  it('the enforcer refuses iron-kernel on a stock kernel', async () => {
    const e = createEnforcer('iron-kernel', {
      containers: [],
      periodUs: 100_000,
      procRoot: fakeProc('stock'),
      stateDir: join(tmpdir(), 'ironlab-unused'),
    });
    await expect(e.start()).rejects.toThrow(/iron_enabled/);
  });
});
