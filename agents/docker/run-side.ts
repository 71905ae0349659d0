// This host's part in a run, one object per side instead of `role` tests scattered over the backend:
//   local:  the whole run on this host (victim, neighbours, peers) on the run's own bridge; each container's
//           host-side veth steered by RPS (traffic to the neighbours onto the NIC cores, to the peers onto theirs);
//   server: the victim and neighbours of a run whose peers are on another host, on a macvlan network on the
//           traffic NIC, whose receive work goes to the NIC cores;
//   peer:   only the peer-shaped containers (traffic peers, a victim's load generator), unconstrained on the
//           peer cores, whose receive work goes there; nobody's quota to enforce, no victim to measure.
import type Docker from 'dockerode';
import type { RunSpec } from '../run-spec.ts';
import type { Shape } from '../../workloads/workload.ts';
import { FatalError } from '../../workloads/common/errors.ts';
import { createRunNetwork, type Owner, type RunNetwork } from './containers.ts';
import type { RestoreLedger } from './restore-ledger.ts';
import { hostVethOf, pinQueueIrqs, steerRps } from './steering.ts';
import {
  bridgeAddresses,
  createTrafficNetwork,
  crossHostAddresses,
  removeStaleTrafficNetworks,
  type RunAddresses,
} from './traffic-network.ts';
import { blockCapacity, blockOf } from '../container-block.ts';

export interface SideContext {
  docker: Docker;
  hostId: string;
  ledger: RestoreLedger;
  /** The NIC that carries traffic to and from peer hosts (null: none given to the agent). */
  trafficNic: string | null;
  /** Runs alive on this agent (a stale traffic network of any other run is removed). */
  liveRuns: () => Set<string>;
}

/** A started container, as a side steers it. */
export interface StartedContainer {
  name: string;
  shape: Shape;
  pid: number;
  /** It sends or receives over the run's network (a CPU-only workload is not steered). */
  network: boolean;
}

export interface RunSide {
  readonly name: 'local' | 'server' | 'peer';
  /** This side has the victim: its enforcement, quiet cores and host CPU counters are measured here. */
  readonly measuresVictim: boolean;
  /** Whether this host creates a container of this shape. */
  owns(shape: Shape): boolean;
  /** The run's network and every container's address on it. */
  network(owner: Owner): Promise<{ network: RunNetwork; addresses: RunAddresses }>;
  /** Steering done once at setup; returns how, for the provenance (null: per container, at start). */
  steerAtSetup(): string | null;
  /** Steering of one started container (only the local side steers per container). */
  steerContainer(c: StartedContainer): string | null;
  /** Where the enforcer's drop program goes: where the neighbours' packets arrive. */
  dropAt(peers: StartedContainer[]): { dev: string }[];
}

/** Which side this host plays in a run. */
export function roleOf(run: RunSpec, hostId: string): RunSide['name'] {
  if (!run.peer.hostId) return 'local';
  return run.peer.hostId === hostId ? 'peer' : 'server';
}

export function sideOf(run: RunSpec, ctx: SideContext): RunSide {
  const role = roleOf(run, ctx.hostId);
  return role === 'local' ? new LocalSide(run, ctx) : role === 'peer' ? new PeerSide(run, ctx) : new ServerSide(run, ctx);
}

const scopeOf = (run: RunSpec) => ({ runId: run.runId, campaignId: run.campaignId });

class LocalSide implements RunSide {
  readonly name = 'local' as const;
  readonly measuresVictim = true;
  constructor(
    private readonly run: RunSpec,
    private readonly ctx: SideContext,
  ) {}
  owns(): boolean {
    return true;
  }
  async network(owner: Owner) {
    const network = await createRunNetwork(this.ctx.docker, owner);
    return { network, addresses: bridgeAddresses(network.prefix) };
  }
  steerAtSetup(): null {
    return null;
  }
  steerContainer(c: StartedContainer): string | null {
    if (!c.network) return null;
    // The host-side veth of a container receives what that container sends. Traffic *to* the neighbours (sent
    // by the peers) is this host's NIC receive work: it goes to the NIC cores. Traffic *to* the peers stands
    // for the remote host's receive work: it goes to the peers' cores, not the victim's.
    const { ledger, trafficNic } = this.ctx;
    steerRps(ledger, scopeOf(this.run), hostVethOf(c.pid), c.shape === 'peer' ? this.run.nicCpus : this.run.peer.cpus);
    if (trafficNic && pinQueueIrqs(ledger, scopeOf(this.run), trafficNic, this.run.nicCpus).length)
      return `irq:${trafficNic}->${this.run.nicCpus}`;
    return null;
  }
  dropAt(peers: StartedContainer[]): { dev: string }[] {
    // Here the host-side veths of the peers (their NAPI runs on the peers' core), before RPS moves the packets on.
    return peers.map((c) => ({ dev: hostVethOf(c.pid) }));
  }
}

