// The real dataplane: each run is a victim sysbench container and K neighbours (sysbench or an iperf3 side of
// a flood) with CFS quota and cpuset, their traffic peers unconstrained off the victim's cores, all on a
// link-local Docker network of the run's own. The neighbours' network processing is steered onto the NIC
// cores (RPS on the veths), and the kernel's counters are read at the window's edges.
//
//   setup:    network, containers created; iperf3 servers started (idle until a client connects), steered
//   warmup:   victim, sysbench neighbours and flood clients started; HTB on rate-limited senders; the enforcer
//             started (eBPF accounting under every mode the host allows; charging and drops under ebpf); wait warmupS
//   measure:  snapshot, wait durationS (a timer, no polling), snapshot; the enforcer's window at the same edges
//   collect:  cut sysbench's interval reports to the window; flood counters; iperf3's report as provenance;
//             the enforcer's samples (attributed/charged/credited softirq time, drops) and provenance
//   teardown: enforcer stopped (quotas, tc filters, pins back), containers and network removed, sysfs restored
//
// A run whose peers are on another host (RunSpec.peer.hostId) is split: this backend plays the server (victim
// and neighbours) or, when the peer host is this host, the peer (only the peer-* iperf3 containers,
// unconstrained on peer.cpus, and their counters). Both sides put their containers on a macvlan network on the
// traffic NIC (traffic-network.ts), and steer that NIC's receive work: the server's to nicCpus, the peer's to
// peer.cpus (queue IRQs on a real NIC; RPS where it has none, as the emulated lab's veth).
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Docker from 'dockerode';
import type { Backend, EnforcementSupport, HostFacts, ProgressFn, RunResult } from '../backend.ts';
import type { RunSpec } from '../run-spec.ts';
import { METRIC, neighbourName, peerName, sample, victimName, type Sample } from '../samples.ts';
import { floodRateGbps, isNetworkWorkload } from '../../workloads/catalog.ts';
import { floodPlan, iperf3ClientArgv, iperf3ServerArgv, sysbenchArgv } from '../../workloads/argv.ts';
import { buildImage, checkBuildPrerequisites, findImage, imageTag, type ImageInfo } from '../../workloads/image.ts';
import { eventsPerSecondIn, parseSysbenchIntervals } from '../../workloads/sysbench-output.ts';
import { parseIperf3Json } from '../../workloads/iperf3-output.ts';
import { FatalError, PrerequisiteError, RetryableError } from '../../workloads/common/errors.ts';
import { createContainer, createRunNetwork, logsOf, readOutput, removeLabelled, waitForOutput, type ContainerSpec, type Owner, type RunNetwork } from '../docker/containers.ts';
import { CGROUP_ROOT, cgroupPathsOf, findKsoftirqd, takeSnapshot, type CgroupPaths, type Snapshot } from '../docker/counters.ts';
import { addHtb, htbDrops } from '../docker/htb.ts';
import { hostFacts } from '../docker/host-facts.ts';
import { RestoreLedger } from '../docker/restore-ledger.ts';
import { hostVethOf, pinQueueIrqs, steerRps } from '../docker/steering.ts';
import { bridgeAddresses, createTrafficNetwork, crossHostAddresses, MAX_CROSS_HOST_NEIGHBOURS, removeStaleTrafficNetworks, type RunAddresses } from '../docker/traffic-network.ts';
import { windowSamples } from '../docker/window-samples.ts';
import { floodSamples } from '../docker/flood-samples.ts';
import { beginQuietWindow, endQuietWindow, type QuietWindow } from '../docker/quiet-cores.ts';
import { hostCpuSamples, softirqRegime } from '../docker/host-cpu-samples.ts';
import { iperf3LoadSamples } from '../docker/load-samples.ts';
import type { HostCpuSources } from '../docker/counters.ts';
import { PhaseTimes } from '../docker/phase-times.ts';
import { enforcementCapabilities } from '../enforcement/capabilities.ts';
import { buildBpf } from '../enforcement/build.ts';
import { createEnforcer, reapEnforcement, type EnforcedContainer, type Enforcer } from '../enforcement/enforcer.ts';

