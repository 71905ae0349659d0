// tick-scale.ts: each CPU's attributed softirq time scaled by what the kernel's tick accounting saw over the last
// second (network share), never below 1, and left alone where the traced time is too small for ticks.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AcctSnapshot } from '../../agents/enforcement/accounting.ts';
import { readTicks, scaleRows, TickScale } from '../../agents/enforcement/tick-scale.ts';

/** A fake /proc with cumulative softirq ticks (USER_HZ) per CPU and softirq counts (net, other) per CPU. */
function proc(dir: string, softirqTicks: number[], counts: { net: number[]; timer: number[] }): void {
  const cpus = softirqTicks.map((t, i) => `cpu${i} 100 0 100 1000 0 0 ${t} 0 0 0`).join('\n');
  writeFileSync(join(dir, 'stat'), `cpu  200 0 200 2000 0 0 0 0 0 0\n${cpus}\nintr 0\n`);
  const row = (name: string, v: number[]) => `${name.padStart(12)}: ${v.map((x) => String(x).padStart(10)).join(' ')}`;
  writeFileSync(
    join(dir, 'softirqs'),
    [
      `${' '.repeat(14)}${softirqTicks.map((_, i) => `CPU${i}`.padEnd(11)).join('')}`,
      row('TIMER', counts.timer),
      row('NET_RX', counts.net),
      row(
        'NET_TX',
        counts.net.map(() => 0),
      ),
    ].join('\n') + '\n',
  );
}
const snap = (traceNs: number[]): AcctSnapshot => ({ rows: [], totals: traceNs.map((ns, cpu) => ({ cpu, vec: 'NET_RX' as const, ns })) });
const ms = (x: number) => BigInt(x) * 1_000_000n;

describe('tick scale', () => {
  it('reads /proc/stat softirq ticks and the network share of /proc/softirqs', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ticks-'));
    proc(dir, [50, 7], { net: [900, 10], timer: [100, 30] });
    const t = readTicks(dir);
    expect(t[0]).toEqual({ irqNs: 0, softirqNs: 500e6, netCount: 900, allCount: 1000 });
    expect(t[1]).toMatchObject({ netCount: 10, allCount: 40 });
  });

  it('scales a CPU whose ticks saw twice the traced time, leaves one the tracepoints saw in full, never below 1', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ticks-'));
    const s = new TickScale(dir);
    // Steps every 100 ms for 1.2 s: core 0 softirq ticks grow 4 per step (40 ms, all network) while the tracepoints
    // see 20 ms; core 1 ticks 1 per step (10 ms) and traced 12 ms.
    let f = new Map<number, number>();
    for (let i = 0; i <= 12; i++) {
      proc(dir, [4 * i, i], { net: [1000 * i, 1000 * i], timer: [0, 0] });
      f = s.step(ms(100 * i), snap([20e6 * i, 12e6 * i]));
    }
    expect(f.get(0)).toBeCloseTo(2);
    expect(f.get(1)).toBe(1);
    const scaled = scaleRows({ rows: [{ cpu: 0, ctxCg: 1, owner: '169.254.0.2', vec: 'NET_RX', ns: 10, packets: 1 }], totals: [] }, f);
    expect(scaled.rows[0]!.ns).toBeCloseTo(20);
  });

  it('leaves a CPU alone whose traced network time is under 5% of the window, and counts only the network share', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ticks-'));
    const s = new TickScale(dir);
    let f = new Map<number, number>();
    for (let i = 0; i <= 12; i++) {
      // core 0: ticks 3 per step but only a third of the softirqs are network: 10 ms per step against 8 traced
      // (1.25); core 1: 1 ms traced per step (1% of the window): too little for ticks to say anything.
      proc(dir, [3 * i, 5 * i], { net: [1000 * i, 10 * i], timer: [2000 * i, 0] });
      f = s.step(ms(100 * i), snap([8e6 * i, 1e6 * i]));
    }
    expect(f.get(0)).toBeCloseTo(1.25);
    expect(f.get(1)).toBe(1);
  });

  it('takes the network share per interval, not from the counts since boot', () => {
    // A CPU that served a million timer softirqs before the run and only network softirqs during it: all of its
    // softirq ticks in the window are network (since-boot totals would say 0.1%).
    const dir = mkdtempSync(join(tmpdir(), 'ticks-'));
    const s = new TickScale(dir);
    let f = new Map<number, number>();
    for (let i = 0; i <= 12; i++) {
      proc(dir, [4 * i, 0], { net: [1000 * i, 0], timer: [1e6, 0] });
      f = s.step(ms(100 * i), snap([20e6 * i, 0]));
    }
    expect(f.get(0)).toBeCloseTo(2);
  });
});
