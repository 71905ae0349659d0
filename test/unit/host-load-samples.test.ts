// What a real run records besides the penalty, so that two runs can be told apart: offered and achieved load
// of each flood (iperf3's report and the NIC's counters), steal, CPU taken on the victim's cores by processes
// outside the experiment's containers, by who, softirq counts, and the receive path's regime counters.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseIpiCounts, parsePidStat, parseSchedstat, parseSoftnetStat } from '../../agents/docker/proc-parsers.ts';
import { parseIperf3Json, sentWithin } from '../../workloads/iperf3-output.ts';
import { iperf3LoadSamples } from '../../agents/docker/load-samples.ts';
import { floodSamples } from '../../agents/docker/flood-samples.ts';
import { hostCpuSamples, softirqRegime } from '../../agents/docker/host-cpu-samples.ts';
import { ironlabRole, daemonWho, experimentProcesses } from '../../agents/docker/experiment-processes.ts';
import { RestoreLedger } from '../../agents/docker/restore-ledger.ts';
import type { HostCpuCounters, Snapshot } from '../../agents/docker/counters.ts';
import type { CpuTimes, DevCounters } from '../../agents/docker/proc-parsers.ts';
import { METRIC, type Sample } from '../../agents/samples.ts';
import { testRun } from '../fakes/fake-backend.ts';

const fx = (name: string) => readFileSync(join(import.meta.dirname, '..', 'fixtures', 'proc', name), 'utf8');
const value = (s: Sample[], metric: string, labels: Record<string, string> = {}) =>
  s.filter((x) => x.metric === metric && Object.entries(labels).every(([k, v]) => x.labels[k] === v)).map((x) => x.value);

describe('regime and ownership parsers', () => {
  it('reads softnet_stat rows by CPU index, and the IPI rows of /proc/interrupts', () => {
    const rows = parseSoftnetStat(fx('softnet_stat.txt'));
    expect([...rows.keys()]).toEqual([0, 1]);
    expect(rows.get(0)!.processed).toBeGreaterThan(0);
    expect(parseSoftnetStat('00000010 00000002 00000003 0 0 0 0 0 0 00000005 0 0 00000001 0 0\n').get(1)).toEqual({
      processed: 16,
      dropped: 2,
      timeSqueeze: 3,
      receivedRps: 5,
    });
    expect(parseIpiCounts(fx('interrupts-virtio.txt'))).toMatchObject({ CAL: [140504, 140163], RES: [47053, 34415] });
  });

  it('reads schedstat run time and the parent and start time of a process', () => {
    expect(parseSchedstat('7485244 21621897 4\n')).toEqual({ runNs: 7485244, waitNs: 21621897 });
    expect(parsePidStat(fx('ksoftirqd-0.stat'))).toMatchObject({ ppid: 2, startTicks: 24 });
  });

  it('tells ironlab agents from orchestrators, and Docker daemons by name', () => {
    expect(ironlabRole(['/usr/bin/node', '/x/testbed/cli/ironlab.mjs', 'agent', '--connect', 'ws://a'].join('\0'))).toBe('agent');
    expect(ironlabRole(['node', '/x/node_modules/.bin/ironlab', 'run', 'local-docker'].join('\0'))).toBe('orchestrator');
    expect(ironlabRole(['node', 'vitest', 'run'].join('\0'))).toBeNull();
    expect([daemonWho('dockerd'), daemonWho('containerd-shim'), daemonWho('containerd'), daemonWho('sysbench')]).toEqual([
      'dockerd',
      'containerd',
      'containerd',
      null,
    ]);
    // this test process is the "agent" when it asks (the bench runs the backend in-process the same way)
    expect(
      experimentProcesses()
        .get('agent')!
        .map((p) => p.pid),
    ).toContain(process.pid);
  });
});