type Program = 'sysbench' | 'iperf3-server' | 'iperf3-client';
/** This host's part in a run: all of it, or one side of a run across hosts. */
type Role = 'local' | 'server' | 'peer';

export function roleOf(run: RunSpec, hostId: string): Role {
  if (!run.peer.hostId) return 'local';
  return run.peer.hostId === hostId ? 'peer' : 'server';
}

interface RunContainer {
  name: string;
  program: Program;
  container: Docker.Container;
  pid: number | null;
  ip: string;
  /** The container's own CFS quota (us), for the check that enforcement gave it back; null = unconstrained. */
  quotaUs: number | null;
  /** Rate for an HTB qdisc on this container's eth0 (a rate-limited sender), bits/s. */
  htbRateBps: number | null;
  /** When it started (ms since the epoch, from the engine), to align iperf3's interval reports with the window. */
  startedMs: number | null;
}

interface RunState {
  spec: RunSpec;
  role: Role;
  owner: Owner;
  network: RunNetwork;
  containers: RunContainer[];
  cgroups: Map<string, CgroupPaths>;
  start: Snapshot | null;
  end: Snapshot | null;
  result: RunResult | null;
  enforcer: Enforcer | null;
  /** Why the enforcer (accounting) is not running under `none`, for the provenance. */
  enforcerNote: string | null;
  /** The enforcer's samples over the measurement window, read at its end. */
  enforcerSamples: Sample[];
  /** How the traffic NIC was steered (its IRQs, or RPS on a cross-host run), for the provenance. */
  steering?: string;
  /** The experiment's processes kept off the victim's and NIC's cores, and measured per core (not on a peer). */
  quiet?: QuietWindow;
  /** The flood clients interrupted at the window's end (their reports are read at collect). */
  floodsStopped?: Promise<unknown>;
}

export interface DockerBackendOptions {
  hostId: string;
  docker?: Docker;
  /** The NIC that carries the test traffic to and from peer hosts: its queue IRQs get pinned (RPS set when it
   *  has none, as a veth), and cross-host runs put their containers on it. */
  trafficNic?: string | null;
}

export class DockerBackend implements Backend {
  readonly kind = 'docker' as const;
  private readonly docker: Docker;
  private readonly runs = new Map<string, RunState>();
  private readonly ledger: RestoreLedger;
  private readonly ksoftirqd = findKsoftirqd();
  /** The workload image, found or built once per agent (its id goes into every run's provenance). */
  private image: Promise<ImageInfo> | null = null;
  /** Wall time of each phase's steps, for the bench (`npm run bench -- docker` prints them). */
  readonly phaseTimes = new PhaseTimes();

  constructor(private readonly opts: DockerBackendOptions) {
    this.docker = opts.docker ?? new Docker();
    this.ledger = new RestoreLedger(opts.hostId);
  }

  facts(): Promise<HostFacts> {
    return hostFacts(this.opts.hostId, this.opts.trafficNic ?? null);
  }

  async capabilities(): Promise<EnforcementSupport[]> {
    // Asked before a campaign creates anything: a missing prerequisite is reported here, once, with what to run.
    // Every mode needs the containers; ebpf and iron-kernel also what the enforcement layer needs.
    const missing = await this.missingPrerequisites();
    return enforcementCapabilities().map((e): EnforcementSupport => {
      if (!missing) return e;
      return { mode: e.mode, available: false, reason: e.available ? missing : `${missing}; ${e.reason}` };
    });
  }

