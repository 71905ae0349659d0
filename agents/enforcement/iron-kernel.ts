// The IRON kernel switch (README.md in this folder documents the contract): an IRON-patched kernel exposes
// /proc/sys/kernel/iron_enabled (0|1, read-write) and /proc/sys/kernel/iron_version (read-only version string).
// The agent detects the switch, turns it on for a run, verifies by reading back, and restores the value it found.
// Every path hangs off an injectable proc root, so tests run against a fake /proc tree.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PrerequisiteError } from '../../workloads/common/errors.ts';

export const IRON_SWITCH = 'sys/kernel/iron_enabled';
export const IRON_VERSION = 'sys/kernel/iron_version';
/** The kernel's own counters (testbed/kernel/README.md): one `name value` a line, since boot, summed over CPUs. */
export const IRON_STATS = 'iron_stats';
/** Who owns a received packet: write `ADDR PID` (the cpu cgroup of PID owns IPv4 ADDR), `-ADDR` to remove. */
export const IRON_OWNERS = 'iron_owners';

export interface IronKernelInfo {
  present: boolean;
  enabled?: boolean;
  version?: string;
  /** Why iron-kernel cannot run here, when it cannot. */
  reason?: string;
}

export function detectIronKernel(procRoot = '/proc'): IronKernelInfo {
  const sw = join(procRoot, IRON_SWITCH);
  if (!existsSync(sw)) {
    return {
      present: false,
      reason: `kernel without the IRON switch: /proc/${IRON_SWITCH} does not exist (boot a kernel carrying the IRON patch; see agents/enforcement/README.md)`,
    };
  }
  const enabled = readFileSync(sw, 'utf8').trim() === '1';
  const vf = join(procRoot, IRON_VERSION);
  const version = existsSync(vf) ? readFileSync(vf, 'utf8').trim() : 'unknown';
  return { present: true, enabled, version };
}

/** Turns the switch on for a run and puts back what it found. */
export class IronKernelSwitch {
  private previous: '0' | '1' | null = null;
  constructor(readonly procRoot = '/proc') {}

  private get file(): string {
    return join(this.procRoot, IRON_SWITCH);
  }

  /** Set the switch and read it back; throws PrerequisiteError when the kernel has no switch. */
  set(on: boolean): void {
    const info = detectIronKernel(this.procRoot);
    if (!info.present) throw new PrerequisiteError(info.reason!);
    if (this.previous === null) this.previous = info.enabled ? '1' : '0';
    const want = on ? '1' : '0';
    writeFileSync(this.file, want);
    const got = readFileSync(this.file, 'utf8').trim();
    if (got !== want) throw new Error(`IRON switch /proc/${IRON_SWITCH}: wrote ${want} but read back ${got}`);
  }

  /** The value found before the first set(), or null when never set. */
  get found(): '0' | '1' | null {
    return this.previous;
  }

  /** Restore the value found before the first set(). Idempotent. */
  restore(): void {
    if (this.previous === null) return;
    if (existsSync(this.file)) writeFileSync(this.file, this.previous);
    this.previous = null;
  }
}

/**
 * Register each container's address as the owner of its received packets, naming the container's cpu cgroup by
 * one of its processes (the first in `<cgroup>/cgroup.procs`, cgroup v2 as the IRON kernel reads it). A
 * container with no process yet cannot be named: that is an error, not a silent skip.
 */
export function registerIronOwners(procRoot: string, owners: { ipv4: string; cgroupPath: string }[]): void {
  for (const o of owners) {
    const pid = readFileSync(join(o.cgroupPath, 'cgroup.procs'), 'utf8').split('\n')[0]?.trim();
    if (!pid) throw new Error(`IRON owner ${o.ipv4}: no process in ${o.cgroupPath}/cgroup.procs to name its cgroup by`);
    writeFileSync(join(procRoot, IRON_OWNERS), `${o.ipv4} ${pid}`);
  }
}

/** Remove owners by address (idempotent: an address the kernel no longer has is ignored). */
export function removeIronOwners(procRoot: string, addrs: string[]): void {
  for (const a of addrs) {
    try {
      writeFileSync(join(procRoot, IRON_OWNERS), `-${a}`);
    } catch {
      /* not registered (any more) */
    }
  }
}

/** Restore a switch value recorded in a state file (the reaper's path, after an agent crash). */
export function restoreIronSwitch(procRoot: string, value: '0' | '1'): void {
  const f = join(procRoot, IRON_SWITCH);
  if (existsSync(f)) writeFileSync(f, value);
}

/** /proc/iron_stats as numbers by name (enabled softirqs rx_marks tx_marks charged_ns credited_ns self_ns unowned_ns drops). */
export function parseIronStats(text: string): Record<string, number> {
  return Object.fromEntries(
    text
      .trim()
      .split('\n')
      .map((l) => l.split(' '))
      .filter((p) => p.length === 2)
      .map(([k, v]) => [k, Number(v)]),
  );
}
