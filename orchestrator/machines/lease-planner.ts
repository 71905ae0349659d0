// Which queued run each free server host takes next, and which free peer host goes with a network run. The
// campaign machine owns one planner and changes it in place as runs are leased, settled and queued again:
// copying and re-planning the whole queue (thousands of runs) on every event was most of the campaign's CPU.
// Rules: each free ready server host takes the first queued run it can run (a run of a block it already
// holds first, in blocked designs); a network run only together with a free ready peer host when the
// campaign has peer hosts (a sysbench run needs none, and may go ahead of network runs waiting for a peer).
import type { RunSpec } from '../../agents/run-spec.ts';
import { isNetworkWorkload } from '../../workloads/catalog.ts';

export interface Lease {
  run: RunSpec;
  server: string;
  peer?: string;
}

export interface PlannerInput {
  serverHosts: string[];
  peerHosts?: string[];
  /** A host counts as free only while its agent is connected. */
  isConnected: (hostId: string) => boolean;
  blockOf?: (run: RunSpec) => string | undefined;
}

export class LeasePlanner {
  /** The queue is `runs[head..]`: taking the first run moves `head`, not the array. */
  private runs: RunSpec[] = [];
  private head = 0;
  /** hostId -> runId, server and peer hosts alike. */
  readonly busy: Record<string, string> = {};
  private busyCount = 0;
  private readonly hostsOf = new Map<string, string[]>();
  private readonly ready = new Set<string>();
  /** Blocked designs: block -> the server host that runs it. */
  private readonly blockHost = new Map<string, string>();
  private readonly peerHosts: string[];

  constructor(private readonly input: PlannerInput) {
    this.peerHosts = input.peerHosts ?? [];
  }

  get queued(): number {
    return this.runs.length - this.head;
  }

  get inFlight(): number {
    return this.busyCount;
  }

  /** A new queue (a ledger opened or extended). */
  replaceQueue(runs: RunSpec[]): void {
    this.runs = [...runs];
    this.head = 0;
  }

  /** Back in line: at the end (a retry), or first (a block's repeated run, before its host moves on). */
  requeue(run: RunSpec, first: boolean): void {
    if (!first) this.runs.push(run);
    else if (this.head > 0) this.runs[--this.head] = run;
    else this.runs.unshift(run);
  }

  hostReady(hostId: string): void {
    this.ready.add(hostId);
  }

  hostLost(hostId: string): void {
    this.ready.delete(hostId);
  }

  /** A run ended: its server host and peer host are free again. */
  release(runId: string): void {
    for (const h of this.hostsOf.get(runId) ?? []) {
      if (this.busy[h] !== runId) continue;
      delete this.busy[h];
      this.busyCount--;
    }
    this.hostsOf.delete(runId);
  }

  /** Lease every free ready server host (with a free peer host for a network run) to the next run that fits. */
  lease(): Lease[] {
    const leases: Lease[] = [];
    if (this.queued === 0) return leases;
    for (const server of this.input.serverHosts) {
      if (!this.free(server)) continue;
      const i = this.pick(server);
      if (i < 0) continue;
      const run = this.take(i);
      const block = this.input.blockOf?.(run);
      if (block !== undefined) this.blockHost.set(block, server);
      const peer = this.needsPeer(run) ? this.peerHosts.find((h) => this.free(h)) : undefined;
      this.mark(run.runId, peer ? [server, peer] : [server]);
      leases.push(peer ? { run, server, peer } : { run, server });
      if (this.queued === 0) break;
    }
    return leases;
  }

  /** Whether `lease()` would lease anything now (the campaign is starved when not, with nothing in flight). */
  canLease(): boolean {
    return this.queued > 0 && this.input.serverHosts.some((s) => this.free(s) && this.pick(s) >= 0);
  }

  /** Index of the run `server` takes next, or -1. */
  private pick(server: string): number {
    const peerFree = this.peerHosts.length === 0 || this.peerHosts.some((h) => this.free(h));
    const fits = (r: RunSpec) => peerFree || !this.needsPeer(r);
    const blockOf = this.input.blockOf;
    if (!blockOf) {
      for (let i = this.head; i < this.runs.length; i++) if (fits(this.runs[i])) return i;
      return -1;
    }
    // A block stays on the host that took its first run, unless that host is gone (its runs then pair no
    // more with the ones done there: the analysis pairs within a host only).
    let open = -1;
    for (let i = this.head; i < this.runs.length; i++) {
      const r = this.runs[i];
      if (!fits(r)) continue;
      const b = blockOf(r);
      const holder = b === undefined ? undefined : this.blockHost.get(b);
      if (b !== undefined && holder === server) return i;
      if (open < 0 && (holder === undefined || !this.ready.has(holder))) open = i;
    }
    return open;
  }

  private take(i: number): RunSpec {
    const run = this.runs[i];
    if (i === this.head) {
      this.head++;
      // let go of the taken part now and then, so a long campaign does not keep every run it leased
      if (this.head > 1024 && this.head * 2 > this.runs.length) {
        this.runs = this.runs.slice(this.head);
        this.head = 0;
      }
    } else this.runs.splice(i, 1);
    return run;
  }

  private mark(runId: string, hosts: string[]): void {
    for (const h of hosts) this.busy[h] = runId;
    this.busyCount += hosts.length;
    this.hostsOf.set(runId, hosts);
  }

  private free(hostId: string): boolean {
    return this.busy[hostId] === undefined && this.ready.has(hostId) && this.input.isConnected(hostId);
  }

  private needsPeer(run: RunSpec): boolean {
    return this.peerHosts.length > 0 && isNetworkWorkload(run.workload);
  }
}