  async setup(run: RunSpec, signal: AbortSignal): Promise<void> {
    const role = roleOf(run, this.opts.hostId);
    if (run.enforcement !== 'none' && role !== 'peer') {
      const support = enforcementCapabilities().find((e) => e.mode === run.enforcement);
      if (!support?.available) throw new FatalError(`enforcement '${run.enforcement}' cannot run on ${this.opts.hostId}: ${support?.reason ?? 'unknown mode'}`, 'UNSUPPORTED');
    }
    const addresses = role === 'local' ? null : this.crossHostAddresses(run);
    const T = <R>(step: string, f: () => Promise<R> | R) => this.phaseTimes.time(run.runId, `setup.${step}`, f);
    const image = (await T('image', () => this.ensureImage())).tag;
    const owner: Owner = { hostId: this.opts.hostId, campaignId: run.campaignId, runId: run.runId };
    await T('leftovers', async () => {
      await this.teardown(run.runId); // leftovers of an earlier attempt at this run
      await removeLabelled(this.docker, owner);
    });
    try {
      let network: RunNetwork;
      if (role === 'local') network = await T('network', () => createRunNetwork(this.docker, owner));
      else {
        await removeStaleTrafficNetworks(this.docker, this.opts.hostId, new Set(this.runs.keys()));
        network = await createTrafficNetwork(this.docker, owner, this.opts.trafficNic!, role === 'server' ? run.peer.serverAddress! : run.peer.address!);
      }
      const state: RunState = { spec: run, role, owner, network, containers: [], cgroups: new Map(), start: null, end: null, result: null, enforcer: null, enforcerNote: null, enforcerSamples: [] };
      this.runs.set(run.runId, state);
      if (role !== 'local') this.steerTrafficNic(state);
      // Each side creates only its own containers: the peer host the peer-*, the server the rest.
      const specs = plan(run, addresses ?? bridgeAddresses(network.prefix)).filter((p) => role === 'local' || (role === 'peer') === p.spec.role.startsWith('peer-'));
      state.containers = await T('containers', () => Promise.all(
        specs.map(async ({ spec, program, htbRateBps }) => ({
          name: spec.role,
          program,
          htbRateBps,
          pid: null,
          startedMs: null,
          ip: spec.ip,
          quotaUs: spec.quotaUs ?? null,
          container: await createContainer(this.docker, owner, network, image, spec),
        })),
      ));
      // Servers first, so that clients find them listening when warm-up starts.
      const servers = state.containers.filter((c) => c.program === 'iperf3-server');
      await T('servers', () => Promise.all(servers.map((c) => this.startOne(state, c))));
      await T('listening', () => Promise.all(servers.map((c) => waitForOutput(c.container, 'Server listening', 10_000, signal))));
      // Compile the BPF objects now (cached per kernel), not inside the warm-up.
      if (role !== 'peer' && (run.enforcement !== 'none' || enforcementCapabilities().find((e) => e.mode === 'ebpf')?.available)) {
        try {
          await T('bpf', () => buildBpf());
        } catch (err) {
          if (run.enforcement !== 'none') throw new FatalError(`building the BPF objects: ${(err as Error).message.slice(0, 300)}`, 'BPF_BUILD');
        }
      }
    } catch (err) {
      if (err instanceof FatalError) throw err;
      throw new RetryableError(`setup on ${this.opts.hostId}: ${(err as Error).message}`, 'DOCKER');
    }
  }

  async warmup(runId: string, signal: AbortSignal, progress: ProgressFn): Promise<void> {
    const state = this.need(runId);
    const T = <R>(step: string, f: () => Promise<R> | R) => this.phaseTimes.time(runId, `warmup.${step}`, f);
    await T('start', () => Promise.all(state.containers.filter((c) => c.pid === null).map((c) => this.startOne(state, c))));
    // The qdisc goes on as soon as the sender's namespace exists; the few ms before are inside the warm-up.
    await T('htb', () => Promise.all(state.containers.filter((c) => c.htbRateBps && c.pid).map((c) => addHtb(c.pid!, c.htbRateBps!))));
    if (state.role !== 'peer') await T('enforcer', () => this.startEnforcer(state)); // the peers are nobody's to enforce
    if (state.role !== 'peer') await T('quiet', () => this.beginQuiet(state));
    await sleep(state.spec.warmupS * 1000, signal, (f) => progress('warmup', f));
  }

