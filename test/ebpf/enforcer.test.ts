// The enforcer as the docker backend drives it, for real on two namespaces: ebpf mode accounts, charges once
// per period and can drop (XDP on the receiving end of the pair, in none too, passing everything); samples carry
// the metric names of agents/samples.ts; stop (and the reaper) leave no XDP program, filter, pin, state file or
// changed quota behind.
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEnforcer, reapEnforcement, type EnforcedContainer } from '../../agents/enforcement/enforcer.ts';
import { DROP_MAP, ourFilters } from '../../agents/enforcement/tc.ts';
import { attachXdp, hasOurXdp } from '../../agents/enforcement/xdp.ts';
import { METRIC, sumOf } from '../../agents/samples.ts';
import { announceSkip, REAL } from './real.ts';
import * as T from './topology.ts';

announceSkip('enforcer end to end');

describe.runIf(REAL)('enforcer (real, netns + veth)', () => {
  let ca: ReturnType<typeof T.makeCgroup>;
  let cb: ReturnType<typeof T.makeCgroup>;
  let containers: EnforcedContainer[];
  const stateDir = mkdtempSync(join(tmpdir(), 'ironlab-enf-state-'));
  beforeAll(() => {
    T.createTopology();
    T.steer(0, 1);
    ca = T.makeCgroup('ironlab-test-enf-a');
    cb = T.makeCgroup('ironlab-test-enf-b');
    for (const c of [ca, cb]) {
      writeFileSync(`${c.cpu}/cpu.cfs_period_us`, '100000');
      writeFileSync(`${c.cpu}/cpu.cfs_quota_us`, '100000');
    }
    containers = [
      { name: 'sender', ipv4: T.IP_A, cgroup: { version: 1, cpu: ca.cpu, cpuacct: ca.cpuacct } },
      { name: 'receiver', ipv4: T.IP_B, cgroup: { version: 1, cpu: cb.cpu, cpuacct: cb.cpuacct } },
    ];
  });
  afterAll(async () => {
    await reapEnforcement({ stateDir });
    T.destroyTopology();
    ca?.remove();
    cb?.remove();
  });

  const quota = (c: { cpu: string }) => readFileSync(`${c.cpu}/cpu.cfs_quota_us`, 'utf8').trim();
  // B's end of the pair receives what A sends: the drop program goes there (XDP runs in its NAPI, on A's core).
  const rxB = { dev: T.DEV_B, netns: T.nsPath(T.NS_B) };

  it('ebpf: samples of a TCP flood, then stop undoes everything', async () => {
    const e = createEnforcer('ebpf', { containers, periodUs: 100_000, dropAt: [rxB], stateDir });
    await e.start();
    expect(e.accounting).toBe(true);
    expect(hasOurXdp(rxB)).toBe(true);
    expect(e.provenance().dropPath).toBe(`xdp:${T.DEV_B}`);
    expect(readdirSync(stateDir)).toHaveLength(1);
    expect(JSON.parse(readFileSync(join(stateDir, readdirSync(stateDir)[0]!), 'utf8')).xdp).toEqual([{ ...rxB, aliased: false }]);
    e.beginWindow();
    await T.tcpFlood(3, (client, server) => {
      ca.add(client);
      cb.add(server);
    });
    const samples = e.samples(3);
    const got = (metric: string, container: string) => sumOf(samples, metric, { container });
    console.log(
      samples
        .filter((s) => s.value !== 0)
        .map((s) => `${s.metric}${JSON.stringify(s.labels)}=${s.value.toFixed(4)}`)
        .join('\n'),
    );
    expect(got(METRIC.attributedSoftirqS, 'receiver')).toBeGreaterThan(0.01);
    expect(samples.some((s) => s.metric === METRIC.chargedTimeS && s.labels.container === 'receiver')).toBe(true);
    expect(samples.some((s) => s.metric === METRIC.creditedTimeS && s.labels.container === 'sender')).toBe(true);
    const dropped = samples.filter((s) => s.metric === METRIC.packetsDropped && s.labels.reason === 'ebpf_throttled');
    expect(dropped).toHaveLength(2);
    expect(dropped[0]!.labels.path).toBe('xdp');
    // one controller record per period (100 ms) for each constrained container, over the 3 s window
    const periods = samples.filter((s) => s.metric === METRIC.controllerQuotaUs && s.labels.container === 'receiver');
    expect(periods.length).toBeGreaterThanOrEqual(20);
    expect(periods.length).toBeLessThanOrEqual(32);
    await e.stop();
    await e.stop(); // idempotent
    expect(ourFilters({ dev: T.DEV_A, netns: T.nsPath(T.NS_A) })).toEqual([]);
    expect(ourFilters(rxB)).toEqual([]);
    expect(hasOurXdp(rxB)).toBe(false);
    expect(existsSync(DROP_MAP)).toBe(false);
    expect(readdirSync(stateDir)).toHaveLength(0);
    expect([quota(ca), quota(cb)]).toEqual(['100000', '100000']);
  });

  it('none: accounting without enforcing (the same XDP program, passing everything; no quota write)', async () => {
    const e = createEnforcer('none', { containers, periodUs: 100_000, dropAt: [rxB], stateDir });
    await e.start();
    expect(hasOurXdp(rxB)).toBe(true);
    expect(ourFilters(rxB)).toEqual([]);
    await T.tcpFlood(1, (client, server) => {
      ca.add(client);
      cb.add(server);
    });
    const samples = e.samples(1);
    expect(sumOf(samples, METRIC.attributedSoftirqS, { container: 'receiver' })).toBeGreaterThan(0);
    expect(samples.find((s) => s.metric === METRIC.chargedTimeS)!.labels.enforced).toBe('no');
    expect(sumOf(samples, METRIC.packetsDropped)).toBe(0);
    expect(samples.some((s) => s.metric === METRIC.controllerQuotaUs)).toBe(false);
    await e.stop();
    expect(hasOurXdp(rxB)).toBe(false);
  });

  it('the reaper undoes an enforcer that was never stopped', async () => {
    const e = createEnforcer('ebpf', { containers, periodUs: 100_000, dropAt: [rxB], stateDir });
    await e.start();
    writeFileSync(`${ca.cpu}/cpu.cfs_quota_us`, '30000'); // as if the controller had charged it
    const done = await reapEnforcement({ stateDir });
    console.log('reaped:', done);
    expect(hasOurXdp(rxB)).toBe(false);
    expect(existsSync(DROP_MAP)).toBe(false);
    expect(readdirSync(stateDir)).toHaveLength(0);
  });

  it('the reaper restores what a dead agent recorded (quotas, filters, XDP programs)', async () => {
    const { spawnSync } = await import('node:child_process');
    const dead = spawnSync('true').pid!; // a pid that has exited
    const { attachDrop } = await import('../../agents/enforcement/tc.ts');
    const { buildBpf } = await import('../../agents/enforcement/build.ts');
    const { writeState } = await import('../../agents/enforcement/state.ts');
    const tcA = attachDrop({ dev: T.DEV_A, netns: T.nsPath(T.NS_A) }, buildBpf().drop);
    attachXdp(rxB, buildBpf().drop);
    writeState(stateDir, {
      id: 'crashed',
      pid: dead,
      mode: 'ebpf',
      quotas: [{ file: `${cb.cpu}/cpu.cfs_quota_us`, quotaUs: 100000 }],
      tc: [tcA],
      xdp: [rxB],
    });
    writeFileSync(`${cb.cpu}/cpu.cfs_quota_us`, '20000');
    const done = await reapEnforcement({ stateDir });
    console.log('reaped:', done);
    expect(quota(cb)).toBe('100000');
    expect(ourFilters({ dev: T.DEV_A, netns: T.nsPath(T.NS_A) })).toEqual([]);
    expect(hasOurXdp(rxB)).toBe(false);
    expect(done).toContain(`xdp ${T.DEV_B}`);
    expect(existsSync(DROP_MAP)).toBe(false);
    expect(readdirSync(stateDir)).toHaveLength(0);
  });
});
