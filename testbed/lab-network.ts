// The emulated lab's wire: one bridge (the switch) in the machine's namespace, one network namespace per host,
// a veth pair from each host's `eth0` (its "NIC") to the bridge, all on 169.254.0.0/24. Subnet 0 is chosen
// because the docker backend's per-run networks use 169.254.1-254.x (it skips 0), so they never overlap
// inside a host. The bridge's own address (.1) is where the orchestrator listens; host i is 169.254.0.(10+i).
// Every step checks before it changes, so running it twice changes nothing.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { run, succeeds } from './exec.ts';

export const LAB_BRIDGE = 'ironlab-br0';
export const LAB_HUB_ADDRESS = '169.254.0.1';
export const LAB_HUB_PORT = 7787;
export const hostAddress = (index: number) => `169.254.0.${10 + index}`;
/** Emulated lab host i's container address block (agents/container-block.ts): a /28 above every host address
 *  (.1 the orchestrator, .11-.22 the hosts), .64-.79 for lab-1 ... .240-.255 for lab-12. */
export const MAX_LAB_HOSTS = 12;
export const containerBlock = (index: number) => {
  if (!(index >= 1 && index <= MAX_LAB_HOSTS))
    throw new Error(`the emulated lab has container blocks for hosts 1-${MAX_LAB_HOSTS}, not ${index}`);
  return `169.254.0.${48 + 16 * index}/28`;
};
export const netnsName = (hostId: string) => `ironlab-${hostId}`;
export const vethName = (index: number) => `ironlab-v${index}`;
/** The names this module creates, for the sweep in `down` (never the docker backend's `ironlab-<7 hex>`). */
const OUR_NETNS = /^ironlab-lab-\d+$/;
const OUR_LINK = /^ironlab-(br0|v\d+)$/;
/** The iptables rule, exactly: `down` deletes this spec and nothing else. */
const FORWARD_RULE = ['FORWARD', '-i', LAB_BRIDGE, '-o', LAB_BRIDGE, '-m', 'comment', '--comment', 'ironlab', '-j', 'ACCEPT'];

const linkExists = (dev: string, netns?: string) => succeeds(['ip', ...(netns ? ['-n', netns] : []), 'link', 'show', 'dev', dev]);
const netnsExists = (name: string) => existsSync(`/var/run/netns/${name}`);

async function ensureAddress(dev: string, cidr: string, netns?: string): Promise<void> {
  const ns = netns ? ['-n', netns] : [];
  const shown = await run(['ip', ...ns, '-o', '-4', 'addr', 'show', 'dev', dev]);
  if (!shown.includes(` ${cidr} `)) await run(['ip', ...ns, 'addr', 'add', cidr, 'dev', dev]);
}

/** The bridge's alias names the testbed directory whose lab it is, so a `down` from another directory (with no
 *  state file of its own) can tell a lost lab of its own from a live lab of someone else's. */
const OWNER_ALIAS = 'ironlab-testbed:';

export async function ensureBridge(ownerDir: string): Promise<void> {
  if (!(await linkExists(LAB_BRIDGE))) {
    await run(['ip', 'link', 'add', LAB_BRIDGE, 'type', 'bridge']);
    await run(['ip', 'link', 'set', 'dev', LAB_BRIDGE, 'alias', `${OWNER_ALIAS}${ownerDir}`]);
  }
  await ensureAddress(LAB_BRIDGE, `${LAB_HUB_ADDRESS}/24`);
  await run(['ip', 'link', 'set', LAB_BRIDGE, 'up']);
}

