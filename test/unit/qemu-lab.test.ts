// The QEMU lab's plan and command line (testbed/qemu-lab.ts), and the kernel build's cache key
// (testbed/kernel-build.ts): what `testbed up --kernel iron` will make, before it makes anything.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { qemuArgv, qemuLabPlan } from '../../testbed/qemu-lab.ts';
import { describePinning, planPinning } from '../../testbed/qemu-pinning.ts';
import { KERNEL_DIR, parseTimes, patchFiles, unwantedOptions, wantedOptions } from '../../testbed/kernel-build.ts';

describe('QEMU lab plan', () => {
  const state = qemuLabPlan(2, '/tmp/ironlab-unit-testbed');

  it('names every VM resource in the state before anything is made', () => {
    expect(state.kind).toBe('qemu');
    expect(state.hosts.map((h) => [h.id, h.address, h.vm?.tap])).toEqual([
      ['lab-1', '169.254.0.11', 'ironlab-t1'],
      ['lab-2', '169.254.0.12', 'ironlab-t2'],
    ]);
    for (const h of state.hosts) expect(h.vm!.pidFile.startsWith('/tmp/ironlab-unit-testbed/hosts/')).toBe(true);
  });

  it('gives each guest its agent (status file in the guest) and a container block of its own on the lab wire', () => {
    expect(state.hosts.map((h) => [h.containerBlock, h.agent.statusFile])).toEqual([
      ['169.254.0.64/28', '/run/ironlab/agent.json'],
      ['169.254.0.80/28', '/run/ironlab/agent.json'],
    ]);
  });

  it('boots a multiqueue MSI-X virtio NIC on the tap, the disks as throw-away snapshots, the address on the command line', () => {
    const argv = qemuArgv(state.hosts[0], 1, '/k/bzImage', '/r/rootfs.ext4', '/r/docker.ext4').join(' ');
    expect(argv).toContain('tap,id=nic0,ifname=ironlab-t1,script=no,downscript=no,queues=2');
    expect(argv).toContain('virtio-net-pci,netdev=nic0,mac=52:54:00:1b:00:01,mq=on,vectors=6');
    expect(argv).toContain('file=/r/rootfs.ext4,format=raw,if=virtio,snapshot=on');
    expect(argv).toContain('file=/r/docker.ext4,format=raw,if=virtio,snapshot=on');
    expect(argv).toContain('ironlab.addr=169.254.0.11/24');
    expect(argv).toContain('-name ironlab-lab-1,debug-threads=on');
    expect(argv).toMatch(/-pidfile \/tmp\/ironlab-unit-testbed\/hosts\/lab-1\/qemu\.pid -daemonize/);
  });
});

describe("QEMU lab's emulator threads on the host's cores", () => {
  const guests = [
    { id: 'lab-1', vcpus: 2 },
    { id: 'lab-2', vcpus: 2 },
  ];

  it('on 2 cores gives lab-1 vCPU 0 (victim, neighbour, NIC) core 0 alone, everything else core 1', () => {
    expect(planPinning(guests, 2)).toEqual({
      vcpus: { 'lab-1': [[0], [1]], 'lab-2': [[1], [1]] },
      others: [1],
      // before work outside the lock; lab-2 before lab-1's vCPU 1 on the core they share
      nice: { 'lab-1': -10, 'lab-2': -15 },
    });
  });

  it('on 8 cores gives each vCPU a core of its own and the I/O threads the rest', () => {
    expect(planPinning(guests, 8)).toMatchObject({ vcpus: { 'lab-1': [[0], [1]], 'lab-2': [[2], [3]] }, others: [4, 5, 6, 7] });
  });

  it('without a core to spare for the I/O threads keeps only lab-1 vCPU 0 alone; one core: nothing to pin', () => {
    expect(planPinning(guests, 4)).toMatchObject({
      vcpus: {
        'lab-1': [[0], [1, 2, 3]],
        'lab-2': [
          [1, 2, 3],
          [1, 2, 3],
        ],
      },
      others: [1, 2, 3],
    });
    expect(planPinning(guests, 1)).toBeNull();
  });

  it("shows each vCPU thread's cores and the other threads grouped", () => {
    const t = (tid: number, name: string, vcpu: number | null, cores: string) => ({ tid, name, vcpu, cores });
    expect(
      describePinning([
        t(10, 'qemu-system-x86', null, '1'),
        t(11, 'call_rcu', null, '1'),
        t(12, 'CPU 0/TCG', 0, '0'),
        t(13, 'CPU 1/TCG', 1, '1'),
      ]),
    ).toBe('CPU 0/TCG:0 CPU 1/TCG:1 +2 others:1');
  });
});

describe('IRON kernel series', () => {
  it('has its four patches in order, and a config fragment that asks for IRON with CFS bandwidth', () => {
    expect(patchFiles().map((p) => p.split('/').pop()!.slice(0, 4))).toEqual(['0001', '0002', '0003', '0004']);
    const wanted = wantedOptions(readFileSync(join(KERNEL_DIR, 'guest.config'), 'utf8'));
    expect(wanted).toEqual(expect.arrayContaining(['CONFIG_IRON=y', 'CONFIG_CFS_BANDWIDTH=y', 'CONFIG_VIRTIO_NET=y', 'CONFIG_PCI_MSI=y']));
    // What dockerd, lab-2host's macvlan networks and the ebpf arm's tp_btf programs need in a guest.
    expect(wanted).toEqual(
      expect.arrayContaining(['CONFIG_MACVLAN=y', 'CONFIG_IP_NF_IPTABLES=y', 'CONFIG_BPF_EVENTS=y', 'CONFIG_DEBUG_INFO_BTF=y']),
    );
    expect(wanted.some((o) => o.startsWith('CONFIG_IRQ_TIME_ACCOUNTING'))).toBe(false);
  });

  it('reads what the fragment switches off, so that a select turning one back on stops the build', () => {
    expect(unwantedOptions('CONFIG_A=y\n# CONFIG_IPV6 is not set\n# a comment\n# CONFIG_VT is not set\n')).toEqual([
      'CONFIG_IPV6',
      'CONFIG_VT',
    ]);
    expect(unwantedOptions(readFileSync(join(KERNEL_DIR, 'guest.config'), 'utf8'))).toContain('CONFIG_IRQ_TIME_ACCOUNTING');
  });

  it("reads the build's CPU time from the shell's `times` (children's user + sys)", () => {
    expect(parseTimes('0m0.010000s 0m0.000000s\n12m3.500000s 1m0.25s\n')).toBeCloseTo(723.5 + 60.25, 3);
    expect(() => parseTimes('garbage')).toThrow(/CPU time/);
  });
});
