// pinQueueIrqs on a virtio-net NIC, against a fake /proc and /sys/class/net: the interface's device link names
// the virtio device its vectors are named after; every smp_affinity_list it writes is in the restore ledger
// first, and the ledger puts the original values back.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RestoreLedger } from '../../agents/docker/restore-ledger.ts';
import { nicDevice, pinQueueIrqs } from '../../agents/docker/steering.ts';

const scope = { runId: 'r1', campaignId: 'c1' };
let root = '';
afterEach(() => rmSync(root, { recursive: true, force: true }));

function fakeHost(): { proc: string; sysNet: string; affinity: (irq: number) => string } {
  root = mkdtempSync(join(tmpdir(), 'ironlab-steering-'));
  const proc = join(root, 'proc');
  const sysNet = join(root, 'sys/class/net');
  copyFileSync(join(import.meta.dirname, '..', 'fixtures', 'proc', 'interrupts-virtio-net-mq.txt'), join(mkdirp(proc), 'interrupts'));
  for (let irq = 24; irq <= 34; irq++) writeFileSync(join(mkdirp(join(proc, 'irq', String(irq))), 'smp_affinity_list'), '0-1\n');
  const dev = mkdirp(join(root, 'sys/devices/pci0000:00/0000:00:01.0/virtio0'));
  symlinkSync(dev, join(mkdirp(join(sysNet, 'eth0')), 'device'));
  mkdirp(join(sysNet, 'veth1'));
  return { proc, sysNet, affinity: (irq) => readFileSync(join(proc, 'irq', String(irq), 'smp_affinity_list'), 'utf8').trim() };
}

function mkdirp(dir: string): string {
  mkdirSync(dir, { recursive: true });
  return dir;
}

describe('queue IRQ pinning on virtio-net', () => {
  it("pins the input and output vectors of the interface's virtio device and restores them from the ledger", () => {
    const { proc, sysNet, affinity } = fakeHost();
    expect(nicDevice('eth0', sysNet)).toBe('virtio0');
    expect(nicDevice('veth1', sysNet)).toBeNull();
    const ledger = new RestoreLedger('h1', join(root, 'run'));
    expect(pinQueueIrqs(ledger, scope, 'eth0', [1], proc, sysNet)).toEqual([25, 26, 27, 28]);
    expect([25, 26, 27, 28].map(affinity)).toEqual(['1', '1', '1', '1']);
    // The config vector and another virtio device (virtio10) are left alone.
    expect([24, 33].map(affinity)).toEqual(['0-1', '0-1']);
    expect(ledger.entries().map((e) => e.original.trim())).toEqual(['0-1', '0-1', '0-1', '0-1']);
    expect(ledger.restore(() => true)).toHaveLength(4);
    expect([25, 26, 27, 28].map(affinity)).toEqual(['0-1', '0-1', '0-1', '0-1']);
  });

  it('pins nothing on an interface without a device', () => {
    const { proc, sysNet } = fakeHost();
    const ledger = new RestoreLedger('h1', join(root, 'run'));
    expect(pinQueueIrqs(ledger, scope, 'veth1', [1], proc, sysNet)).toEqual([]);
    expect(ledger.entries()).toEqual([]);
  });
});
