// Charging: the controller's arithmetic with a fake quota file, then for real on a busy loop in a cgroup
// ironlab-test-*: a fake charge lowers its quota (one write per change), its CPU use follows, stop restores.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChargingController, fsQuotaIo, type QuotaIo, type TickInput } from '../../agents/enforcement/charging.ts';
import { announceSkip, REAL } from './real.ts';
import { makeCgroup } from './topology.ts';

const S = 1_000_000; // one second in us
const inp = (name: string, t: Partial<TickInput>) => new Map([[name, { chargeNs: 0, creditNs: 0, throttledDelta: 0, ...t }]]);

function fakeIo(files: Record<string, string>): QuotaIo & { writes: string[] } {
  const writes: string[] = [];
  return { writes, read: (f) => files[f]!, write: (f, v) => (writes.push(`${f}=${v}`), (files[f] = v)) };
}

describe('charging controller (fake cgroup files)', () => {
  const files = () => ({ '/cg/cpu.cfs_quota_us': '50000', '/cg/cpu.cfs_period_us': '100000' });

  it('lowers the owner by its net charge, writes only on change, carries and pays off debt, restores', () => {
    const io = fakeIo(files());
    const c = new ChargingController([{ name: 'n', cgroupCpuPath: '/cg' }], { io });
    expect(c.tick(S, inp('n', { chargeNs: 300e6 }))).toEqual(['n']); // 300 ms over 10 periods -> 20 ms quota
    expect(io.writes).toEqual(['/cg/cpu.cfs_quota_us=20000']);
    expect(c.tick(S, inp('n', { chargeNs: 300e6 }))).toEqual([]); // paid 300, owes 300 again: same value, no write
    expect(c.tick(S, inp('n', {}))).toEqual(['n']); // paid off: back to 50 ms
    expect(io.writes.at(-1)).toBe('/cg/cpu.cfs_quota_us=50000');
    expect(c.state('n')!.debtUs).toBe(0);
    c.restore();
    expect(io.writes).toHaveLength(2); // nothing to restore: already the original
  });

  it('raises the interrupted container by its credit, within bounds', () => {
    const io = fakeIo(files());
    const c = new ChargingController([{ name: 'v', cgroupCpuPath: '/cg' }], { io });
    c.tick(S, inp('v', { creditNs: 200e6 }));
    expect(io.writes).toEqual(['/cg/cpu.cfs_quota_us=70000']);
    c.tick(S, inp('v', { creditNs: 5000e6 }));
    expect(io.writes.at(-1)).toBe('/cg/cpu.cfs_quota_us=100000'); // capped at 2x
    c.restore();
    expect(io.writes.at(-1)).toBe('/cg/cpu.cfs_quota_us=50000');
  });

  it('counts the refill of a write to a throttled group as debt', () => {
    const io = fakeIo(files());
    const c = new ChargingController([{ name: 'n', cgroupCpuPath: '/cg' }], { io });
    c.tick(S, inp('n', { chargeNs: 100e6, throttledDelta: 3 }));
    expect(io.writes).toEqual(['/cg/cpu.cfs_quota_us=40000']);
    expect(c.state('n')!.debtUs).toBe(100_000 + 40_000);
  });

  it('does not bill the refill to a throttled group that is owed CPU (the credited victim)', () => {
    const io = fakeIo(files());
    const c = new ChargingController([{ name: 'v', cgroupCpuPath: '/cg' }], { io });
    c.tick(S, inp('v', { creditNs: 100e6, throttledDelta: 5 }));
    expect(io.writes).toEqual(['/cg/cpu.cfs_quota_us=60000']); // 100 ms over 10 periods -> +10 ms
    expect(c.state('v')!.debtUs).toBe(-100_000);
    // paid back by the raised quota over the next tick, then back to the original, never below it
    c.tick(S, inp('v', { throttledDelta: 5 }));
    expect(c.state('v')!.debtUs).toBe(0);
    expect(io.writes.at(-1)).toBe('/cg/cpu.cfs_quota_us=50000');
    c.tick(S, inp('v', { throttledDelta: 5 }));
    expect(io.writes).toHaveLength(2);
  });

  it('leaves unlimited groups alone', () => {
    const io = fakeIo({ '/cg/cpu.cfs_quota_us': '-1', '/cg/cpu.cfs_period_us': '100000' });
    const c = new ChargingController([{ name: 'n', cgroupCpuPath: '/cg' }], { io });
    c.tick(S, inp('n', { chargeNs: 300e6 }));
    c.restore();
    expect(io.writes).toEqual([]);
  });
});

announceSkip('charging on a real cgroup');
describe.runIf(REAL)('charging a busy loop in a real cgroup', () => {
  let cg: ReturnType<typeof makeCgroup>;
  let loop: ChildProcess | undefined;
  beforeAll(() => {
    cg = makeCgroup('ironlab-test-charge');
  });
  afterAll(() => {
    loop?.kill('SIGKILL');
    writeFileSync(`${cg.cpu}/cpu.cfs_quota_us`, '-1');
    cg.remove();
  });

  const usage = () => Number(readFileSync(`${cg.cpuacct}/cpuacct.usage`, 'utf8'));
  async function share(ms: number): Promise<number> {
    const u0 = usage();
    await new Promise((r) => setTimeout(r, ms));
    return (usage() - u0) / (ms * 1e6);
  }

  it('a fake charge lowers the quota once, the loop slows, stop restores the quota', async () => {
    writeFileSync(`${cg.cpu}/cpu.cfs_period_us`, '100000');
    writeFileSync(`${cg.cpu}/cpu.cfs_quota_us`, '50000');
    loop = spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' });
    cg.add(loop.pid!);
    const before = await share(1000);
    const writes: string[] = [];
    const io: QuotaIo = { read: fsQuotaIo.read, write: (f, v) => (writes.push(v), fsQuotaIo.write(f, v)) };
    const c = new ChargingController([{ name: 'n', cgroupCpuPath: cg.cpu }], { io });
    c.tick(S, inp('n', { chargeNs: 300e6 })); // owes 300 ms: 20 ms per 100 ms period for the next second
    expect(readFileSync(`${cg.cpu}/cpu.cfs_quota_us`, 'utf8').trim()).toBe('20000');
    const during = await share(1000);
    c.tick(S, inp('n', { chargeNs: 300e6 })); // same value: no write
    console.log(`busy loop CPU share: ${before.toFixed(2)} before, ${during.toFixed(2)} while charged; writes ${writes.join(',')}`);
    expect(writes).toEqual(['20000']);
    expect(before).toBeGreaterThan(0.4);
    expect(during).toBeLessThan(0.3);
    c.restore();
    expect(readFileSync(`${cg.cpu}/cpu.cfs_quota_us`, 'utf8').trim()).toBe('50000');
  });
});