/** One side of a run across hosts: a macvlan network on the traffic NIC, whose receive work goes to `cpus`. */
abstract class CrossHostSide implements RunSide {
  abstract readonly name: 'server' | 'peer';
  abstract readonly measuresVictim: boolean;
  abstract owns(shape: Shape): boolean;
  /** This host's container address block (CIDR). */
  protected abstract readonly ownBlock: string;
  protected abstract readonly cpus: number[];
  private readonly addresses: RunAddresses;
  constructor(
    protected readonly run: RunSpec,
    protected readonly ctx: SideContext,
  ) {
    const where = `run ${run.runId} has its traffic peers on ${run.peer.hostId}`;
    if (!ctx.trafficNic)
      throw new FatalError(`${where}, but ${ctx.hostId} has no traffic NIC (start its agent with --nic DEV)`, 'UNSUPPORTED');
    if (!run.peer.block || !run.peer.serverBlock)
      throw new FatalError(
        `${where}, but without both hosts' container address blocks (their agents report them with --container-block)`,
        'UNSUPPORTED',
      );
    // The victim and K neighbours in the server's block; K flood peers and a victim's load generator in the peer's.
    for (const [host, block] of [
      ['server', run.peer.serverBlock],
      ['peer', run.peer.block],
    ]) {
      const holds = blockCapacity(blockOf(block));
      if (run.neighbours + 1 > holds)
        throw new FatalError(
          `${where}: the ${host} host's container block ${block} holds ${holds} containers, a run with ${run.neighbours} neighbours needs ${run.neighbours + 1}`,
          'UNSUPPORTED',
        );
    }
    this.addresses = crossHostAddresses(run.peer.serverBlock, run.peer.block);
  }
  async network(owner: Owner) {
    await removeStaleTrafficNetworks(this.ctx.docker, this.ctx.hostId, this.ctx.liveRuns());
    const network = await createTrafficNetwork(this.ctx.docker, owner, this.ctx.trafficNic!, this.ownBlock);
    return { network, addresses: this.addresses };
  }
  /** Queue IRQs on a real NIC; RPS when it has none (a veth). Both through the restore ledger. */
  steerAtSetup(): string {
    const nic = this.ctx.trafficNic!;
    const irqs = pinQueueIrqs(this.ctx.ledger, scopeOf(this.run), nic, this.cpus);
    if (irqs.length) return `irq:${nic}->${this.cpus}`;
    steerRps(this.ctx.ledger, scopeOf(this.run), nic, this.cpus);
    return `rps:${nic}->${this.cpus}`;
  }
  steerContainer(): null {
    return null;
  }
  dropAt(): { dev: string }[] {
    return [{ dev: this.ctx.trafficNic! }];
  }
}

class ServerSide extends CrossHostSide {
  readonly name = 'server' as const;
  readonly measuresVictim = true;
  owns(shape: Shape): boolean {
    return shape !== 'peer';
  }
  protected get ownBlock() {
    return this.run.peer.serverBlock!;
  }
  protected get cpus() {
    return this.run.nicCpus;
  }
}

class PeerSide extends CrossHostSide {
  readonly name = 'peer' as const;
  readonly measuresVictim = false;
  owns(shape: Shape): boolean {
    return shape === 'peer';
  }
  protected get ownBlock() {
    return this.run.peer.block!;
  }
  protected get cpus() {
    return this.run.peer.cpus;
  }
}
