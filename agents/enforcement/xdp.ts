// Attach/detach the ironlab XDP drop program (ironlab_drop.bpf.o, section xdp.frags) on a receiving device:
// a NIC, or the receiving end of a veth pair. It runs in the device's NAPI poll before an skb exists and
// before RPS moves the packet on (on a veth: on the transmitting core). `ip` loads it with libbpf and pins its
// maps by name next to tc's (/sys/fs/bpf/xdp is tc's directory), so the tc fallback and XDP share one flag map.
// Native (driver) mode only: generic XDP runs after the skb and RPS, and would save nothing over tc. We never
// replace a program that is not ours, and only remove a program whose name says ironlab.
import { execFileSync } from 'node:child_process';

export const XDP_SECTION = 'xdp.frags';
const PROG_PREFIX = 'ironlab'; // kernel program names are cut at 15 characters: ironlab_xdp_dro

export interface XdpTarget {
  dev: string;
  /** Network namespace file of the device; absent = the agent's own. */
  netns?: string;
}

function ip(t: XdpTarget, args: string[]): string {
  // nsenter --net keeps our mount namespace, so the pins land in the host's bpffs (ip netns exec would not).
  const argv = t.netns ? ['nsenter', `--net=${t.netns}`, '--', 'ip', ...args] : ['ip', ...args];
  return execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** The XDP program on a device: its name and mode, or null (none, or the device is gone). */
export function xdpProgram(t: XdpTarget): { name: string; id: number; native: boolean } | null {
  try {
    const [l] = JSON.parse(ip(t, ['-j', '-d', 'link', 'show', 'dev', t.dev])) as {
      xdp?: { mode?: number; prog?: { name?: string; id?: number } };
    }[];
    if (!l?.xdp?.prog) return null;
    return { name: l.xdp.prog.name ?? '', id: l.xdp.prog.id ?? 0, native: l.xdp.mode === 1 };
  } catch {
    return null;
  }
}

export function hasOurXdp(t: XdpTarget): boolean {
  return (xdpProgram(t)?.name ?? '').startsWith(PROG_PREFIX);
}

/** Attach natively; throws (with ip's message) when the device cannot run native XDP or holds another program. */
export function attachXdp(t: XdpTarget, obj: string): void {
  const cur = xdpProgram(t);
  if (cur && !cur.name.startsWith(PROG_PREFIX)) throw new Error(`${t.dev} already runs XDP program ${cur.name} (id ${cur.id})`);
  try {
    ip(t, ['link', 'set', 'dev', t.dev, 'xdpdrv', 'obj', obj, 'sec', XDP_SECTION]);
  } catch (e) {
    const err = (e as { stderr?: string }).stderr ?? (e as Error).message;
    throw new Error(`native XDP on ${t.dev}: ${String(err).trim().split('\n').slice(-2).join(' ')}`, { cause: e });
  }
}

/** Remove our program from a device. Idempotent; a vanished device is fine. */
export function detachXdp(t: XdpTarget): string[] {
  if (!hasOurXdp(t)) return [];
  try {
    ip(t, ['link', 'set', 'dev', t.dev, 'xdpdrv', 'off']);
    return [`xdp ${t.dev}`];
  } catch {
    return []; // gone meanwhile
  }
}