describe('offered and achieved load', () => {
  it('cuts iperf3 interval reports to the window, edges pro rata', () => {
    const udp = parseIperf3Json(fx('tools/iperf3-udp-client.json'));
    expect(udp.intervals).toHaveLength(2);
    const all = sentWithin(udp.intervals, 0, 10)!;
    expect(all.bytes).toBe(249586890 + 248247720);
    const half = sentWithin(udp.intervals, 0.5, 1.5)!;
    expect(half.seconds).toBeCloseTo(1, 3);
    expect(half.bytes / (249586890 / 2 + 248247720 / 2)).toBeCloseTo(1, 3); // the interval edges are at 1.000004 s
    expect(half.packets! / ((169787 + 168876) / 2)).toBeCloseTo(1, 3);
    expect(sentWithin(udp.intervals, 5, 6)).toBeNull();
    expect(sentWithin(parseIperf3Json(fx('tools/iperf3-tcp-client.json')).intervals, 0, 2)!.packets).toBeNull();
  });

  it("labels both sources by the flood's neighbour, with the offered rate only when one is set", () => {
    const run = testRun({ workload: 'udp-receiver', params: { rateGbps: 1 } });
    const dev = (rxBytes: number, rxPackets: number): DevCounters => ({
      rxBytes,
      rxPackets,
      rxDropped: 0,
      txBytes: 0,
      txPackets: 0,
      txDropped: 0,
    });
    // 85k datagrams of 1470 bytes in 1 s: 1470 + 8 + 20 + 14 bytes a frame on the veth
    const a = snap(0, { netns: new Map([['neighbour-0', { snmp: {}, eth0: dev(0, 0) }]]) });
    const b = snap(1000, { netns: new Map([['neighbour-0', { snmp: {}, eth0: dev(85_000 * 1512, 85_000) }]]) });
    const s = floodSamples(run, a, b, () => true);
    expect(value(s, METRIC.offeredGbps, { container: 'neighbour-0' })).toEqual([1]);
    expect(value(s, METRIC.achievedGbps, { container: 'neighbour-0', source: 'nic' })[0]).toBeCloseTo((85_000 * 1470 * 8) / 1e9, 6);
    expect(value(s, METRIC.achievedPps, { container: 'neighbour-0', source: 'nic' })).toEqual([85_000]);
    expect(
      value(
        floodSamples(testRun({ workload: 'udp-receiver' }), a, b, () => true),
        METRIC.offeredGbps,
      ),
    ).toEqual([]); // unlimited: absent
    expect(
      value(
        floodSamples(run, a, b, (c) => c !== 'neighbour-0'),
        METRIC.achievedGbps,
      ),
    ).toEqual([]); // the neighbour is on another host

    const report = parseIperf3Json(fx('tools/iperf3-udp-client.json'));
    const fromIperf = iperf3LoadSamples(run, 0, report, -500, snap(0), snap(1000)); // window = [0.5 s, 1.5 s] of the test
    expect(value(fromIperf, METRIC.achievedGbps, { container: 'neighbour-0', source: 'iperf3' })[0]).toBeCloseTo(
      (((249586890 + 248247720) / 2) * 8) / 1e9,
      2,
    );
    expect(value(fromIperf, METRIC.achievedPps, { source: 'iperf3' })[0] / ((169787 + 168876) / 2)).toBeCloseTo(1, 3);
  });
});

