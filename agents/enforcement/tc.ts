// Attach/detach the ironlab tc drop filter. tc (iproute2, linked with libbpf) loads ironlab_drop.bpf.o and pins
// its maps by name at /sys/fs/bpf/tc/globals/ironlab_*; every filter loaded from the object shares them.
// We only ever touch filters at our own preference number whose BPF name says ironlab, and a clsact qdisc only
// if we created it — docker's or anyone else's tc state on the same device is left alone.
import { execFileSync } from 'node:child_process';

export const TC_PREF = '49'; // fixed preference: lets us delete exactly our filters
export const TC_GLOBALS = '/sys/fs/bpf/tc/globals';
export const DROP_MAP = `${TC_GLOBALS}/ironlab_drop`;
export const DROPCNT_MAP = `${TC_GLOBALS}/ironlab_dropcnt`;

export interface TcTarget {
  dev: string;
  /** Network namespace file of the device (e.g. /var/run/netns/x); absent = the agent's own. */
  netns?: string;
}
export interface TcAttached extends TcTarget {
  createdClsact: boolean;
}

function tc(t: TcTarget, args: string[]): string {
  // nsenter --net keeps our mount namespace, so tc pins into the host's bpffs (ip netns exec would not).
  const argv = t.netns ? ['nsenter', `--net=${t.netns}`, '--', 'tc', ...args] : ['tc', ...args];
  return execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function hasClsact(t: TcTarget): boolean {
  const q = JSON.parse(tc(t, ['-j', 'qdisc', 'show', 'dev', t.dev]) || '[]') as { kind: string }[];
  return q.some((x) => x.kind === 'clsact');
}

/** Filters of ours on a device, by direction. */
export function ourFilters(t: TcTarget): ('ingress' | 'egress')[] {
  const out: ('ingress' | 'egress')[] = [];
  for (const dir of ['ingress', 'egress'] as const) {
    let js: { pref?: number; options?: { bpf_name?: string } }[] = [];
    try {
      js = JSON.parse(tc(t, ['-j', 'filter', 'show', 'dev', t.dev, dir]) || '[]');
    } catch {
      continue; // no clsact, or device gone
    }
    if (js.some((f) => String(f.pref) === TC_PREF && (f.options?.bpf_name ?? '').includes('ironlab'))) out.push(dir);
  }
  return out;
}

/**
 * Drop filter on a device, both directions unless told: ingress catches packets a container sends to a throttled owner
 * (on the sender's host veth, before the bridge), egress catches packets to the owner itself (its host veth).
 */
export function attachDrop(t: TcTarget, obj: string, dirs: readonly ('ingress' | 'egress')[] = ['ingress', 'egress']): TcAttached {
  const createdClsact = !hasClsact(t);
  if (createdClsact) tc(t, ['qdisc', 'add', 'dev', t.dev, 'clsact']);
  for (const dir of dirs) {
    tc(t, ['filter', 'replace', 'dev', t.dev, dir, 'pref', TC_PREF, 'handle', '1', 'bpf', 'da', 'obj', obj, 'sec', 'tc']);
  }
  return { ...t, createdClsact };
}

/** Remove our filters (and our clsact when nothing else uses it). Idempotent; a vanished device is fine. */
export function detachDrop(a: TcAttached | (TcTarget & { createdClsact?: boolean })): string[] {
  const removed: string[] = [];
  for (const dir of ourFilters(a)) {
    try {
      tc(a, ['filter', 'del', 'dev', a.dev, dir, 'pref', TC_PREF]);
      removed.push(`tc filter ${a.dev} ${dir}`);
    } catch {
      /* already gone */
    }
  }
  if (a.createdClsact) {
    try {
      const left = ['ingress', 'egress'].some((d) => JSON.parse(tc(a, ['-j', 'filter', 'show', 'dev', a.dev, d]) || '[]').length > 0);
      if (!left) {
        tc(a, ['qdisc', 'del', 'dev', a.dev, 'clsact']);
        removed.push(`tc clsact ${a.dev}`);
      }
    } catch {
      /* device gone */
    }
  }
  return removed;
}
