// The running kernel's build configuration, where the host exposes it: /proc/config.gz (CONFIG_IKCONFIG_PROC)
// or /boot/config-<release>. Neither present: the answers are "unknown", never a guess.
import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

export interface KernelConfig {
  /** Where it was read, or null when the host exposes no configuration. */
  source: string | null;
  irqTimeAccounting: boolean | 'unknown';
  hz: number | null;
}

export function parseKernelConfig(text: string, source: string): KernelConfig {
  const irq = /^CONFIG_IRQ_TIME_ACCOUNTING=y$/m.test(text);
  const hz = text.match(/^CONFIG_HZ=(\d+)$/m);
  return { source, irqTimeAccounting: irq, hz: hz ? Number(hz[1]) : null };
}

export function readKernelConfig(release = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim()): KernelConfig {
  if (existsSync('/proc/config.gz'))
    return parseKernelConfig(gunzipSync(readFileSync('/proc/config.gz')).toString('utf8'), '/proc/config.gz');
  const boot = `/boot/config-${release}`;
  if (existsSync(boot)) return parseKernelConfig(readFileSync(boot, 'utf8'), boot);
  return { source: null, irqTimeAccounting: 'unknown', hz: null };
}
