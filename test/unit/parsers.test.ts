// The docker backend's parsers against real samples of the files they read (test/fixtures/proc: /proc and
// cgroup files captured on a CI machine, tool output captured from the workload image; the ixgbe, ice and
// multiqueue virtio-net /proc/interrupts samples follow those drivers' queue naming).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  cgroupPathFor,
  cpuMask,
  formatCpuList,
  parseCpuList,
  parseCpuMask,
  parseInterrupts,
  parseKeyValues,
  parseNetDev,
  parsePidStat,
  parseProcStat,
  parseSnmp,
  parseSoftirqs,
  parseUsagePercpu,
  queueIrqs,
} from '../../agents/docker/proc-parsers.ts';
import { parseQdiscDrops } from '../../agents/docker/htb.ts';
import { defaultRouteDev } from '../../agents/docker/host-facts.ts';
import { eventsPerSecondIn, parseSysbenchIntervals } from '../../workloads/sysbench-output.ts';
import { parseIperf3Json } from '../../workloads/iperf3-output.ts';
import { mirrorFromDeb822, mirrorFromSourcesList, imageTag, recipeHash, RECIPE } from '../../workloads/image.ts';
import { iperf3ClientArgv, floodPlan } from '../../workloads/iperf3.ts';

const fx = (name: string) => readFileSync(join(import.meta.dirname, '..', 'fixtures', 'proc', name), 'utf8');

