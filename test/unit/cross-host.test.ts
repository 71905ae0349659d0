// A run across two hosts on the docker backend, without Docker: which host creates which containers at which
// addresses, and which host reports which flood samples.
import { describe, expect, it } from 'vitest';
import { plan, roleOf } from '../../agents/backends/docker-backend.ts';
import { bridgeAddresses, crossHostAddresses } from '../../agents/docker/traffic-network.ts';
import { containerBlock } from '../../testbed/lab-network.ts';
import { floodSamples } from '../../agents/docker/flood-samples.ts';
import type { NetnsCounters, Snapshot } from '../../agents/docker/counters.ts';
import { testRun } from '../fakes/fake-backend.ts';

const cross = testRun({
  workload: 'udp-sender',
  scenarioId: 'udp-sender',
  neighbours: 2,
  params: { rateGbps: 1 },
  peer: {
    cpus: [1],
    hostId: 'lab-2',
    address: '169.254.0.12',
    serverAddress: '169.254.0.11',
    block: '169.254.0.80/28',
    serverBlock: '169.254.0.64/28',
  },
});

describe('cross-host addressing', () => {
  it('gives each emulated host a /28 of its own above every host address', () => {
    const blocks = Array.from({ length: 12 }, (_, i) => containerBlock(i + 1));
    expect(blocks.slice(0, 3)).toEqual(['169.254.0.64/28', '169.254.0.80/28', '169.254.0.96/28']);
    expect(blocks.at(-1)).toBe('169.254.0.240/28');
    expect(() => containerBlock(13)).toThrow(/hosts 1-12/);
    const a = crossHostAddresses(containerBlock(1), containerBlock(2));
    expect([a.victim, a.neighbour(0), a.neighbour(12), a.peer(0), a.peer(13)]).toEqual([
      '169.254.0.65',
      '169.254.0.66',
      '169.254.0.78',
      '169.254.0.81',
      '169.254.0.94',
    ]);
  });

  it("takes a real lab's declared blocks, of any size, as they are", () => {
    const a = crossHostAddresses('169.254.32.0/24', '169.254.40.128/26');
    expect([a.victim, a.neighbour(0), a.neighbour(200), a.peer(0), a.peer(61)]).toEqual([
      '169.254.32.1',
      '169.254.32.2',
      '169.254.32.202',
      '169.254.40.129',
      '169.254.40.190',
    ]);
  });

  it('splits a run: the server creates victim and neighbours, the peer host the peers, each addressed to the other', () => {
    expect([roleOf(cross, 'lab-1'), roleOf(cross, 'lab-2'), roleOf(testRun(), 'lab-1')]).toEqual(['server', 'peer', 'local']);
    const all = plan(cross, crossHostAddresses(cross.peer.serverBlock!, cross.peer.block!));
    const server = all.filter((p) => !p.spec.role.startsWith('peer-'));
    const peer = all.filter((p) => p.spec.role.startsWith('peer-'));
    expect(server.map((p) => `${p.spec.role} ${p.spec.ip} ${p.program}`)).toEqual([
      'victim 169.254.0.65 sysbench',
      'neighbour-0 169.254.0.66 iperf3-client',
      'neighbour-1 169.254.0.67 iperf3-client',
    ]);
    // a sending neighbour dials its peer on the other host; the peers are servers, unconstrained on peer.cpus
    expect(server[1].spec.argv).toContain('169.254.0.81');
    expect(peer.map((p) => `${p.spec.role} ${p.spec.ip} ${p.program} ${p.spec.cpus} ${p.spec.quotaUs ?? '-'}`)).toEqual([
      'peer-0 169.254.0.81 iperf3-server 1 -',
      'peer-1 169.254.0.82 iperf3-server 1 -',
    ]);
    // one host: everything on the run's own bridge network, as before
    expect(plan(testRun({ workload: 'udp-sender', params: { rateGbps: 1 } }), bridgeAddresses('169.254.7.')).map((p) => p.spec.ip)).toEqual(
      ['169.254.7.2', '169.254.7.10', '169.254.7.100'],
    );
  });
});

describe('flood samples of a run across hosts', () => {
  const counters = (udpIn: number, udpOut: number): NetnsCounters => ({
    snmp: { Udp: { InDatagrams: udpIn, OutDatagrams: udpOut, RcvbufErrors: 0 } },
    eth0: { rxBytes: 0, rxPackets: 0, rxDropped: 0, txBytes: 0, txPackets: 0, txDropped: 0 },
  });
  const snap = (atMs: number, n: number): Snapshot => ({
    atMs,
    cores: new Map(),
    softirqs: {},
    ksoftirqdTicks: new Map(),
    cgroups: new Map(),
    netns: new Map([
      ['neighbour-0', counters(0, n)],
      ['peer-0', counters(n, 0)],
    ]),
  });
  const run = testRun({ workload: 'udp-sender', params: { rateGbps: 1, messageBytes: 1000 } });
  const names = (s: ReturnType<typeof floodSamples>) => s.map((x) => `${x.metric} ${x.labels.container}`);

  it("reports the senders' counters from the server and the receivers' (with the goodput) from the peer host", () => {
    const both = floodSamples(run, snap(0, 0), snap(1000, 1000));
    const server = floodSamples(run, snap(0, 0), snap(1000, 1000), (c) => !c.startsWith('peer-'));
    const peer = floodSamples(run, snap(0, 0), snap(1000, 1000), (c) => c.startsWith('peer-'));
    // the flood's offered and achieved load from the neighbour's own NIC: on the server
    expect(names(server)).toEqual([
      'offered_gbps neighbour-0',
      'achieved_gbps neighbour-0',
      'achieved_pps neighbour-0',
      'packets_sent neighbour-0',
      'retransmits neighbour-0',
    ]);
    expect(names(peer)).toEqual([
      'packets_received peer-0',
      'packets_dropped peer-0',
      'packets_dropped peer-0',
      'neighbour_throughput_gbps neighbour-0',
    ]);
    expect([...server, ...peer].sort((a, b) => a.metric.localeCompare(b.metric))).toEqual(
      [...both].sort((a, b) => a.metric.localeCompare(b.metric)),
    );
    expect(peer.at(-1)!.value).toBeCloseTo(0.008); // 1000 datagrams of 1000 bytes in 1 s
  });
});
