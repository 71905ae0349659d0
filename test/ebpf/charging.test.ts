// Charging: the controller's rule (controller.ts, pure), its I/O with a fake quota file, then for real on a busy
// loop in a cgroup ironlab-test-*: a fake charge lowers its quota (one write per change), its CPU use follows,
// stop restores.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChargingController, fsQuotaIo, type QuotaIo } from '../../agents/enforcement/charging.ts';
import { GroupController, type PeriodInput } from '../../agents/enforcement/controller.ts';
import { announceSkip, REAL } from './real.ts';
import { makeCgroup } from './topology.ts';

const P = 100_000; // one CFS period in us
const per = (t: Partial<PeriodInput>): PeriodInput => ({ elapsedUs: P, usedUs: 0, chargeUs: 0, creditUs: 0, ...t });
const inp = (name: string, t: Partial<PeriodInput>) => new Map([[name, per(t)]]);

function fakeIo(files: Record<string, string>): QuotaIo & { writes: string[] } {
  const writes: string[] = [];
  return { writes, read: (f) => files[f]!, write: (f, v) => (writes.push(`${f}=${v}`), (files[f] = v)) };
}

describe('the controller, one step per CFS period (pure)', () => {
  it('an owner within its quota is charged through its quota and never dropped', () => {
    const c = new GroupController({ baseUs: 50_000, periodUs: P });
    const d = c.step(per({ usedUs: 20_000, chargeUs: 15_000 })); // consumed 35 ms of 50
    expect(d).toMatchObject({ quotaUs: 35_000, write: true, drop: false, debtUs: 0 });
    expect(c.step(per({ usedUs: 20_000, chargeUs: 15_000 })).write).toBe(false); // same value: no write
  });

  it('an owner whose packets cost more than its quota is dropped even when its threads use little (tcp-receiver)', () => {
    const c = new GroupController({ baseUs: 20_000, periodUs: P });
    const d = c.step(per({ usedUs: 8_000, chargeUs: 25_000 })); // consumed 33 ms of 20
    expect(d.drop).toBe(true);
    expect(d.debtUs).toBe(13_000);
    expect(d.quotaUs).toBe(c.floorUs); // 10% of the base, never less
    expect(c.floorUs).toBe(2_000);
    // dropped: its packets cost (almost) nothing, the debt is paid, the flag clears
    const e = c.step(per({ usedUs: 2_000, chargeUs: 500 }));
    expect(e.debtUs).toBe(0);
    expect(e.drop).toBe(false);
  });

  it('a victim is credited what it paid for others, never more', () => {
    const c = new GroupController({ baseUs: 50_000, periodUs: P });
    const d = c.step(per({ usedUs: 50_000, creditUs: 10_000 })); // throttled at 50 ms, 10 of them others' softirq
    // owed the 10 ms it paid (it ran all its quota), and about as much again for the next period's softirq
    expect(d.debtUs).toBe(-10_000);
    expect(d.quotaUs).toBe(70_000);
    // next period it used the raised quota but paid less for others: the surplus is debt, taken back at once
    const e = c.step(per({ usedUs: 70_000, creditUs: 4_000 })); // own 66 ms: 40 + 66 = 2 x 50 + 6 too many
    expect(e.debtUs).toBe(6_000);
    expect(e.quotaUs).toBe(48_000);
    // owed only while it runs all of its quota: one that leaves some of it unused is owed nothing more
    const g = new GroupController({ baseUs: 50_000, periodUs: P });
    expect(g.step(per({ usedUs: 50_000, creditUs: 5_000 })).quotaUs).toBe(60_000);
    expect(g.step(per({ usedUs: 55_000, creditUs: 30_000 })).debtUs).toBe(0);
    // a group that does not use its quota banks nothing
    const f = c.step(per({ usedUs: 1_000 }));
    expect(f.debtUs).toBe(0);
    expect(f.quotaUs).toBe(50_000);
  });

  it('raises at most to twice the base and leaves unconstrained groups alone', () => {
    const c = new GroupController({ baseUs: 50_000, periodUs: P });
    expect(c.step(per({ usedUs: 50_000, creditUs: 500_000 })).quotaUs).toBe(100_000);
    const u = new GroupController({ baseUs: -1, periodUs: P });
    expect(u.step(per({ usedUs: 90_000, chargeUs: 90_000 }))).toMatchObject({ write: false, drop: false });
  });
});