describe('/proc and cgroup parsers', () => {
  it('reads per-core times from /proc/stat', () => {
    const cores = parseProcStat(fx('stat.txt'));
    expect([...cores.keys()]).toEqual([0, 1]);
    expect(cores.get(0)).toMatchObject({ user: 19865, system: 3963, idle: 77728, softirq: 103 });
  });

  it('reads softirq counts per vector and CPU', () => {
    const s = parseSoftirqs(fx('softirqs.txt'));
    expect(s.NET_RX).toEqual([471397, 199665]);
    expect(s.NET_TX).toEqual([9, 16]);
    expect(Object.keys(s)).toContain('HRTIMER');
  });

  it('reads utime and stime of ksoftirqd, and survives a comm with spaces and parentheses', () => {
    expect(parsePidStat(fx('ksoftirqd-0.stat'))).toMatchObject({ comm: 'ksoftirqd/0', utime: 5, stime: 3 });
    expect(parsePidStat('42 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 11 12 0 0')).toMatchObject({ comm: 'a (b) c', utime: 11, stime: 12 });
  });

  it('reads cgroup v1 cpu.stat, cpuacct usage and the container cgroup path', () => {
    expect(parseKeyValues(fx('cpu.stat'))).toMatchObject({ nr_periods: 17, nr_throttled: 15, throttled_time: 673616615 });
    expect(parseUsagePercpu(fx('cpuacct.usage_percpu'))).toEqual([788549140, 0]);
    const text = fx('pid-cgroup-v1.txt');
    expect(cgroupPathFor(text, 'cpu')).toBe('/docker/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef');
    expect(cgroupPathFor(text, 'cpuacct')).toBe('/docker/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef');
    expect(cgroupPathFor('4:cpu,cpuacct:/docker/x\n', 'cpuacct')).toBe('/docker/x');
  });

  it('finds ixgbe queue IRQs (<if>-TxRx-<n>) and leaves the link vector and other NICs alone', () => {
    const rows = parseInterrupts(fx('interrupts-ixgbe.txt'));
    expect(queueIrqs(rows, 'eth2')).toEqual([
      { irq: 104, queue: 0, kind: 'txrx' },
      { irq: 105, queue: 1, kind: 'txrx' },
      { irq: 106, queue: 2, kind: 'txrx' },
      { irq: 107, queue: 3, kind: 'txrx' },
    ]);
    expect(queueIrqs(rows, 'eth3').map((q) => q.irq)).toEqual([109, 110]);
    expect(rows.find((r) => r.irq === 104)?.counts).toEqual([873115, 0, 0, 0]);
  });

  it('finds ice queue IRQs (ice-<if>-TxRx-<n>) without matching a longer interface name', () => {
    const rows = parseInterrupts(fx('interrupts-ice.txt'));
    expect(queueIrqs(rows, 'ens785f0').map((q) => q.irq)).toEqual([159, 160, 161, 162]);
    expect(queueIrqs(rows, 'ens785f1').map((q) => q.irq)).toEqual([164, 165]);
    expect(queueIrqs(rows, 'ens785f10').map((q) => q.irq)).toEqual([166]);
  });

  it("finds virtio-net queue IRQs only by the interface's virtio device, not by its name", () => {
    const rows = parseInterrupts(fx('interrupts-virtio.txt'));
    expect(rows.length).toBeGreaterThan(5);
    expect(queueIrqs(rows, 'eth0')).toEqual([]);
    // virtio2 is the NIC: virtio3's rx/tx (vsock) and virtio4-input (an input device) are no queue vectors.
    expect(queueIrqs(rows, 'eth0', 'virtio2')).toEqual([
      { irq: 38, queue: 0, kind: 'rx' },
      { irq: 39, queue: 0, kind: 'tx' },
    ]);
    expect(queueIrqs(rows, 'eth0', 'virtio4')).toEqual([]);
    expect(queueIrqs(rows, 'eth0', '0000:00:03.0')).toEqual([]);
  });

  it('finds multiqueue virtio-net input and output vectors and leaves the config vector and other devices alone', () => {
    const rows = parseInterrupts(fx('interrupts-virtio-net-mq.txt'));
    expect(queueIrqs(rows, 'eth0', 'virtio0')).toEqual([
      { irq: 25, queue: 0, kind: 'rx' },
      { irq: 26, queue: 0, kind: 'tx' },
      { irq: 27, queue: 1, kind: 'rx' },
      { irq: 28, queue: 1, kind: 'tx' },
    ]);
    expect(queueIrqs(rows, 'eth1', 'virtio1')).toEqual([]);
    expect(queueIrqs(rows, 'eth2', 'virtio10').map((q) => q.irq)).toEqual([33, 34]);
  });

  it('converts cpu lists and rps masks both ways', () => {
    expect(parseCpuList('0-2,5')).toEqual([0, 1, 2, 5]);
    expect(formatCpuList([3, 0, 1, 1])).toBe('0,1,3');
    expect(cpuMask([0])).toBe('1');
    expect(cpuMask([0, 33])).toBe('2,00000001');
    expect(parseCpuMask('00000000,00000003')).toEqual([0, 1]);
    expect(parseCpuMask('0')).toEqual([]);
  });

  it('reads a namespace snmp table and net/dev counters', () => {
    const snmp = parseSnmp(
      'Ip: Forwarding DefaultTTL\nIp: 1 64\nUdp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors\nUdp: 10 0 1 20 3\n',
    );
    expect(snmp.Udp).toEqual({ InDatagrams: 10, NoPorts: 0, InErrors: 1, OutDatagrams: 20, RcvbufErrors: 3 });
    const dev = parseNetDev(
      'Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0\n  eth0: 1000      10    0    2    0     0          0         0     5000      50    0    1    0     0       0          0\n',
    );
    expect(dev.get('eth0')).toEqual({ rxBytes: 1000, rxPackets: 10, rxDropped: 2, txBytes: 5000, txPackets: 50, txDropped: 1 });
  });

  it('reads qdisc drops and the default route device', () => {
    const tc =
      'qdisc htb 1: root refcnt 2 r2q 10 default 0x10 direct_packets_stat 0\n Sent 123 bytes 4 pkt (dropped 5, overlimits 6 requeues 0)\n';
    expect(parseQdiscDrops(tc, 'htb')).toBe(5);
    expect(parseQdiscDrops(tc, 'fq')).toBe(0);
    expect(defaultRouteDev('Iface\tDestination\tGateway\neth0\t00000000\t0101A8C0\n')).toBe('eth0');
  });
});