  async measure(runId: string, signal: AbortSignal, progress: ProgressFn): Promise<void> {
    const state = this.need(runId);
    const pids = new Map(state.containers.filter((c) => c.program !== 'sysbench' && c.pid).map((c) => [c.name, c.pid!]));
    try {
      state.enforcer?.beginWindow();
      const host = this.hostCpuSources(state);
      const T = <R>(step: string, f: () => Promise<R> | R) => this.phaseTimes.time(runId, `measure.${step}`, f);
      state.start = await T('snapshots', () => takeSnapshot(this.ksoftirqd, state.cgroups, pids, host));
      await sleep(state.spec.durationS * 1000, signal, (f) => progress('measure', f));
      state.end = await T('snapshots', () => takeSnapshot(this.ksoftirqd, state.cgroups, pids, host));
      // Read at the window's end, not at collect: the floods go on until collect interrupts them.
      state.enforcerSamples = state.enforcer?.samples((state.end.atMs - state.start.atMs) / 1000) ?? [];
    } catch (err) {
      throw signal.aborted ? err : await this.diagnose(state, err);
    }
  }

  async collect(runId: string): Promise<RunResult> {
    const state = this.need(runId);
    if (state.result) return state.result;
    const { spec, start, end } = state;
    if (!start || !end) throw new FatalError(`run ${runId} has not been measured`, 'NOT_MEASURED');
    const samples: Sample[] = [];
    const T = <R>(step: string, f: () => Promise<R> | R) => this.phaseTimes.time(runId, `collect.${step}`, f);
    // The window is over: the floods' clients print their reports, the experiment's processes go back.
    state.floodsStopped ??= this.stopFloods(state);
    await T('quietEnd', () => endQuietWindow(this.ledger, state.owner));
    // On one side of a cross-host run, only what this host's containers and counters say.
    const here = (container: string) => state.containers.some((c) => c.name === container);
    for (const c of state.containers.filter((c) => c.program === 'sysbench')) {
      const eps = eventsPerSecondIn(parseSysbenchIntervals(await T('sysbenchLogs', () => logsOf(c.container))), start.atMs, end.atMs);
      if (eps === null) throw new RetryableError(`${c.name}: no sysbench report inside the ${spec.durationS} s window`, 'NO_REPORT');
      samples.push(sample(c.name === victimName ? METRIC.victimEventsPerSec : METRIC.neighbourEventsPerSec, eps, 'events/s', { container: c.name }));
    }
    const cgroupNames = [victimName, ...Array.from({ length: spec.neighbours }, (_, i) => neighbourName(i))];
    const regime = state.role === 'peer' ? null : softirqRegime(start, end, spec.victim.cpus);
    if (regime) samples.push(...windowSamples(spec, start, end, cgroupNames), ...hostCpuSamples(start, end, [...spec.victim.cpus, ...spec.nicCpus]), ...regime.samples);
    samples.push(...floodSamples(spec, start, end, here), ...state.enforcerSamples);
    const provenance: Record<string, string | number | null> = {
      backend: 'docker',
      ...(state.role === 'local' ? {} : { role: state.role }),
      image: imageTag(),
      imageId: (await this.ensureImage()).id,
      network: state.network.subnet,
      steering: state.steering ?? `rps->${spec.nicCpus}`,
      ...(state.role === 'peer' ? {} : state.enforcer ? state.enforcer.provenance() : { enforcement: spec.enforcement, ebpfAccounting: `off: ${state.enforcerNote ?? 'not started'}` }),
      ...(state.quiet ? { quietCores: state.quiet.note } : {}),
      ...(regime ? { softirqRegime: regime.regime } : {}),
    };
    for (const c of state.containers.filter((c) => c.htbRateBps && c.pid)) {
      const drops = await htbDrops(c.pid!);
      samples.push(sample(METRIC.packetsDropped, drops, 'packets', { container: c.name, reason: 'qdisc' }));
      provenance[`${c.name}.htbRateBps`] = c.htbRateBps;
    }
    samples.push(...(await T('floodReports', () => this.floodReports(state, provenance))));
    state.result = { runId, samples, provenance };
    return state.result;
  }

