// Containers and networks (campaign-lived: container-pool.ts): a project-created bridge network on a link-local subnet (or, for a run
// across hosts, a macvlan network on the traffic NIC: traffic-network.ts), and labelled
// containers with CFS quota and cpuset. Every resource carries the labels ironlab.campaign / ironlab.run /
// ironlab.host and a name starting with `ironlab-`, which is all the reaper needs to find it again.
import { createHash } from 'node:crypto';
import Docker from 'dockerode';

export const LABELS = { campaign: 'ironlab.campaign', run: 'ironlab.run', host: 'ironlab.host', role: 'ironlab.role' } as const;
export const NAME_PREFIX = 'ironlab-';

export interface Owner {
  hostId: string;
  campaignId: string;
  runId: string;
}

export function labelsFor(o: Owner, role?: string): Record<string, string> {
  return { [LABELS.campaign]: o.campaignId, [LABELS.run]: o.runId, [LABELS.host]: o.hostId, ...(role ? { [LABELS.role]: role } : {}) };
}

/** A short, stable id for a run's resource names (bridge names are limited to 15 characters). */
export function shortId(o: Owner): string {
  return createHash('sha256').update(`${o.hostId}/${o.campaignId}/${o.runId}`).digest('hex').slice(0, 7);
}

/**
 * Third octet candidates of the run's 169.254.X.0/24 subnet, starting from a hash of the run (so concurrent
 * hosts on one engine rarely collide). 0, 255 and 169 (169.254.169.254 is the cloud metadata address) are skipped.
 */
export function subnetCandidates(short: string, count = 12): number[] {
  const out: number[] = [];
  for (let x = (parseInt(short, 16) % 250) + 1; out.length < count; x = (x % 254) + 1) if (x !== 169) out.push(x);
  return out;
}

export interface RunNetwork {
  id: string;
  name: string;
  /** The bridge of a run's own network; the parent NIC of a cross-host run's macvlan network. */
  bridge: string;
  /** `169.254.X.` : append a host number (a run's own bridge network). */
  prefix: string;
  /** What it is, for the provenance. */
  subnet: string;
}

export async function createRunNetwork(docker: Docker, o: Owner): Promise<RunNetwork> {
  const short = shortId(o);
  const name = `${NAME_PREFIX}${short}`;
  const bridge = `${NAME_PREFIX}${short}`; // 15 characters: the kernel's limit for interface names
  let lastErr: unknown;
  for (const x of subnetCandidates(short)) {
    try {
      const net = await docker.createNetwork({
        Name: name,
        Driver: 'bridge',
        CheckDuplicate: true,
        Labels: labelsFor(o),
        IPAM: { Driver: 'default', Config: [{ Subnet: `169.254.${x}.0/24`, Gateway: `169.254.${x}.1` }] },
        // No masquerading: the run's traffic stays between its containers (and one less NAT rule to add and remove).
        Options: { 'com.docker.network.bridge.name': bridge, 'com.docker.network.bridge.enable_ip_masquerade': 'false' },
      });
      return { id: net.id, name, bridge, prefix: `169.254.${x}.`, subnet: `169.254.${x}.0/24` };
    } catch (err) {
      lastErr = err;
      // Another network holds this subnet: try the next one. Anything else is not ours to work around.
      if (!/overlap|in use|already/i.test((err as Error).message)) throw err;
      if (/already exists/i.test((err as Error).message)) throw err;
    }
  }
  throw lastErr;
}

export interface ContainerSpec {
  role: string;
  argv: string[];
  cpus: number[];
  /** CFS bandwidth; absent for unconstrained traffic peers. */
  quotaUs?: number;
  periodUs?: number;
  ip: string;
}