describe('workload output parsers', () => {
  it('cuts sysbench interval reports to the measurement window', () => {
    const lines = [
      '2026-01-01T00:00:01.000Z [ 1s ] thds: 1 eps: 100.00 lat (ms,95%): 1',
      '2026-01-01T00:00:02.010Z [ 2s ] thds: 1 eps: 200.00 lat (ms,95%): 1',
      '2026-01-01T00:00:03.005Z [ 3s ] thds: 1 eps: 300.00 lat (ms,95%): 1',
      '2026-01-01T00:00:04.000Z [ 4s ] thds: 1 eps: 999.00 lat (ms,95%): 1',
    ];
    const iv = parseSysbenchIntervals(lines.join('\n'));
    expect(iv).toHaveLength(4);
    // window [1.0 s, 3.1 s]: the warm-up interval (0-1 s) and the one after the window are left out
    expect(eventsPerSecondIn(iv, Date.parse('2026-01-01T00:00:01.000Z'), Date.parse('2026-01-01T00:00:03.100Z'))).toBe(250);
    expect(eventsPerSecondIn(iv, Date.parse('2026-01-01T00:00:01.000Z'), Date.parse('2026-01-01T00:00:01.500Z'))).toBeNull();
  });

  it('finds the interval lines in real sysbench output', () => {
    const stamped = fx('tools/sysbench-cpu-report.txt')
      .split('\n')
      .map((l) => `2026-01-01T00:00:00.000Z ${l}`)
      .join('\n');
    expect(parseSysbenchIntervals(stamped).map((i) => i.eps)).toEqual([4507.61, 4490.35]);
  });

  it('reads iperf3 -J client output for TCP and UDP', () => {
    const tcp = parseIperf3Json(fx('tools/iperf3-tcp-client.json'));
    expect(tcp.retransmits).toBe(8);
    expect(tcp.receivedBps).toBeCloseTo(12341835430.6, 0);
    expect(tcp.packetsLost).toBeNull();
    const udp = parseIperf3Json('warning: UDP block size 1470 exceeds TCP MSS 1448\n' + fx('tools/iperf3-udp-client.json'));
    expect(udp).toMatchObject({ packetsSent: 338663, packetsLost: 14230, retransmits: null });
  });
});

describe('image recipe and workload argv', () => {
  it('reads the mirror from apt configuration in both formats', () => {
    const deb822 =
      'Types: deb\nURIs: http://mirror.invalid/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\nTypes: deb\nURIs: http://mirror.invalid/debian-security\nSuites: bookworm-security\n';
    expect(mirrorFromDeb822(deb822, 'bookworm')).toBe('http://mirror.invalid/debian');
    expect(mirrorFromDeb822(deb822, 'trixie')).toBeNull();
    expect(mirrorFromSourcesList('# c\ndeb [arch=amd64] http://mirror.invalid/debian bookworm main\n', 'bookworm')).toBe(
      'http://mirror.invalid/debian',
    );
  });

  it('tags the image with a hash of its recipe', () => {
    expect(imageTag()).toBe(`ironlab-workload:${recipeHash()}`);
    expect(recipeHash({ ...RECIPE, packages: ['iperf3'] })).not.toBe(recipeHash());
  });

  it('builds flood argv from the catalog only, bounded in time, to link-local servers', () => {
    const argv = iperf3ClientArgv('udp-receiver', { rateGbps: 2, messageBytes: 1200 }, '169.254.7.10', 5);
    expect(argv).toEqual([
      'iperf3',
      '--client',
      '169.254.7.10',
      '--port',
      '5201',
      '--json',
      '--time',
      '5',
      '--length',
      '1200',
      '--parallel',
      '1',
      '--bitrate',
      '2000000000',
      '--udp',
    ]);
    expect(floodPlan('udp-sender', { rateGbps: 1 })).toEqual({ clientSide: 'neighbour', htbRateBps: 1e9 });
    expect(iperf3ClientArgv('udp-sender', { rateGbps: 1 }, '169.254.7.100', 3)).toContain('0'); // -b 0: HTB does the limiting
    expect(() => iperf3ClientArgv('tcp-sender', {}, '10.0.0.1', 3)).toThrow(/link-local/);
  });
});