  async teardown(runId: string): Promise<void> {
    const state = this.runs.get(runId);
    this.runs.delete(runId);
    // The enforcer first: its quotas, tc filters and pins go back while the containers still exist to check.
    const T = <R>(step: string, f: () => Promise<R> | R) => this.phaseTimes.time(runId, `teardown.${step}`, f);
    const notRestored = state ? await T('enforcer', () => this.stopEnforcer(state)) : [];
    await T('restore', () => this.ledger.restore((e) => e.runId === runId));
    if (state) await T('remove', () => removeLabelled(this.docker, state.owner));
    if (notRestored.length) throw new FatalError(`enforcement left quotas changed on ${this.opts.hostId}: ${notRestored.join(', ')}`, 'NOT_RESTORED');
  }

  async reap(campaignId?: string): Promise<string[]> {
    const stopped: string[] = [];
    for (const [id, s] of this.runs) {
      if (campaignId && s.spec.campaignId !== campaignId) continue;
      this.runs.delete(id);
      if (s.enforcer) stopped.push(`enforcer of ${id} stopped`);
      await this.stopEnforcer(s);
    }
    // Then what dead agents' enforcers left (state files, tc filters, pins); runs of other campaigns still
    // going in this agent keep theirs.
    const enforcement = await reapEnforcement({ spareLive: this.runs.size > 0 });
    const restored = this.ledger.restore((e) => !campaignId || e.campaignId === campaignId).map((p) => `restored ${p}`);
    let removed: string[] = [];
    try {
      removed = await removeLabelled(this.docker, { hostId: this.opts.hostId, campaignId });
    } catch (err) {
      // No engine: nothing of ours can be running in it. Say so instead of failing the agent's start.
      if (!/ENOENT|ECONNREFUSED/.test((err as Error).message)) throw err;
    }
    return [...stopped, ...enforcement, ...removed, ...restored];
  }

  // ---- helpers

  private need(runId: string): RunState {
    const s = this.runs.get(runId);
    if (!s) throw new FatalError(`no run ${runId} set up on ${this.opts.hostId}`, 'UNKNOWN_RUN');
    return s;
  }

  /** Why this host cannot run containers (or build the image it needs), or null when it can. */
  private async missingPrerequisites(): Promise<string | null> {
    if (await findImage(this.docker).catch(() => null)) return null;
    try {
      await checkBuildPrerequisites(this.docker);
      return null;
    } catch (err) {
      if (err instanceof PrerequisiteError) return err.message;
      throw err;
    }
  }

  private ensureImage(): Promise<ImageInfo> {
    this.image ??= buildImage({ docker: this.docker }).catch((err) => {
        this.image = null;
        if (err instanceof PrerequisiteError) throw new FatalError(err.message, 'PREREQUISITE');
        throw err;
      });
    return this.image;
  }