describe('steal, foreign CPU and softirq counts', () => {
  it("splits the victim core's time outside the containers by who, the rest as other", () => {
    const host = (root: number, docker: number, agent: number, dockerd: number, ksoftirqd: number): HostCpuCounters => ({
      rootPercpuNs: [root, 0],
      dockerPercpuNs: [docker, 0],
      ksoftirqdNs: new Map([[0, ksoftirqd]]),
      whoPercpuNs: new Map([
        ['agent', [agent, 0]],
        ['dockerd', [dockerd, 0]],
        ['containerd', [0, 0]],
        ['orchestrator', [0, 0]],
      ]),
      softnet: new Map([[0, { processed: 10, dropped: 0, timeSqueeze: 1, receivedRps: 3 }]]),
      ipis: { CAL: [5, 0], RES: [1, 1] },
    });
    const a = snap(0, { host: host(0, 0, 0, 0, 0), steal: 0, softirqs: { NET_RX: [100, 0], TIMER: [7, 7] } });
    const b = snap(3000, {
      host: host(2.9e9, 2.5e9, 0.01e9, 0.02e9, 0.2e9),
      steal: 12,
      softirqs: { NET_RX: [5100, 40], TIMER: [307, 17] },
    });
    const s = hostCpuSamples(a, b, [0, 0]);
    expect(value(s, METRIC.stealTimeS, { core: '0' })).toEqual([0.12]);
    expect(value(s, METRIC.foreignCpuTimeS, { core: '0', who: 'agent' })).toEqual([0.01]);
    expect(value(s, METRIC.foreignCpuTimeS, { core: '0', who: 'dockerd' })).toEqual([0.02]);
    expect(value(s, METRIC.foreignCpuTimeS, { core: '0', who: 'other' })[0]).toBeCloseTo(2.9 - 2.5 - 0.03 - 0.2, 9);
    expect(value(s, METRIC.foreignCpuTimeS, { core: '1' })).toEqual([]); // not a victim or NIC core
    expect(value(s, METRIC.softirqCount, { core: '0', vec: 'NET_RX' })).toEqual([5000]);
    expect(value(s, METRIC.softirqCount, { core: '1', vec: 'TIMER' })).toEqual([10]);
  });
});

describe("the softirq regime of the victim's core", () => {
  it("is ksoftirqd when the thread ran most of the core's softirq time, inline when interrupts did, quiet when there was little", () => {
    const at = (atMs: number, softirq: number, ksoftirqdTicks: number): Snapshot => ({
      ...snap(atMs),
      cores: new Map([[0, { user: 0, nice: 0, system: 0, idle: 0, iowait: 0, irq: 0, softirq, steal: 0 }]]),
      ksoftirqdTicks: new Map([[0, ksoftirqdTicks]]),
    });
    expect(softirqRegime(at(0, 0, 0), at(3000, 100, 60), [0])).toMatchObject({
      regime: 'ksoftirqd',
      samples: [{ metric: 'softirq_deferred_share', value: 0.6, labels: { core: '0' } }],
    });
    expect(softirqRegime(at(0, 0, 0), at(3000, 100, 20), [0]).regime).toBe('inline');
    expect(softirqRegime(at(0, 0, 0), at(3000, 3, 0), [0]).regime).toBe('quiet'); // 30 ms of softirq in 3 s
  });
});

describe('restore ledger: processes moved for the window go back', () => {
  it('moves a process back to its own cgroup, newest entry first, and forgets a process that is gone', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ironlab-ledger-'));
    const procs = join(dir, 'cgroup.procs');
    writeFileSync(procs, '');
    const ledger = new RestoreLedger('h', dir);
    const me = parsePidStat(readFileSync('/proc/self/stat', 'utf8'));
    ledger.rememberMove(procs, process.pid, me.startTicks, 'r1', 'c1');
    ledger.rememberMove(procs, process.pid, me.startTicks, 'r1', 'c1'); // once
    ledger.rememberMove(join(dir, 'other.procs'), 999_999_999, 1, 'r1', 'c1'); // no such process
    expect(ledger.entries()).toHaveLength(2);
    expect(ledger.restore((e) => e.runId === 'r1')).toHaveLength(2);
    expect(readFileSync(procs, 'utf8')).toBe(String(process.pid));
    expect(ledger.entries()).toEqual([]);
  });
});

function snap(
  atMs: number,
  o: { netns?: Snapshot['netns']; host?: HostCpuCounters; steal?: number; softirqs?: Record<string, number[]> } = {},
): Snapshot {
  const t = (steal: number): CpuTimes => ({ user: 0, nice: 0, system: 0, idle: 0, iowait: 0, irq: 0, softirq: 0, steal });
  return {
    atMs,
    cores: new Map([
      [0, t(o.steal ?? 0)],
      [1, t(0)],
    ]),
    softirqs: o.softirqs ?? {},
    ksoftirqdTicks: new Map(),
    cgroups: new Map(),
    netns: o.netns ?? new Map(),
    ...(o.host ? { host: o.host } : {}),
  };
}
