// Campaign-lived containers. Creating, starting and removing a run's containers and network took most of a
// run's overhead (about 3 s of 3.5 on the 2-core VM, `npm run bench -- docker`). So each side of a host keeps,
// per campaign, one network and a set of idle containers (`sleep infinity`), and each run starts its workloads
// inside them (workload-process.ts) and kills them at teardown.
//
// The set-up a run sees is a function of its own settings only, whatever ran before: at acquire the pool holds
// exactly the run's canonical set (the victim's containers, and neighbour-i and peer-i for each of its K
// neighbours, whichever of them its workload uses; on a cross-host run only this side's shapes), each with the
// run's cpuset and CFS quota (`docker update` when a slot's differ), no process but its idle init, no qdisc.
// So a control run and a flood run of one block see the same containers, networks and veths.
//
// Every container and network carries the campaign and host labels and, as its run label, the pool's id, so
// the reaper (removeLabelled by host or campaign) removes them as it removed a run's. A pool is removed when its
// campaign ends (the orchestrator's `reap` for it), when it has been idle for POOL_IDLE_MS, when a run of another
// campaign takes this host, by reap, and when a teardown could not bring it back to idle.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { createContainer, removeContainer, removeLabelled, type ContainerSpec, type Owner, type RunNetwork } from './containers.ts';
import { cgroupPathsOf } from './cgroup-files.ts';
import type { RunAddresses } from './traffic-network.ts';

/** A pool unused for this long is removed (a campaign's next run on this host comes within seconds). */
export const POOL_IDLE_MS = 30_000;
const IDLE_ARGV = ['sleep', 'infinity'];

export interface PoolSlot {
  name: string;
  container: Docker.Container;
  /** The container's init (the idle process): its namespaces and cgroups are the slot's. */
  pid: number;
  spec: ContainerSpec;
}

export interface Pool {
  /** Its resources' owner: the campaign, this host, and the pool's id as the run label. */
  owner: Owner;
  /** What it serves: the side and, across hosts, the two hosts' addresses. */
  key: string;
  network: RunNetwork;
  addresses: RunAddresses;
  slots: Map<string, PoolSlot>;
  busy: boolean;
  idleTimer: NodeJS.Timeout | null;
}

export class ContainerPool {
  private readonly pools: Pool[] = [];
  private next = 0;

  constructor(
    private readonly docker: Docker,
    private readonly hostId: string,
  ) {}

  /** The pools' ids (their run labels), which stale-network clean-ups must leave alone. */
  ids(): string[] {
    return this.pools.map((p) => p.owner.runId);
  }

  /**
   * An idle pool of `campaignId` for `key`, or a new one on the network `network` makes; idle pools of other
   * campaigns are removed first (a host serves one campaign at a time; a macvlan parent holds one network).
   */
  async acquire(
    campaignId: string,
    key: string,
    network: (owner: Owner) => Promise<{ network: RunNetwork; addresses: RunAddresses }>,
  ): Promise<Pool> {
    for (const p of this.pools.filter((p) => !p.busy && p.owner.campaignId !== campaignId)) await this.discard(p);
    const idle = this.pools.find((p) => !p.busy && p.owner.campaignId === campaignId && p.key === key);
    if (idle) {
      if (idle.idleTimer) clearTimeout(idle.idleTimer);
      idle.idleTimer = null;
      idle.busy = true;
      return idle;
    }
    const owner: Owner = { hostId: this.hostId, campaignId, runId: `pool-${process.pid}-${this.next++}` };
    const made = await network(owner);
    const pool: Pool = { owner, key, ...made, slots: new Map(), busy: true, idleTimer: null };
    this.pools.push(pool);
    return pool;
  }

  /** Make the pool hold exactly `specs` (by name), each with its spec's cores and quota, running and idle. */
  async fit(pool: Pool, image: string, specs: ContainerSpec[]): Promise<void> {
    const wanted = new Map(specs.map((s) => [s.role, s]));
    await Promise.all(
      [...pool.slots.values()]
        .filter((s) => wanted.get(s.name)?.ip !== s.spec.ip)
        .map(async (s) => {
          pool.slots.delete(s.name);
          await removeContainer(this.docker, s.container.id);
        }),
    );
    await Promise.all(
      specs.map(async (spec) => {
        const slot = pool.slots.get(spec.role);
        if (!slot) {
          const container = await createContainer(this.docker, pool.owner, pool.network, image, { ...spec, argv: IDLE_ARGV });
          await container.start();
          const pid = (await container.inspect()).State.Pid;
          pool.slots.set(spec.role, { name: spec.role, container, pid, spec });
          return;
        }
        const same =
          slot.spec.cpus.join(',') === spec.cpus.join(',') &&
          (slot.spec.quotaUs ?? 0) === (spec.quotaUs ?? 0) &&
          (slot.spec.periodUs ?? 0) === (spec.periodUs ?? 0);
        if (same) return;
        await slot.container.update({
          CpusetCpus: spec.cpus.join(','),
          CpuQuota: spec.quotaUs ?? -1,
          ...(spec.periodUs ? { CpuPeriod: spec.periodUs } : {}),
        });
        slot.spec = spec;
      }),
    );
  }

  /**
   * Back to idle after a run: every process but each container's init killed (and waited for), then the pool
   * is free for the next run. A pool that cannot be brought back is removed instead.
   */
  async release(pool: Pool): Promise<void> {
    try {
      await Promise.all([...pool.slots.values()].map((s) => killAllBut(s.pid)));
    } catch {
      return void (await this.discard(pool));
    }
    pool.busy = false;
    pool.idleTimer = setTimeout(() => void this.discard(pool).catch(() => undefined), POOL_IDLE_MS);
    pool.idleTimer.unref();
  }

  /** Remove a pool's containers and network now. */
  async discard(pool: Pool): Promise<string[]> {
    if (pool.idleTimer) clearTimeout(pool.idleTimer);
    const i = this.pools.indexOf(pool);
    if (i >= 0) this.pools.splice(i, 1);
    return removeLabelled(this.docker, pool.owner);
  }

  /** Forget the pools of `campaignId` (every pool without one): reap removes their resources by label. */
  forget(campaignId?: string): void {
    for (const p of this.pools.filter((p) => !campaignId || p.owner.campaignId === campaignId)) {
      if (p.idleTimer) clearTimeout(p.idleTimer);
      this.pools.splice(this.pools.indexOf(p), 1);
    }
  }
}

/** SIGKILL every process in `init`'s cgroup but `init`, and wait (at most 2 s) until they are gone. */
async function killAllBut(init: number): Promise<void> {
  const procs = join(cgroupPathsOf(init).cpuacct, 'cgroup.procs');
  const others = () =>
    readFileSync(procs, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map(Number)
      .filter((p) => p !== init);
  for (let i = 0; i < 200; i++) {
    const left = others();
    if (!left.length) return;
    for (const p of left) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`processes of container init ${init} still alive after 2 s`);
}