  /**
   * The enforcer over every container of the run (peers too, unconstrained, so that their packets have an
   * owner and the drop filter sits where their traffic enters). Under `none` it only accounts, and a host
   * where accounting cannot run still runs the experiment, without those samples.
   */
  private async startEnforcer(state: RunState): Promise<void> {
    const mode = state.spec.enforcement;
    let enforcer: Enforcer | null = null;
    try {
      const containers: EnforcedContainer[] = state.containers
        .filter((c) => c.pid)
        .map((c) => {
          const cg = state.cgroups.get(c.name) ?? cgroupPathsOf(c.pid!);
          return { name: c.name, ipv4: c.ip, cgroupCpuPath: cg.cpu, cgroupCpuacctPath: cg.cpuacct };
        });
      // The drop program goes where the neighbours' packets arrive, before RPS moves them to the victim's core:
      // the traffic NIC across hosts; here the host-side veths of the peers (their NAPI runs on the peers' core).
      const dropAt =
        state.role === 'local'
          ? state.containers.filter((c) => c.pid && c.name.startsWith('peer-')).map((c) => ({ dev: hostVethOf(c.pid!) }))
          : this.opts.trafficNic
            ? [{ dev: this.opts.trafficNic }]
            : [];
      enforcer = createEnforcer(mode, { containers, periodUs: state.spec.victim.periodUs, dropAt });
      await enforcer.start();
      state.enforcer = enforcer;
      if (!enforcer.accounting) state.enforcerNote = enforcer.provenance().ebpfAccounting as string;
    } catch (err) {
      await enforcer?.stop().catch(() => undefined);
      const msg = (err as Error).message.slice(0, 300);
      if (mode === 'none') return void (state.enforcerNote = msg);
      if (err instanceof PrerequisiteError) throw new FatalError(msg, 'PREREQUISITE');
      throw new RetryableError(`enforcement '${mode}' on ${this.opts.hostId}: ${msg}`, 'ENFORCEMENT');
    }
  }

  /** Stop a run's enforcer (idempotent); returns the quotas it did not give back (must be none). */
  private async stopEnforcer(state: RunState): Promise<string[]> {
    const e = state.enforcer;
    state.enforcer = null;
    if (!e) return [];
    await e.stop();
    const wrong: string[] = [];
    for (const c of state.containers) {
      const cg = state.cgroups.get(c.name);
      if (!cg || c.quotaUs === null) continue;
      try {
        const now = Number(readFileSync(join(cg.cpu, 'cpu.cfs_quota_us'), 'utf8').trim());
        if (now !== c.quotaUs) wrong.push(`${c.name} ${now} != ${c.quotaUs}`);
      } catch {
        // the container (and its cgroup) is already gone
      }
    }
    return wrong;
  }

  /** Start a container, then learn its pid and cgroup and steer its traffic (neighbours and peers only). */
  private async startOne(state: RunState, c: RunContainer): Promise<void> {
    await c.container.start();
    const info = await c.container.inspect();
    c.pid = info.State.Pid;
    c.startedMs = Date.parse(info.State.StartedAt);
    if (c.name === victimName || c.name.startsWith('neighbour-')) state.cgroups.set(c.name, cgroupPathsOf(c.pid));
    if (c.program === 'sysbench' || state.role !== 'local') return; // across hosts: the traffic NIC, steered at setup
    // The host-side veth of a container receives what that container sends. Traffic *to* the neighbours
    // (sent by the peers) is this host's NIC receive work: it goes to the NIC cores. Traffic *to* the peers
    // stands for the remote host's receive work: it goes to the peers' cores, not the victim's.
    const scope = { runId: state.owner.runId, campaignId: state.owner.campaignId };
    const toNeighbour = c.name.startsWith('peer-');
    steerRps(this.ledger, scope, hostVethOf(c.pid), toNeighbour ? state.spec.nicCpus : state.spec.peer.cpus);
    if (this.opts.trafficNic && pinQueueIrqs(this.ledger, scope, this.opts.trafficNic, state.spec.nicCpus).length) state.steering = `irq:${this.opts.trafficNic}->${state.spec.nicCpus}`;
  }

  /**
   * One side of a cross-host run: the traffic NIC's receive work goes to the server's NIC cores (the victim's,
   * in the paper's setup), or on the peer host to the peers' cores. Queue IRQs on a real NIC; RPS when it has
   * none (a veth). Both through the restore ledger, put back at teardown.
   */
  private steerTrafficNic(state: RunState): void {
    const nic = this.opts.trafficNic!;
    const cpus = state.role === 'server' ? state.spec.nicCpus : state.spec.peer.cpus;
    const scope = { runId: state.owner.runId, campaignId: state.owner.campaignId };
    const irqs = pinQueueIrqs(this.ledger, scope, nic, cpus);
    if (irqs.length) state.steering = `irq:${nic}->${cpus}`;
    else {
      steerRps(this.ledger, scope, nic, cpus);
      state.steering = `rps:${nic}->${cpus}`;
    }
  }

