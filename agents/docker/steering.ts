// NIC steering: make the network processing of the neighbours' traffic run on the victim's core, as a NIC
// whose IRQs are pinned there would. On veth (this project's Docker networks) there is no IRQ: receive
// processing runs on the CPU that sent the packet unless RPS on the receiving device moves it; once it runs
// on the target core, the rest of the path (bridge, the other veth, the socket) stays there. On a real NIC
// (and virtio-net, whose MSI-X vectors are real interrupts in a guest) the queue IRQs are pinned with
// /proc/irq/N/smp_affinity_list. Every original value goes through the restore ledger first.
import { readFileSync, readdirSync, realpathSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { cpuMask, formatCpuList, parseInterrupts, queueIrqs, type QueueIrq } from './proc-parsers.ts';
import type { RestoreLedger } from './restore-ledger.ts';

export interface SteeringScope {
  runId: string;
  campaignId: string;
}

/** The rx queues' rps_cpus files of a network device (veth has one: rx-0). */
export function rpsFiles(dev: string, sysNet = '/sys/class/net'): string[] {
  const dir = join(sysNet, dev, 'queues');
  return readdirSync(dir)
    .filter((q) => q.startsWith('rx-'))
    .map((q) => join(dir, q, 'rps_cpus'));
}

/** RPS: receive processing of `dev` (in this namespace) goes to `cpus`. */
export function steerRps(ledger: RestoreLedger, scope: SteeringScope, dev: string, cpus: number[]): string[] {
  const files = rpsFiles(dev);
  for (const f of files) {
    ledger.remember(f, scope.runId, scope.campaignId);
    writeFileSync(f, cpuMask(cpus));
  }
  return files;
}

/** The device behind interface `dev` (`virtio0`, `0000:03:00.0`), or null for a virtual one (veth, bridge). */
export function nicDevice(dev: string, sysNet = '/sys/class/net'): string | null {
  try {
    return basename(realpathSync(join(sysNet, dev, 'device')));
  } catch {
    return null;
  }
}

/** The queue IRQs of `dev` in /proc/interrupts (virtio-net's are named after its device: see queueIrqs). */
export function nicQueueIrqs(dev: string, proc = '/proc', sysNet = '/sys/class/net'): QueueIrq[] {
  return queueIrqs(parseInterrupts(readFileSync(join(proc, 'interrupts'), 'utf8')), dev, nicDevice(dev, sysNet));
}

/** Real NIC: pin every queue IRQ of `dev` (both directions) to `cpus`. Returns the IRQs pinned. */
export function pinQueueIrqs(
  ledger: RestoreLedger,
  scope: SteeringScope,
  dev: string,
  cpus: number[],
  proc = '/proc',
  sysNet = '/sys/class/net',
): number[] {
  const irqs = nicQueueIrqs(dev, proc, sysNet);
  for (const { irq } of irqs) {
    const f = join(proc, 'irq', String(irq), 'smp_affinity_list');
    ledger.remember(f, scope.runId, scope.campaignId);
    writeFileSync(f, formatCpuList(cpus));
  }
  return irqs.map((q) => q.irq);
}

/** The host-side end of a container's veth: the device whose ifindex is the container's eth0 iflink. */
export function hostVethOf(containerPid: number, sysNet = '/sys/class/net'): string {
  // The container's own sysfs (mounted in its netns) is visible through /proc/<pid>/root.
  const iflink = readFileSync(`/proc/${containerPid}/root/sys/class/net/eth0/iflink`, 'utf8').trim();
  for (const dev of readdirSync(sysNet)) {
    try {
      if (readFileSync(join(sysNet, dev, 'ifindex'), 'utf8').trim() === iflink) return dev;
    } catch {
      // devices come and go while we look
    }
  }
  throw new Error(`no host-side veth with ifindex ${iflink} for container pid ${containerPid}`);
}