export async function createContainer(
  docker: Docker,
  o: Owner,
  net: RunNetwork,
  image: string,
  spec: ContainerSpec,
): Promise<Docker.Container> {
  return docker.createContainer({
    name: `${NAME_PREFIX}${shortId(o)}-${spec.role}`,
    Image: image,
    Cmd: spec.argv,
    // A TTY makes sysbench and iperf3 line-buffered, so Docker's per-line timestamps are the time of printing.
    Tty: true,
    Labels: labelsFor(o, spec.role),
    HostConfig: {
      NetworkMode: net.name,
      CpusetCpus: spec.cpus.join(','),
      ...(spec.quotaUs ? { CpuQuota: spec.quotaUs, CpuPeriod: spec.periodUs } : {}),
      // Floods are bounded by iperf3 -t; this is the backstop against a runaway log.
      LogConfig: { Type: 'json-file', Config: { 'max-size': '1m' } },
    },
    NetworkingConfig: { EndpointsConfig: { [net.name]: { IPAMConfig: { IPv4Address: spec.ip } } } },
  });
}

/** Where a workload's output is read from: its process's output so far (workload-process.ts). */
export type OutputSource = () => string | Promise<string>;

/** Wait until the output contains `text` (a server saying it listens), or fail after `timeoutMs`. */
export async function waitForOutput(source: OutputSource, text: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  const seen = await readOutput(source, (out) => (out.includes(text) ? true : null), timeoutMs, signal);
  if (!seen) throw new Error(`workload did not print '${text}' within ${timeoutMs} ms`);
}

/**
 * Poll the output until `read` makes something of it (a complete report), at most `timeoutMs`; null when it
 * never did. Reading the output, rather than waiting for the process to exit, spares waiting for its exit.
 */
export async function readOutput<T>(
  source: OutputSource,
  read: (output: string) => T | null,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<T | null> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = read(await source());
    if (got !== null) return got;
    if (signal?.aborted) throw new Error('aborted');
    if (Date.now() > deadline) return null;
    await new Promise((r) => setTimeout(r, 25));
  }
}

type Filter = { hostId: string; campaignId?: string; runId?: string };

function labelFilter(f: Filter): string[] {
  const l = [`${LABELS.host}=${f.hostId}`];
  if (f.campaignId) l.push(`${LABELS.campaign}=${f.campaignId}`);
  if (f.runId) l.push(`${LABELS.run}=${f.runId}`);
  return l;
}

/** Remove the containers, then the networks, that match; returns their names. A missing one is not an error. */
/**
 * Remove a container (forced). One already gone is fine; one whose removal another call started (a pool's idle
 * timer, an earlier teardown) is waited for until it is gone: a slow engine (a TCG guest's) is still removing
 * it when the next run's setup looks, and answers 409. True when this call removed it.
 */
export async function removeContainer(docker: Docker, id: string): Promise<boolean> {
  const container = docker.getContainer(id);
  try {
    await container.remove({ force: true });
    return true;
  } catch (err) {
    const e = err as { statusCode?: number; message?: string };
    if (e.statusCode === 404) return false;
    if (e.statusCode !== 409 || !/already in progress/.test(e.message ?? '')) throw err;
    await container.wait({ condition: 'removed' }).catch((w: { statusCode?: number }) => {
      if (w.statusCode !== 404) throw w;
    });
    return false;
  }
}

export async function removeLabelled(docker: Docker, f: Filter): Promise<string[]> {
  const removed: string[] = [];
  const containers = await docker.listContainers({ all: true, filters: { label: labelFilter(f) } });
  await Promise.all(
    containers.map(async (c) => {
      if (await removeContainer(docker, c.Id)) removed.push(`container ${(c.Names[0] ?? c.Id).replace(/^\//, '')}`);
    }),
  );
  const networks = await docker.listNetworks({ filters: { label: labelFilter(f) } });
  for (const n of networks.filter((n) => n.Name.startsWith(NAME_PREFIX))) {
    try {
      await docker.getNetwork(n.Id).remove();
      removed.push(`network ${n.Name}`);
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 404) throw err;
    }
  }
  return removed;
}