  /** Both sides' container addresses of a cross-host run; refused when this host cannot take part. */
  private crossHostAddresses(run: RunSpec): RunAddresses {
    const where = `run ${run.runId} has its traffic peers on ${run.peer.hostId}`;
    if (!this.opts.trafficNic) throw new FatalError(`${where}, but ${this.opts.hostId} has no traffic NIC (start its agent with --nic DEV)`, 'UNSUPPORTED');
    if (!run.peer.address || !run.peer.serverAddress) throw new FatalError(`${where}, but without both hosts' traffic addresses (their agents report them with --nic)`, 'UNSUPPORTED');
    if (run.neighbours > MAX_CROSS_HOST_NEIGHBOURS) throw new FatalError(`${where}: at most ${MAX_CROSS_HOST_NEIGHBOURS} neighbours per run across hosts, not ${run.neighbours}`, 'UNSUPPORTED');
    return crossHostAddresses(run.peer.serverAddress, run.peer.address);
  }

  /** Why a run cannot be measured: a workload that exited early, with the end of its output. */
  private async diagnose(state: RunState, err: unknown): Promise<Error> {
    for (const c of state.containers) {
      const info = await c.container.inspect().catch(() => null);
      if (info && !info.State.Running && c.program !== 'iperf3-server') {
        const tail = (await logsOf(c.container, false).catch(() => '')).trim().split('\n').slice(-3).join(' | ');
        return new RetryableError(`${c.name} exited early (code ${info.State.ExitCode}): ${tail.slice(-300)}`, 'WORKLOAD_EXITED');
      }
    }
    return err instanceof Error ? err : new Error(String(err));
  }

  /**
   * iperf3's own report of each flood, for the record: the client is interrupted (SIGINT makes iperf3 print
   * its JSON at once) instead of waited for. The sender's side of the report (bytes, TCP retransmits) is
   * complete; the receiver's side is not (the samples come from the kernel's window counters anyway).
   */
  private async floodReports(state: RunState, provenance: Record<string, string | number | null>): Promise<Sample[]> {
    const clients = state.containers.filter((c) => c.program === 'iperf3-client');
    const samples: Sample[] = [];
    await (state.floodsStopped ?? this.stopFloods(state));
    await Promise.all(
      clients.map(async (c) => {
        // The report is complete once its JSON parses: no need to wait for the engine to finish the exit.
        let why = 'no output';
        const parse = (out: string) => {
          try {
            return parseIperf3Json(out);
          } catch (err) {
            why = (err as Error).message;
            return null;
          }
        };
        const r = await readOutput(c.container, parse, 1500);
        if (!r) return void (provenance[`${c.name}.iperf3`] = `unreadable after 1.5 s: ${why}`.slice(0, 200));
        try {
          const i = Number(c.name.split('-')[1]); // neighbour-i or peer-i: the flood of neighbour i
          if (c.startedMs !== null) samples.push(...iperf3LoadSamples(state.spec, i, r, c.startedMs, state.start!, state.end!));
          provenance[`${c.name}.iperf3SentBytes`] = r.sentBytes;
          provenance[`${c.name}.iperf3Retransmits`] = r.retransmits;
          provenance[`${c.name}.iperf3LostPackets`] = r.packetsLost;
          if (r.error) provenance[`${c.name}.iperf3Error`] = r.error;
        } catch (err) {
          provenance[`${c.name}.iperf3`] = `unreadable: ${(err as Error).message}`.slice(0, 200);
        }
      }),
    );
    return samples;
  }

  /** SIGINT to every flood client: iperf3 then prints its JSON report at once and exits. */
  private stopFloods(state: RunState): Promise<unknown> {
    const clients = state.containers.filter((c) => c.program === 'iperf3-client');
    return Promise.all(clients.map((c) => c.container.kill({ signal: 'SIGINT' }).catch(() => undefined))); // already exited: fine
  }

