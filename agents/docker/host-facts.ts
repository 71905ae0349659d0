// Host facts recorded with every campaign: kernel, CPU, cores, the NIC that carries the test traffic and how
// its interrupts are steered, cgroup version. systeminformation for the OS and CPU, sysfs/procfs for the rest.
import { existsSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { basename, join } from 'node:path';
import si from 'systeminformation';
import type { HostFacts } from '../backend.ts';
import { nicIpv4 } from './traffic-network.ts';
import { nicQueueIrqs } from './steering.ts';
import { hostCgroupVersion } from './cgroup-files.ts';

const read = (p: string) => {
  try {
    return readFileSync(p, 'utf8').trim();
  } catch {
    return null;
  }
};

/** The interface of the default route (/proc/net/route: destination 00000000). */
export function defaultRouteDev(text: string): string | null {
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1] === '00000000') return f[0];
  }
  return null;
}

export function nicDriver(dev: string, sysNet = '/sys/class/net'): string {
  try {
    return basename(readlinkSync(join(sysNet, dev, 'device', 'driver')));
  } catch {
    // Virtual devices have no `device`. A bridge has a `bridge` directory; a veth (whatever its name: an
    // emulated host's eth0 is one) links to its peer, so its iflink is not its own ifindex.
    if (existsSync(join(sysNet, dev, 'bridge'))) return 'bridge';
    // A macvlan or vlan links to its lower device too, but names it with a lower_* entry.
    const linked = read(join(sysNet, dev, 'iflink')) !== read(join(sysNet, dev, 'ifindex'));
    const lower = existsSync(join(sysNet, dev)) && readdirSync(join(sysNet, dev)).some((e) => e.startsWith('lower_'));
    return dev.startsWith('veth') || (linked && !lower) ? 'veth' : 'virtual';
  }
}

function irqAffinity(dev: string): string | null {
  const irqs = existsSync('/proc/interrupts') ? nicQueueIrqs(dev) : [];
  if (!irqs.length) return null;
  return irqs
    .map(({ irq, queue, kind }) => `${kind === 'txrx' ? 'q' : kind}${queue}:irq${irq}->${read(`/proc/irq/${irq}/smp_affinity_list`)}`)
    .join(' ');
}

function rpsOf(dev: string): string | null {
  const dir = `/sys/class/net/${dev}/queues`;
  if (!existsSync(dir)) return null;
  return readdirSync(dir)
    .filter((q) => q.startsWith('rx-'))
    .map((q) => `${q}:${read(join(dir, q, 'rps_cpus'))}`)
    .join(' ');
}

/**
 * `trafficNic`: a real NIC the test traffic crosses (a lab with a peer host), or null when it stays on this
 * host's veth pairs (the local Docker network) — then the NIC is reported as veth, steered by RPS.
 */
export async function hostFacts(hostId: string, trafficNic: string | null): Promise<HostFacts> {
  const [os, cpu] = await Promise.all([si.osInfo(), si.cpu()]);
  const uplink = defaultRouteDev(read('/proc/net/route') ?? '') ?? 'none';
  const nic = trafficNic
    ? { name: trafficNic, driver: nicDriver(trafficNic), speedMbps: speedOf(trafficNic) }
    : { name: 'veth', driver: 'veth', speedMbps: null };
  return {
    hostId,
    backend: 'docker',
    kernel: os.kernel,
    cpuModel: `${cpu.manufacturer} ${cpu.brand}`.trim(),
    cores: cpu.cores,
    nic,
    cgroupVersion: hostCgroupVersion(),
    extra: {
      steering: trafficNic && irqAffinity(trafficNic) ? 'irq-affinity' : 'rps',
      uplinkNic: uplink,
      uplinkDriver: uplink === 'none' ? null : nicDriver(uplink),
      uplinkSpeedMbps: uplink === 'none' ? null : speedOf(uplink),
      uplinkRps: uplink === 'none' ? null : rpsOf(uplink),
      nicIrqAffinity: trafficNic ? irqAffinity(trafficNic) : null,
      nicRps: trafficNic ? rpsOf(trafficNic) : null,
      // where the campaign tells the other side of a cross-host run to find this host's containers
      nicAddress: trafficNic ? (nicIpv4(trafficNic)?.address ?? null) : null,
      irqTimeAccounting: irqTimeAccounting(),
      distro: `${os.distro} ${os.release}`,
    },
  };
}

function speedOf(dev: string): number | null {
  const s = Number(read(`/sys/class/net/${dev}/speed`));
  return Number.isFinite(s) && s > 0 ? s : null;
}

/** Whether softirq time is measured precisely (CONFIG_IRQ_TIME_ACCOUNTING) or tick-sampled; null if unknown. */
function irqTimeAccounting(): boolean | null {
  const release = read('/proc/sys/kernel/osrelease');
  const config = release ? read(`/boot/config-${release}`) : null;
  if (config) return /^CONFIG_IRQ_TIME_ACCOUNTING=y/m.test(config);
  return null;
}
