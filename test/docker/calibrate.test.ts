// `ironlab calibrate` for real, as a user runs it: short floods through the docker backend on this host, then
// the profile it wrote must load, name this host and kernel, and hold measured values in a physical range.
import { mkdtempSync, readFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { describe, expect, it } from 'vitest';
import { loadProfile } from '../../agents/sim/profile.ts';
import { runCli } from '../e2e/helpers.ts';
import { dockerReadiness } from './helpers/ready.ts';

const { ready } = await dockerReadiness();

describe.skipIf(!ready)('ironlab calibrate', () => {
  it('measures the receive and send costs on this host and writes a profile of measured values', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'ironlab-cal-')), 'host.json');
    const r = await runCli(['calibrate', 'local-docker', '--out', out, '--repetitions', '1', '--duration', '2']);
    console.log(r.stdout, r.stderr);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/udp-receiver.*NET_RX \d.* ns\/skb/);
    expect(r.stdout).toMatch(/CONFIG_IRQ_TIME_ACCOUNTING: (on|off|unknown)/);

    const p = loadProfile(out);
    expect(p._measured?.host).toBe(hostname());
    expect(p._measured?.kernel).toBe(readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim());
    expect(r.stdout).toMatch(/udp-sender [\d.]+ Gbit\/s[^:]*: NET_TX \d.* ns\/datagram/);
    for (const k of [
      'udpRxStackNsPerPacket',
      'udpRecvSyscallNsPerPacket',
      'tcpRxGroNsPerPacket',
      'tcpRxCopyNsPerByte',
      'irqModerationUs',
      'sysbenchEventsPerCpuSecond',
      'htbDequeueNsPerPacket',
      'udpTxSyscallNsPerPacket',
      'tcpTxCopyNsPerByte',
      'vethPeerRxNsPerPacket',
      'vethPeerRxNsPerByte',
    ] as const)
      expect(p._kind[k], k).toBe('measured');
    // Physical ranges on any x86 core from this decade, loaded or not: a datagram's receive path costs
    // between 0.1 and 100 us, a TCP segment's under 100 us, a copied byte 0.005-20 ns.
    expect(p.udpRxStackNsPerPacket).toBeGreaterThan(100);
    expect(p.udpRxStackNsPerPacket).toBeLessThan(100_000);
    expect(p.tcpRxGroNsPerPacket).toBeGreaterThan(0);
    expect(p.tcpRxGroNsPerPacket).toBeLessThan(100_000);
    expect(p.tcpRxCopyNsPerByte).toBeGreaterThan(0.005);
    expect(p.tcpRxCopyNsPerByte).toBeLessThan(20);
    expect(p.sysbenchEventsPerCpuSecond).toBeGreaterThan(50);
    // An HTB dequeue (qdisc + veth_xmit in NET_TX) costs 0.1-100 us per datagram; a sendmsg 0.3-100 us.
    expect(p.htbDequeueNsPerPacket).toBeGreaterThan(100);
    expect(p.htbDequeueNsPerPacket).toBeLessThan(100_000);
    expect(p.udpTxSyscallNsPerPacket).toBeGreaterThan(300);
    expect(p.udpTxSyscallNsPerPacket).toBeLessThan(100_000);
    // The peer's receive path a veth runs on the sender's core: 0.1-100 us per datagram, under 20 ns per byte.
    expect(p.vethPeerRxNsPerPacket).toBeGreaterThan(100);
    expect(p.vethPeerRxNsPerPacket).toBeLessThan(100_000);
    expect(p.vethPeerRxNsPerByte).toBeGreaterThan(0);
    expect(p.vethPeerRxNsPerByte).toBeLessThan(20);

    // nothing left behind
    const left = await new Docker().listContainers({ all: true, filters: { label: ['ironlab.campaign'] } });
    const ours = left
      .filter((c) => c.Labels['ironlab.campaign']?.startsWith('calibrate-'))
      .map(
        (c) => `${c.Names[0]} ${c.State} ${c.Status} created ${new Date(c.Created * 1000).toISOString()} run ${c.Labels['ironlab.run']}`,
      );
    expect(ours).toEqual([]);
  }, 300_000);
});