  /** The experiment's own processes off the victim's and NIC's cores for the window, and their CPU measured. */
  private beginQuiet(state: RunState): void {
    const { spec, owner } = state;
    state.quiet = beginQuietWindow(this.ledger, owner, this.opts.hostId, [...spec.victim.cpus, ...spec.nicCpus]);
  }

  /** Where the window's host CPU counters are: every task (the cpuacct root), Docker's containers, our groups. */
  private hostCpuSources(state: RunState): HostCpuSources | undefined {
    if (state.role === 'peer') return undefined;
    const victim = state.cgroups.get(victimName);
    return { cpuacctRoot: join(CGROUP_ROOT, 'cpuacct'), dockerCpuacct: victim ? dirname(victim.cpuacct) : null, who: state.quiet?.accounting ?? new Map() };
  }
}

/** The run's containers, from the catalog kind only: argv arrays built here, nothing taken from the wire. */
export function plan(run: RunSpec, addr: RunAddresses): { spec: ContainerSpec; program: Program; htbRateBps: number | null }[] {
  // Workloads outlast the window by a margin, so that no edge of the window races with their end; collect
  // interrupts the flood clients and teardown removes everything. iperf3 -t still bounds every flood.
  const runS = run.warmupS + run.durationS;
  const victimIp = addr.victim;
  const neighbourIp = addr.neighbour;
  const peerIp = addr.peer;
  const out: ReturnType<typeof plan> = [
    { spec: { role: victimName, argv: sysbenchArgv(runS + 5), cpus: run.victim.cpus, quotaUs: run.victim.quotaUs, periodUs: run.victim.periodUs, ip: victimIp }, program: 'sysbench', htbRateBps: null },
  ];
  const shape = { cpus: run.neighbour.cpus, quotaUs: run.neighbour.quotaUs, periodUs: run.neighbour.periodUs };
  // each neighbour's flood carries its share of the scenario's total rate
  const params = { ...run.params, rateGbps: floodRateGbps(run.params, run.neighbours) };
  for (let i = 0; i < run.neighbours; i++) {
    if (!isNetworkWorkload(run.workload)) {
      out.push({ spec: { role: neighbourName(i), argv: sysbenchArgv(runS + 5), ...shape, ip: neighbourIp(i) }, program: 'sysbench', htbRateBps: null });
      continue;
    }
    const flood = floodPlan(run.workload, params);
    const floodS = Math.ceil(runS) + 3;
    const neighbourIsClient = flood.clientSide === 'neighbour';
    out.push({
      spec: { role: neighbourName(i), argv: neighbourIsClient ? iperf3ClientArgv(run.workload, params, peerIp(i), floodS) : iperf3ServerArgv(), ...shape, ip: neighbourIp(i) },
      program: neighbourIsClient ? 'iperf3-client' : 'iperf3-server',
      htbRateBps: neighbourIsClient ? flood.htbRateBps : null,
    });
    out.push({
      spec: { role: peerName(i), argv: neighbourIsClient ? iperf3ServerArgv() : iperf3ClientArgv(run.workload, params, neighbourIp(i), floodS), cpus: run.peer.cpus, ip: peerIp(i) },
      program: neighbourIsClient ? 'iperf3-server' : 'iperf3-client',
      htbRateBps: null,
    });
  }
  return out;
}

/** Wait `ms` (abortable), reporting progress a few times: a timer, so the wait itself costs no CPU. */
function sleep(ms: number, signal: AbortSignal, progress: (fraction: number) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new RetryableError('aborted', 'ABORTED'));
    const t0 = Date.now();
    const tick = setInterval(() => progress(Math.min(1, (Date.now() - t0) / ms)), Math.max(250, ms / 4));
    const done = setTimeout(() => {
      clearInterval(tick);
      progress(1);
      resolve();
    }, ms);
    signal.addEventListener('abort', () => {
      clearInterval(tick);
      clearTimeout(done);
      reject(new RetryableError('aborted', 'ABORTED'));
    }, { once: true });
  });
}
