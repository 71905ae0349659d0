// Which enforcement modes this host can run, and for each it cannot, why — in words that say what to do.
// `none` always runs (accounting is added when eBPF is available). tracefs and bpffs are mounted here when
// missing and we are root, since a fresh VM or mount namespace often lacks them.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, join } from 'node:path';
import type { EnforcementSupport } from '../backend.ts';
import { PrerequisiteError } from '../../workloads/common/errors.ts';
import { detectIronKernel } from './iron-kernel.ts';
import { LIBBPF_PATH } from './libbpf.ts';
import { PREBUILT_ENV, kernelAtLeast, prebuiltBpf } from './build.ts';
import { ENFORCEMENTS, enforcementMode } from './modes.ts';
import { hostCgroupVersion } from '../docker/cgroup-files.ts';

const PREREQS = 'run testbed/prereqs-ebpf.sh as root';

export interface CapabilityOptions {
  procRoot?: string;
  /** Mount tracefs/bpffs when missing (root only). */
  mount?: boolean;
}

function onPath(bin: string): boolean {
  return (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter).some((d) => existsSync(join(d, bin)));
}

function mounted(fstype: string, at: string): boolean {
  return readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .some((l) => {
      const [, mnt, type] = l.split(' ');
      return mnt === at && type === fstype;
    });
}

function tryMount(fstype: string, src: string, at: string): boolean {
  try {
    execFileSync('mount', ['-t', fstype, src, at], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Everything eBPF enforcement needs that is missing, as short reasons. */
export function ebpfMissing(opts: CapabilityOptions = {}): string[] {
  // One reason that no tool install fixes comes alone.
  const tooOld = kernelTooOldForEbpf(opts.procRoot);
  if (tooOld) return [tooOld];
  const miss: string[] = [];
  const root = process.getuid?.() === 0;
  if (!root) miss.push('not root (loading BPF programs and writing cgroup quotas need root)');
  if (!existsSync('/sys/kernel/btf/vmlinux')) miss.push('no BTF at /sys/kernel/btf/vmlinux (kernel built without CONFIG_DEBUG_INFO_BTF)');
  if (
    !mounted('tracefs', '/sys/kernel/tracing') &&
    !(root && opts.mount !== false && tryMount('tracefs', 'nodev', '/sys/kernel/tracing'))
  ) {
    miss.push('no tracefs at /sys/kernel/tracing (mount -t tracefs nodev /sys/kernel/tracing)');
  }
  if (!mounted('bpf', '/sys/fs/bpf') && !(root && opts.mount !== false && tryMount('bpf', 'bpf', '/sys/fs/bpf'))) {
    miss.push('no bpffs at /sys/fs/bpf (mount -t bpf bpf /sys/fs/bpf)');
  }
  // Objects built elsewhere for this kernel (the QEMU lab's guests: IRONLAB_BPF_OBJECTS) need no compiler or headers here.
  const given = !!process.env[PREBUILT_ENV];
  if (given) {
    try {
      prebuiltBpf();
    } catch (e) {
      miss.push((e as Error).message);
    }
  }
  const tools = [...(given ? [] : ['clang', 'bpftool']), 'tc', 'ip', 'nsenter'].filter((t) => !onPath(t));
  if (tools.length) miss.push(`missing ${tools.join(', ')} (${PREREQS})`);
  if (!existsSync(LIBBPF_PATH)) miss.push(`no libbpf at ${LIBBPF_PATH} (apt-get install libbpf1)`);
  if (!given && !existsSync('/usr/include/bpf/bpf_helpers.h')) miss.push('no libbpf headers (apt-get install libbpf-dev)');
  if (!given && !existsSync('/usr/include/x86_64-linux-gnu/asm/types.h'))
    miss.push('no kernel UAPI headers (apt-get install linux-libc-dev)');
  try {
    createRequire(import.meta.url).resolve('koffi');
  } catch {
    miss.push('the koffi npm package is not installed (npm ci)');
  }
  if (hostCgroupVersion() === null)
    miss.push('no cgroup cpu controller with CFS bandwidth (v1 /sys/fs/cgroup/cpu or v2 cpu in cgroup.controllers)');
  return miss;
}

/**
 * The accounting programs are tp_btf programs that call bpf_get_current_task_btf (Linux 5.11+). Where the kfunc
 * bpf_rdonly_cast is missing (before 6.2, or without a BPF JIT, like the QEMU lab's 6.1 guests) build.ts picks the
 * bpf_probe_read_kernel variant, so that is no reason to refuse; an older kernel cannot load either variant.
 */
export function kernelTooOldForEbpf(procRoot = '/proc'): string | null {
  let release: string;
  try {
    release = readFileSync(join(procRoot, 'sys/kernel/osrelease'), 'utf8').trim();
  } catch {
    return null;
  }
  if (kernelAtLeast(release, 5, 11) !== false) return null;
  return `Linux ${release} is older than 5.11: the accounting programs' helper bpf_get_current_task_btf does not exist before 5.11`;
}

/** Each mode of the registry (modes.ts), available when this host has the parts it needs. */
export function enforcementCapabilities(opts: CapabilityOptions = {}): EnforcementSupport[] {
  const miss = ebpfMissing(opts);
  const iron = detectIronKernel(opts.procRoot);
  const root = process.getuid?.() === 0;
  const ironReason = !iron.present ? iron.reason : !root ? 'not root (writing /proc/sys/kernel/iron_enabled needs root)' : undefined;
  return ENFORCEMENTS.map((mode) => {
    const parts = enforcementMode(mode);
    const reason =
      parts.kernelSwitch && ironReason ? ironReason : parts.accounting === 'required' && miss.length ? miss.join('; ') : undefined;
    return reason ? { mode, available: false, reason } : { mode, available: true };
  });
}

/** Throw one clear PrerequisiteError when `mode` cannot run here. */
export function requireMode(mode: EnforcementSupport['mode'], opts: CapabilityOptions = {}): void {
  const s = enforcementCapabilities(opts).find((c) => c.mode === mode);
  if (s && !s.available) throw new PrerequisiteError(`enforcement '${mode}' cannot run on this host: ${s.reason}`);
}
