// Cross-host runs: the traffic peers on a peer host, the victim and neighbours on the server host, and the
// floods between them across the hosts' traffic NICs. Each host gives its side of the run a Docker macvlan
// network on its traffic NIC, in the NIC's own subnet: the containers sit on the lab's wire like small hosts,
// each with its own network namespace (so per-container counters and packet owners work as on one host), and
// reach the other host's containers directly, with no routing, NAT or port mapping between them. (Host
// networking with distinct ports would need none of this, but would put every container in the host's
// namespace: no per-container counters, one address for all.) A macvlan child cannot talk to its parent's own
// address; nothing here needs it to.
//
// Addresses must not collide across the hosts sharing the wire, while each host's engine allocates only from
// its own pool. So each host has a container address block of its own (agents/container-block.ts: declared in a
// real lab's inventory, derived per host by the emulated lab), and a run carries both hosts' blocks
// (RunSpec.peer.block / serverBlock): the victim and neighbours take the server's, the peers the peer host's.
// A host takes part in one run at a time (the campaign leases it), so the run's network may hold its whole block.
// A parent NIC carries one macvlan network per engine: teardown removes it, and setup removes what a run
// that is no longer running left behind.
import { networkInterfaces } from 'node:os';
import type Docker from 'dockerode';
import { FatalError } from '../../workloads/common/errors.ts';
import { blockAddress, blockHolds, blockOf, intToIp, ipToInt } from '../container-block.ts';
import { LABELS, NAME_PREFIX, labelsFor, removeLabelled, shortId, type Owner, type RunNetwork } from './containers.ts';

/** The container addresses of a run, by role. */
export interface RunAddresses {
  victim: string;
  neighbour: (i: number) => string;
  peer: (i: number) => string;
}

/** One host, one run: every container on the run's own bridge network (169.254.X.0/24). */
export function bridgeAddresses(prefix: string): RunAddresses {
  return { victim: `${prefix}2`, neighbour: (i) => `${prefix}${10 + i}`, peer: (i) => `${prefix}${100 + i}` };
}

/** Both sides of a cross-host run: victim and neighbours in the server's block, peers in the peer's. */
export function crossHostAddresses(serverBlock: string, peerBlock: string): RunAddresses {
  const s = blockOf(serverBlock);
  const p = blockOf(peerBlock);
  return { victim: blockAddress(s, 0), neighbour: (i) => blockAddress(s, 1 + i), peer: (i) => blockAddress(p, i) };
}

/** IPv4 address and subnet of a NIC in this network namespace, or null when it has none. */
export function nicIpv4(dev: string): { address: string; subnet: string } | null {
  const a = networkInterfaces()[dev]?.find((x) => x.family === 'IPv4');
  if (!a?.cidr) return null;
  const bits = Number(a.cidr.split('/')[1]);
  const size = 2 ** (32 - bits);
  return { address: a.address, subnet: `${intToIp(Math.floor(ipToInt(a.address) / size) * size)}/${bits}` };
}

/** The run's macvlan network on `nic`, allocating only from this host's container block. */
export async function createTrafficNetwork(docker: Docker, o: Owner, nic: string, ipRange: string): Promise<RunNetwork> {
  const ip = nicIpv4(nic);
  if (!ip) throw new FatalError(`traffic NIC ${nic} has no IPv4 address on ${o.hostId}`, 'NO_TRAFFIC_NIC');
  const block = blockOf(ipRange);
  const subnet = blockOf(ip.subnet);
  if (block.start < subnet.start || block.start + block.size > subnet.start + subnet.size || blockHolds(block, ip.address))
    throw new FatalError(
      `container block ${ipRange} of ${o.hostId} must lie inside its traffic NIC's subnet ${ip.subnet} (${nic}) and not hold its address ${ip.address}`,
      'UNSUPPORTED',
    );
  const name = `${NAME_PREFIX}${shortId(o)}`;
  const net = await docker.createNetwork({
    Name: name,
    Driver: 'macvlan',
    CheckDuplicate: true,
    Labels: labelsFor(o),
    // The gateway is only configuration here (every peer is on-link); the host's own address keeps Docker
    // from reserving one inside the range.
    IPAM: { Driver: 'default', Config: [{ Subnet: ip.subnet, IPRange: ipRange, Gateway: ip.address }] },
    Options: { parent: nic, macvlan_mode: 'bridge' },
  });
  return { id: net.id, name, bridge: nic, prefix: '', subnet: `${ip.subnet} range ${ipRange} on ${nic}` };
}

/** Remove the macvlan networks (and their containers) of runs that are no longer running on this host. */
export async function removeStaleTrafficNetworks(docker: Docker, hostId: string, live: Set<string>): Promise<string[]> {
  const removed: string[] = [];
  const nets = await docker.listNetworks({ filters: { label: [`${LABELS.host}=${hostId}`], driver: ['macvlan'] } });
  for (const n of nets) {
    const runId = n.Labels?.[LABELS.run];
    const campaignId = n.Labels?.[LABELS.campaign];
    if (!runId || !campaignId || live.has(runId)) continue;
    removed.push(...(await removeLabelled(docker, { hostId, campaignId, runId })));
  }
  return removed;
}
