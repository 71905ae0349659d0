// `ironlab sim`: flags validated with UserInputError, both arms reported with the victim core's time.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { formatSimResult, registerSimCommand, runSimCommand } from '../../orchestrator/commands/sim-command.ts';
import { UserInputError } from '../../workloads/common/errors.ts';

const base = { enforcement: 'none', neighbours: '1', duration: '1', warmup: '0.2', profile: 'paper' };

describe('ironlab sim', () => {
  it('runs both arms and explains the penalty', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ironlab-sim-'));
    const timeline = join(dir, 't.json');
    const r = runSimCommand({ ...base, workload: 'tcp-receiver', rateGbps: '6', timeline });
    expect(r.penaltyFactor).toBeGreaterThan(1.2);
    expect(r.control.victimCore.softirq_task).toBe(0);
    expect(r.interference.victimCore.softirq_task).toBeGreaterThan(0.1);
    const text = formatSimResult(r);
    expect(text).toMatch(/penalty factor: \d+\.\d\d/);
    expect(text).toMatch(/softirq in task ctx/);
    const doc = JSON.parse(readFileSync(timeline, 'utf8'));
    expect(doc.arms.interference.length).toBe(120);
    expect(doc.arms.interference[50].cores[0].reduce((a: number, b: number) => a + b, 0)).toBeCloseTo(0.01, 6);
  });

  it('bad flags are UserInputErrors naming the flag', () => {
    expect(() => runSimCommand({ ...base, workload: 'ftp' })).toThrow(UserInputError);
    expect(() => runSimCommand({ ...base, workload: 'udp-sender', rateGbps: 'fast' })).toThrow(/--rate-gbps/);
    expect(() => runSimCommand({ ...base, workload: 'udp-sender', enforcement: 'magic' })).toThrow(/--enforcement/);
    expect(() => runSimCommand({ ...base, workload: 'tcp-sender', flows: '0.5' })).toThrow(/--flows/);
    expect(() => runSimCommand({ ...base, workload: 'tcp-sender', neighbours: '0' })).toThrow(/--neighbours/);
    expect(() => runSimCommand({ ...base, workload: 'tcp-sender', profile: 'nope' })).toThrow(/--profile/);
  });

  it('registers `sim` with a mandatory --workload', () => {
    const program = new Command();
    registerSimCommand(program);
    const sim = program.commands.find((c) => c.name() === 'sim');
    expect(sim).toBeDefined();
    expect(sim!.options.map((o) => o.long)).toEqual(
      expect.arrayContaining([
        '--workload',
        '--rate-gbps',
        '--flows',
        '--message-bytes',
        '--enforcement',
        '--neighbours',
        '--duration',
        '--warmup',
        '--seed',
        '--profile',
        '--timeline',
        '--json',
      ]),
    );
  });
});