describe('charging (fake cgroup files)', () => {
  const files = () => ({ '/cg/cpu.cfs_quota_us': '50000', '/cg/cpu.cfs_period_us': '100000' });

  it('writes only on change, restores the original', () => {
    const io = fakeIo(files());
    const c = new ChargingController([{ name: 'n', cgroup: { version: 1, cpu: '/cg' } }], { io });
    expect(c.period(inp('n', { usedUs: 20_000, chargeUs: 30_000 })).get('n')!.quotaUs).toBe(20_000); // consumed 50 of 50
    expect(io.writes).toEqual(['/cg/cpu.cfs_quota_us=20000']);
    c.period(inp('n', { usedUs: 20_000, chargeUs: 30_000 })); // same value: no write
    expect(io.writes).toHaveLength(1);
    c.restore();
    expect(io.writes.at(-1)).toBe('/cg/cpu.cfs_quota_us=50000');
    c.restore();
    expect(io.writes).toHaveLength(2);
  });

  it('leaves unlimited groups alone', () => {
    const io = fakeIo({ '/cg/cpu.cfs_quota_us': '-1', '/cg/cpu.cfs_period_us': '100000' });
    const c = new ChargingController([{ name: 'n', cgroup: { version: 1, cpu: '/cg' } }], { io });
    c.period(inp('n', { chargeUs: 300_000 }));
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

  // Counters, not wall time: what the group ran per CFS period of its own (cpuacct usage / cpu.stat nr_periods) and
  // how often the kernel throttled it. On a loaded VM the loop may get less than its quota, so the test gives its
  // cgroup the most CPU weight the kernel allows (it competes with others only for what the quota leaves) and
  // asserts what the quota bounds: usage per period, and that the quota was reached (throttled periods).
  const usage = () => Number(readFileSync(`${cg.cpuacct}/cpuacct.usage`, 'utf8'));
  const stat = (): Record<string, number> =>
    Object.fromEntries(
      readFileSync(`${cg.cpu}/cpu.stat`, 'utf8')
        .trim()
        .split('\n')
        .map((l) => l.split(' '))
        .map(([k, v]) => [k!, Number(v)]),
    );
  async function perPeriod(ms: number): Promise<{ usPerPeriod: number; periods: number; throttledShare: number }> {
    const u0 = usage();
    const s0 = stat();
    await new Promise((r) => setTimeout(r, ms));
    const s1 = stat();
    const periods = s1.nr_periods! - s0.nr_periods!;
    return {
      usPerPeriod: (usage() - u0) / 1000 / Math.max(1, periods),
      periods,
      throttledShare: (s1.nr_throttled! - s0.nr_throttled!) / Math.max(1, periods),
    };
  }

  it('a fake charge lowers the quota once, the loop slows, stop restores the quota', async () => {
    writeFileSync(`${cg.cpu}/cpu.cfs_period_us`, '100000');
    writeFileSync(`${cg.cpu}/cpu.cfs_quota_us`, '50000');
    writeFileSync(`${cg.cpu}/cpu.shares`, '262144'); // the largest weight: the quota, not the load, limits it
    loop = spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' });
    cg.add(loop.pid!);
    const before = await perPeriod(1000);
    const writes: string[] = [];
    const io: QuotaIo = { read: fsQuotaIo.read, write: (f, v) => (writes.push(v), fsQuotaIo.write(f, v)) };
    const c = new ChargingController([{ name: 'n', cgroup: { version: 1, cpu: cg.cpu } }], { io });
    c.period(inp('n', { usedUs: 20_000, chargeUs: 30_000 })); // its packets cost 30 ms on others' time: 20 ms left
    expect(readFileSync(`${cg.cpu}/cpu.cfs_quota_us`, 'utf8').trim()).toBe('20000');
    await new Promise((r) => setTimeout(r, 150)); // the write's own refill and the period it falls in
    const during = await perPeriod(1000);
    c.period(inp('n', { usedUs: 20_000, chargeUs: 30_000 })); // same value: no write
    const fmt = (x: typeof before) =>
      `${(x.usPerPeriod / 1000).toFixed(1)} ms/period over ${x.periods}, throttled in ${(x.throttledShare * 100).toFixed(0)}%`;
    console.log(`busy loop: ${fmt(before)} before; ${fmt(during)} while charged; writes ${writes.join(',')}`);
    expect(writes).toEqual(['20000']);
    expect(before.periods).toBeGreaterThanOrEqual(5);
    expect(during.periods).toBeGreaterThanOrEqual(5);
    // Before: bounded by 50 ms and reaching it; while charged: bounded by 20 ms and throttled there. Slack of 5 ms:
    // the kernel hands out runtime in 5 ms slices and notices an overrun at the next tick.
    expect(before.usPerPeriod).toBeLessThan(50_000 + 5_000);
    expect(before.usPerPeriod).toBeGreaterThan(20_000 + 5_000);
    expect(during.usPerPeriod).toBeLessThan(20_000 + 5_000);
    expect(during.throttledShare).toBeGreaterThan(0.5);
    c.restore();
    expect(readFileSync(`${cg.cpu}/cpu.cfs_quota_us`, 'utf8').trim()).toBe('50000');
  });
});