/** Host `index` (1-based): its namespace, its NIC `eth0` cabled to the bridge, its address, loopback up. */
export async function ensureHostNetwork(hostId: string, index: number): Promise<void> {
  const ns = netnsName(hostId);
  const veth = vethName(index);
  if (!netnsExists(ns)) await run(['ip', 'netns', 'add', ns]);
  if (!(await linkExists(veth))) await run(['ip', 'link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
  await run(['ip', 'link', 'set', veth, 'master', LAB_BRIDGE, 'up']);
  await ensureAddress('eth0', `${hostAddress(index)}/24`, ns);
  await run(['ip', '-n', ns, 'link', 'set', 'eth0', 'up']);
  await run(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
}

/** rps_cpus mask for a core list: hex, as the kernel prints it. */
export function rpsMask(cpus: number[]): string {
  return cpus.reduce((m, c) => m | (1n << BigInt(c)), 0n).toString(16);
}

/**
 * RPS on the host's NIC: its receive processing runs on `cpus`, as a real NIC's IRQ pinned there would. Written
 * through `ip netns exec` (which mounts a sysfs of that namespace for the one command; fine for a write).
 */
export async function setNicRps(hostId: string, cpus: number[]): Promise<void> {
  await run(['ip', 'netns', 'exec', netnsName(hostId), 'tee', '/sys/class/net/eth0/queues/rx-0/rps_cpus'], { input: rpsMask(cpus) });
}

export async function nicRps(hostId: string): Promise<string | null> {
  try {
    return (await run(['ip', 'netns', 'exec', netnsName(hostId), 'cat', '/sys/class/net/eth0/queues/rx-0/rps_cpus'])).trim();
  } catch {
    return null;
  }
}

/**
 * With br_netfilter loaded (the machine's dockerd loads it and sets FORWARD to DROP), frames crossing our bridge
 * pass iptables' FORWARD chain and are dropped. Then, and only then, one ACCEPT rule for the lab bridge,
 * labelled `ironlab`. Returns whether the rule is in place.
 */
export async function ensureForwardRule(): Promise<boolean> {
  if (!bridgedThroughIptables() || !(await succeeds(['iptables', '--version']))) return false;
  if (!(await succeeds(['iptables', '-C', ...FORWARD_RULE])))
    await run(['iptables', '-I', ...FORWARD_RULE.slice(0, 1), '1', ...FORWARD_RULE.slice(1)]);
  return true;
}

const bridgedThroughIptables = () =>
  existsSync('/proc/sys/net/bridge/bridge-nf-call-iptables') &&
  readFileSync('/proc/sys/net/bridge/bridge-nf-call-iptables', 'utf8').trim() === '1';

/** br_netfilter was loaded after `up` (a dockerd started since): the lab's traffic is being dropped. */
export async function forwardRuleMissing(): Promise<boolean> {
  return bridgedThroughIptables() && (await succeeds(['iptables', '--version'])) && !(await succeeds(['iptables', '-C', ...FORWARD_RULE]));
}

export async function removeForwardRule(): Promise<boolean> {
  let removed = false;
  if (!(await succeeds(['iptables', '--version']))) return false;
  while (await succeeds(['iptables', '-C', ...FORWARD_RULE])) {
    await run(['iptables', '-D', ...FORWARD_RULE]);
    removed = true;
  }
  return removed;
}

/** The testbed directory the lab bridge was made for (its alias), or null: no bridge, or one made unlabelled. */
export function labBridgeOwner(): string | null {
  try {
    const alias = readFileSync(`/sys/class/net/${LAB_BRIDGE}/ifalias`, 'utf8').trim();
    return alias.startsWith(OWNER_ALIAS) ? alias.slice(OWNER_ALIAS.length) : null;
  } catch {
    return null;
  }
}

/** Namespaces and links of a lab, from the state file or found by our exact names (a lost state file). */
export function labNamespaces(): string[] {
  return existsSync('/var/run/netns') ? readdirSync('/var/run/netns').filter((n) => OUR_NETNS.test(n)) : [];
}
export async function labLinks(): Promise<string[]> {
  const out = await run(['ip', '-o', 'link', 'show']);
  return out
    .split('\n')
    .map((l) => l.split(': ')[1]?.split('@')[0])
    .filter((n): n is string => !!n && OUR_LINK.test(n));
}

/** Remove namespaces (their end of each veth goes with them), then our links. Missing ones are fine. */
export async function removeLabNetwork(netnsNames: string[]): Promise<string[]> {
  const removed: string[] = [];
  for (const ns of new Set([...netnsNames, ...labNamespaces()])) {
    if (!netnsExists(ns)) continue;
    await run(['ip', 'netns', 'del', ns]);
    removed.push(`netns ${ns}`);
  }
  for (const link of await labLinks()) {
    if (await succeeds(['ip', 'link', 'del', link])) removed.push(`link ${link}`);
  }
  return removed;
}
