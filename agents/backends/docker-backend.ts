// The real dataplane: each run is a victim container (its workload's, sysbench by default) and K neighbours
// (sysbench, one side of an iperf3 flood, ...; each workload module in workloads/ says which) with CFS quota and cpuset, their traffic peers unconstrained off the victim's cores, all on a
// link-local Docker network of the run's own. The neighbours' network processing is steered onto the NIC
// cores (RPS on the veths), and the kernel's counters are read at the window's edges.
//
//   setup:    the campaign's pool of idle containers on its network taken and fitted to the run's cores and quotas
//             (container-pool.ts: created once per campaign, not per run); servers (iperf3, redis, sockperf)
//             started in them (docker exec) and waited for, steered
//   warmup:   victim, sysbench neighbours and flood clients started; HTB on rate-limited senders; the enforcer
//             started (eBPF accounting under every mode the host allows; charging and drops under ebpf); wait warmupS
//   measure:  snapshot, wait durationS (a timer, no polling), snapshot; the enforcer's window at the same edges
//   collect:  each workload cuts its own reports to the window; flood counters; iperf3's report as provenance;
//             the enforcer's samples (attributed/charged/credited softirq time, drops) and provenance
//   teardown: enforcer stopped (quotas, tc filters, pins back), sysfs restored, HTB removed, the run's processes
//             killed: the pool is idle again (removed after a while, by another campaign's run, or by the reaper)
//
// A run whose peers are on another host (RunSpec.peer.hostId) is split: this backend plays the server (victim
// and neighbours) or, when the peer host is this host, the peer (only the peer-shaped containers, unconstrained
// on peer.cpus, and their counters). What differs between the sides lives in one object per side (run-side.ts).
import { dirname, join } from 'node:path';
import Docker from 'dockerode';
import type { Backend, EnforcementSupport, HostFacts, ProgressFn, RunResult } from '../backend.ts';
import type { RunSpec } from '../run-spec.ts';
import { METRIC, neighbourName, sample, victimName, type Sample } from '../samples.ts';
import { victimWorkloadOf } from '../run-spec.ts';
import { latestWindowEndS } from '../phase-allowance.ts';
import { neighbourRoleOf, victimRoleOf } from '../../workloads/registry.ts';
import type { ContainerPlan, PlanContext, Shape, Window, WorkloadSample } from '../../workloads/workload.ts';
import { buildImage, checkBuildPrerequisites, findImage, imageTag, type ImageInfo } from '../../workloads/image.ts';
import { parseIperf3Json } from '../../workloads/iperf3-output.ts';
import { FatalError, PrerequisiteError, RetryableError } from '../../workloads/common/errors.ts';
import { readOutput, removeLabelled, waitForOutput, type ContainerSpec, type Owner, type RunNetwork } from '../docker/containers.ts';
import { ContainerPool, type Pool } from '../docker/container-pool.ts';
import { WorkloadProcess } from '../docker/workload-process.ts';
import { findKsoftirqd, takeSnapshot, type Snapshot } from '../docker/counters.ts';
import { CGROUP_ROOT, cgroupPathsOf, readQuotaUs, type CgroupPaths } from '../docker/cgroup-files.ts';
import { addHtb, htbDrops, removeHtb } from '../docker/htb.ts';
import { hostFacts } from '../docker/host-facts.ts';
import { RestoreLedger } from '../docker/restore-ledger.ts';
import type { RunAddresses } from '../docker/traffic-network.ts';
import { sideOf, type RunSide } from '../docker/run-side.ts';
import { windowSamples } from '../docker/window-samples.ts';
import { floodSamples } from '../docker/flood-samples.ts';
import { beginQuietWindow, endQuietWindow, type QuietWindow } from '../docker/quiet-cores.ts';
import { hostCpuSamples, softirqRegime } from '../docker/host-cpu-samples.ts';
import { iperf3LoadSamples } from '../docker/load-samples.ts';
import type { HostCpuSources } from '../docker/counters.ts';
import { PhaseTimes } from '../docker/phase-times.ts';
import { enforcementCapabilities } from '../enforcement/capabilities.ts';
import { buildBpf } from '../enforcement/build.ts';
import { enforcementMode } from '../enforcement/modes.ts';
import { createEnforcer, reapEnforcement, type EnforcedContainer, type Enforcer } from '../enforcement/enforcer.ts';

export { roleOf } from '../docker/run-side.ts';

interface RunContainer {
  name: string;
  /** What its workload module planned (program, shape, readiness, window-end stop, how its log becomes samples). */
  plan: PlannedContainer;
  /** The pool's container it runs in. */
  container: Docker.Container;
  /** The container's init: its namespaces and cgroups are the workload's. */
  pid: number;
  /** The run's workload process in it (null until started). */
  proc: WorkloadProcess | null;
  ip: string;
  /** The container's own CFS quota (us), for the check that enforcement gave it back; null = unconstrained. */
  quotaUs: number | null;
}

interface RunState {
  spec: RunSpec;
  side: RunSide;
  owner: Owner;
  pool: Pool;
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
  /** This host's container address block on the lab's wire, reported in its facts (cross-host runs carry it). */
  containerBlock?: string | null;
}

export class DockerBackend implements Backend {
  readonly kind = 'docker' as const;
  private readonly docker: Docker;
  private readonly runs = new Map<string, RunState>();
  private readonly ledger: RestoreLedger;
  private readonly ksoftirqd = findKsoftirqd();
  /** Campaign-lived containers and networks, one pool per side and campaign in use. */
  private readonly pool: ContainerPool;
  /** The workload image, found or built once per agent (its id goes into every run's provenance). */
  private image: Promise<ImageInfo> | null = null;
  /** Wall time of each phase's steps, for the bench (`npm run bench -- docker` prints them). */
  readonly phaseTimes = new PhaseTimes();

  constructor(private readonly opts: DockerBackendOptions) {
    this.docker = opts.docker ?? new Docker();
    this.ledger = new RestoreLedger(opts.hostId);
    this.pool = new ContainerPool(this.docker, opts.hostId);
  }

  facts(): Promise<HostFacts> {
    return hostFacts(this.opts.hostId, this.opts.trafficNic ?? null).then((f) => ({
      ...f,
      extra: { ...f.extra, containerBlock: this.opts.containerBlock ?? null },
    }));
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
    const side = sideOf(run, {
      docker: this.docker,
      hostId: this.opts.hostId,
      ledger: this.ledger,
      trafficNic: this.opts.trafficNic ?? null,
      liveRuns: () => new Set([...this.runs.keys(), ...this.pool.ids()]),
    });
    if (run.enforcement !== 'none' && side.measuresVictim) {
      const support = enforcementCapabilities().find((e) => e.mode === run.enforcement);
      if (!support?.available)
        throw new FatalError(
          `enforcement '${run.enforcement}' cannot run on ${this.opts.hostId}: ${support?.reason ?? 'unknown mode'}`,
          'UNSUPPORTED',
        );
    }
    const T = <R>(step: string, f: () => Promise<R> | R) => this.phaseTimes.time(run.runId, `setup.${step}`, f);
    const image = (await T('image', () => this.ensureImage())).tag;
    const owner: Owner = { hostId: this.opts.hostId, campaignId: run.campaignId, runId: run.runId };
    await T('leftovers', async () => {
      await this.teardown(run.runId); // leftovers of an earlier attempt at this run
      await removeLabelled(this.docker, owner);
    });
    try {
      const pool = await T('network', () => this.pool.acquire(run.campaignId, poolKeyOf(run, side), (o) => side.network(o)));
      const state: RunState = {
        spec: run,
        side,
        owner,
        pool,
        network: pool.network,
        containers: [],
        cgroups: new Map(),
        start: null,
        end: null,
        result: null,
        enforcer: null,
        enforcerNote: null,
        enforcerSamples: [],
      };
      this.runs.set(run.runId, state);
      state.steering = side.steerAtSetup() ?? undefined;
      // Each side runs only its own containers: the peer host the peer-shaped, the server the rest.
      const planned = plan(run, pool.addresses).filter((p) => side.owns(p.shape));
      await T('containers', () =>
        this.pool.fit(
          pool,
          image,
          canonicalSpecs(run, pool.addresses, planned, (s) => side.owns(s)),
        ),
      );
      state.containers = planned.map((p) => ({
        name: p.name,
        plan: p,
        pid: pool.slots.get(p.name)!.pid,
        proc: null,
        ip: p.spec.ip,
        quotaUs: p.spec.quotaUs ?? null,
        container: pool.slots.get(p.name)!.container,
      }));
      // The containers' namespaces and cgroups exist before their workloads start: learn the cgroups, steer the
      // traffic and shape the rate-limited senders now, so that the workloads start into a ready host.
      for (const c of state.containers) {
        if (c.plan.shape !== 'peer') state.cgroups.set(c.name, cgroupPathsOf(c.pid));
        const steering = side.steerContainer({ name: c.name, shape: c.plan.shape, pid: c.pid, network: c.plan.network });
        if (steering) state.steering = steering;
      }
      await T('htb', () => Promise.all(state.containers.filter((c) => c.plan.htbRateBps).map((c) => addHtb(c.pid, c.plan.htbRateBps!))));
      // Servers first, so that clients find them listening when warm-up starts.
      const servers = state.containers.filter((c) => c.plan.readyLine);
      await T('servers', () => Promise.all(servers.map((c) => this.startOne(c))));
      await T('listening', () =>
        Promise.all(servers.map((c) => waitForOutput(() => c.proc!.output(false), c.plan.readyLine!, 10_000, signal))),
      );
      // Compile the BPF objects now (cached per kernel), not inside the warm-up: where the mode needs eBPF, or
      // where it would account with it (iron-kernel on the IRON guests, which have no eBPF, needs none).
      const bpfRequired = enforcementMode(run.enforcement).accounting === 'required';
      if (side.measuresVictim && (bpfRequired || enforcementCapabilities().find((e) => e.mode === 'ebpf')?.available)) {
        try {
          await T('bpf', () => buildBpf());
        } catch (err) {
          if (bpfRequired) throw new FatalError(`building the BPF objects: ${(err as Error).message.slice(0, 300)}`, 'BPF_BUILD');
        }
      }
    } catch (err) {
      await this.teardown(run.runId).catch(() => undefined); // the pool back to idle (or removed)
      if (err instanceof FatalError) throw err;
      throw new RetryableError(`setup on ${this.opts.hostId}: ${(err as Error).message}`, 'DOCKER');
    }
  }

  async warmup(runId: string, signal: AbortSignal, progress: ProgressFn): Promise<void> {
    const state = this.need(runId);
    const T = <R>(step: string, f: () => Promise<R> | R) => this.phaseTimes.time(runId, `warmup.${step}`, f);
    // The enforcer needs only the containers (their cgroups, addresses, veths), not their workloads: both start
    // together, and the enforcer's accounting is on before the first packet of a flood.
    const starting = state.containers.filter((c) => c.proc === null);
    await Promise.all([
      T('start', () => Promise.all(starting.map((c) => this.startOne(c)))),
      state.side.measuresVictim ? T('enforcer', () => this.startEnforcer(state)) : null, // the peers are nobody's to enforce
    ]);
    await T('load', () => this.loadStarted(state, starting, signal));
    if (state.side.measuresVictim) await T('quiet', () => this.beginQuiet(state));
    await sleep(state.spec.warmupS * 1000, signal, (f) => progress('warmup', f));
  }

  async measure(runId: string, signal: AbortSignal, progress: ProgressFn): Promise<void> {
    const state = this.need(runId);
    const pids = new Map(state.containers.filter((c) => c.plan.network).map((c) => [c.name, c.pid]));
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
    samples.push(...(await T('workloadLogs', () => this.workloadSamples(state, { startMs: start.atMs, endMs: end.atMs }))));
    const cgroupNames = [victimName, ...Array.from({ length: spec.neighbours }, (_, i) => neighbourName(i))];
    const regime = state.side.measuresVictim ? softirqRegime(start, end, spec.victim.cpus) : null;
    if (regime)
      samples.push(
        ...windowSamples(spec, start, end, cgroupNames),
        ...hostCpuSamples(start, end, [...spec.victim.cpus, ...spec.nicCpus]),
        ...regime.samples,
      );
    samples.push(...floodSamples(spec, start, end, here), ...state.enforcerSamples);
    const provenance: Record<string, string | number | null> = {
      backend: 'docker',
      ...(state.side.name === 'local' ? {} : { role: state.side.name }),
      ...(state.side.measuresVictim ? { victimWorkload: victimWorkloadOf(spec) } : {}),
      image: imageTag(),
      imageId: (await this.ensureImage()).id,
      network: state.network.subnet,
      steering: state.steering ?? `rps->${spec.nicCpus}`,
      ...(!state.side.measuresVictim
        ? {}
        : state.enforcer
          ? state.enforcer.provenance()
          : { enforcement: spec.enforcement, ebpfAccounting: `off: ${state.enforcerNote ?? 'not started'}` }),
      ...(state.quiet ? { quietCores: state.quiet.note } : {}),
      ...(regime ? { softirqRegime: regime.regime } : {}),
    };
    for (const c of state.containers.filter((c) => c.plan.htbRateBps)) {
      const drops = await htbDrops(c.pid);
      samples.push(sample(METRIC.packetsDropped, drops, 'packets', { container: c.name, reason: 'qdisc' }));
      provenance[`${c.name}.htbRateBps`] = c.plan.htbRateBps!;
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
    if (state) {
      // The pool's containers outlive the run: its qdiscs and processes do not.
      await T('htb', () => Promise.all(state.containers.filter((c) => c.plan.htbRateBps).map((c) => removeHtb(c.pid))));
      await T('remove', () => this.pool.release(state.pool));
    }
    if (notRestored.length)
      throw new FatalError(`enforcement left quotas changed on ${this.opts.hostId}: ${notRestored.join(', ')}`, 'NOT_RESTORED');
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
    this.pool.forget(campaignId); // their containers and networks go by label below
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
        .map((c) => ({ name: c.name, ipv4: c.ip, cgroup: state.cgroups.get(c.name) ?? cgroupPathsOf(c.pid!) }));
      // The drop program goes where the neighbours' packets arrive, before RPS moves them to the victim's core:
      // the traffic NIC across hosts; here the host-side veths of the peers (their NAPI runs on the peers' core).
      const dropAt = state.side.dropAt(
        state.containers
          .filter((c) => c.pid && c.name.startsWith('peer-'))
          .map((c) => ({ name: c.name, shape: c.plan.shape, pid: c.pid!, network: c.plan.network })),
      );
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
        const now = readQuotaUs(cg);
        if (now !== c.quotaUs) wrong.push(`${c.name} ${now} != ${c.quotaUs}`);
      } catch {
        // the container (and its cgroup) is already gone
      }
    }
    return wrong;
  }

  /** Start a container's workload in it. */
  private async startOne(c: RunContainer): Promise<void> {
    c.proc = await WorkloadProcess.start(c.container, c.plan.spec.argv);
  }

  /**
   * What each workload makes of its containers' logs over the window. A container stopped at the window's end
   * prints its report then (or its last interval's): its log is read until the workload finds it (at most 1.5 s).
   */
  private async workloadSamples(state: RunState, window: Window): Promise<Sample[]> {
    const out: Sample[] = [];
    await (state.floodsStopped ?? this.stopFloods(state));
    for (const c of state.containers) {
      const collect = c.plan.collect;
      if (!collect) continue;
      const proc = c.proc!;
      const got = c.plan.stopAtWindowEnd
        ? await readOutput(
            () => proc.output(),
            (log) => collect(c.name, log, window),
            1500,
          )
        : collect(c.name, proc.output(), window);
      if (got === null)
        throw new RetryableError(`${c.name}: no ${c.plan.program} report inside the ${state.spec.durationS} s window`, 'NO_REPORT');
      out.push(...got.map((x) => sample(x.metric, x.value, x.unit, x.labels)));
    }
    return out;
  }

  /** Until every client that says when its load begins has said so (ContainerPlan.loadStartsLine), at most 10 s. */
  private async loadStarted(state: RunState, started: RunContainer[], signal: AbortSignal): Promise<void> {
    const late = started.filter((c) => c.plan.loadStartsLine);
    try {
      await Promise.all(late.map((c) => waitForOutput(() => c.proc!.output(false), c.plan.loadStartsLine!, 10_000, signal)));
    } catch (err) {
      if (signal.aborted) throw err;
      const why = await this.diagnose(state, err);
      throw why instanceof RetryableError ? why : new RetryableError(`${late.map((c) => c.name).join(', ')}: ${why.message}`, 'NO_LOAD');
    }
  }

  /** Why a run cannot be measured: a workload that exited early, with the end of its output. */
  private async diagnose(state: RunState, err: unknown): Promise<Error> {
    for (const c of state.containers) {
      const info = await c.proc?.state().catch(() => null);
      if (info && !info.running && !c.plan.readyLine) {
        const tail = c.proc!.output(false).trim().split('\n').slice(-3).join(' | ');
        return new RetryableError(`${c.name} exited early (code ${info.exitCode}): ${tail.slice(-300)}`, 'WORKLOAD_EXITED');
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
    const clients = state.containers.filter((c) => c.plan.program === 'iperf3-client');
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
        const r = c.proc ? await readOutput(() => c.proc!.output(false), parse, 1500) : null;
        if (!r) return void (provenance[`${c.name}.iperf3`] = `unreadable after 1.5 s: ${why}`.slice(0, 200));
        try {
          const i = Number(c.name.split('-')[1]); // neighbour-i or peer-i: the flood of neighbour i
          samples.push(...iperf3LoadSamples(state.spec, i, r, c.proc!.startedMs, state.start!, state.end!));
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

  /** SIGINT to every process stopped at the window's end: iperf3 then prints its JSON report at once and exits,
   *  sysbench (its reports through the window already printed) ends instead of running on to its bound. */
  private stopFloods(state: RunState): Promise<unknown> {
    const clients = state.containers.filter((c) => c.plan.stopAtWindowEnd);
    for (const c of clients) c.proc?.signal('SIGINT'); // already exited: fine
    return Promise.resolve();
  }

  /** The experiment's own processes off the victim's and NIC's cores for the window, and their CPU measured. */
  private beginQuiet(state: RunState): void {
    const { spec, owner } = state;
    state.quiet = beginQuietWindow(this.ledger, owner, this.opts.hostId, [...spec.victim.cpus, ...spec.nicCpus]);
  }

  /** Where the window's host CPU counters are: every task (the cpuacct root), Docker's containers, our groups. */
  private hostCpuSources(state: RunState): HostCpuSources | undefined {
    if (!state.side.measuresVictim) return undefined;
    const victim = state.cgroups.get(victimName);
    return {
      // cgroup v2 has no per-CPU usage: no root or Docker figures, so no `other` foreign CPU (host-cpu-samples.ts)
      cpuacctRoot: victim?.version === 2 ? null : join(CGROUP_ROOT, 'cpuacct'),
      dockerCpuacct: victim && victim.version === 1 ? dirname(victim.cpuacct) : null,
      who: state.quiet?.accounting ?? new Map(),
    };
  }
}

/** One container of a run: its workload's plan, with cores, quota and address resolved for this run. */
export interface PlannedContainer extends ContainerPlan {
  spec: ContainerSpec;
  /** It sends or receives over the run's network (its namespace's counters are read, its veth steered). */
  network: boolean;
  collect?: (container: string, log: string, window: Window) => WorkloadSample[] | null;
}

/** The run's containers, from the workload modules only: argv arrays built there, nothing taken from the wire. */
export function plan(run: RunSpec, addr: RunAddresses): PlannedContainer[] {
  // Workloads outlast the window, so that no edge of the window races with their end: they run until the agent
  // interrupts them at its end, bounded by boundS (the latest it can end) should the agent be gone (sockperf by a
  // margin past runS); servers run until teardown removes them.
  const ctx: PlanContext = {
    params: run.params,
    neighbours: run.neighbours,
    runS: run.warmupS + run.durationS,
    boundS: latestWindowEndS(run),
    victimIp: addr.victim,
    neighbourIp: addr.neighbour,
    peerIp: addr.peer,
    // A victim's load generator takes the peer address after the neighbours' peers.
    victimLoadIp: addr.peer(run.neighbours),
  };
  const shapes = shapesOf(run);
  const ipOf = (p: ContainerPlan, i: number | null) =>
    p.shape === 'victim' ? addr.victim : i === null ? ctx.victimLoadIp : p.shape === 'peer' ? addr.peer(i) : addr.neighbour(i);
  const victim = victimRoleOf(victimWorkloadOf(run));
  const neighbour = neighbourRoleOf(run.workload);
  const victimPlan = victim.plan(ctx);
  const victimNetwork = victimPlan.length > 1; // a victim with a load generator talks over the network
  const resolve = (p: ContainerPlan, i: number | null, network: boolean, collect: PlannedContainer['collect']): PlannedContainer => ({
    ...p,
    spec: { role: p.name, argv: p.argv, ...shapes[p.shape], ip: ipOf(p, i) },
    network,
    ...(collect ? { collect } : {}),
  });
  const out = victimPlan.map((p) => resolve(p, null, victimNetwork, victim.collect));
  for (let i = 0; i < run.neighbours; i++)
    out.push(...neighbour.plan(ctx, i).map((p) => resolve(p, i, neighbour.network !== null, neighbour.collect)));
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
    signal.addEventListener(
      'abort',
      () => {
        clearInterval(tick);
        clearTimeout(done);
        reject(new RetryableError('aborted', 'ABORTED'));
      },
      { once: true },
    );
  });
}

/** Cores and CFS quota of each shape in a run. */
function shapesOf(run: RunSpec): Record<Shape, { cpus: number[]; quotaUs?: number; periodUs?: number }> {
  return {
    victim: { cpus: run.victim.cpus, quotaUs: run.victim.quotaUs, periodUs: run.victim.periodUs },
    neighbour: { cpus: run.neighbour.cpus, quotaUs: run.neighbour.quotaUs, periodUs: run.neighbour.periodUs },
    peer: { cpus: run.peer.cpus },
  };
}

/**
 * The containers a run's pool holds, whatever its workload uses: its planned ones, and neighbour-i and peer-i for
 * each of its K neighbours (idle where its workload has no use for them). So the control and a flood arm with the
 * same settings see the same containers.
 */
export function canonicalSpecs(
  run: RunSpec,
  addr: RunAddresses,
  planned: PlannedContainer[],
  owns: (s: Shape) => boolean,
): ContainerSpec[] {
  const out = planned.map((p) => p.spec);
  const shapes = shapesOf(run);
  for (let i = 0; i < run.neighbours; i++) {
    for (const [shape, ip] of [
      ['neighbour', addr.neighbour(i)],
      ['peer', addr.peer(i)],
    ] as const) {
      const role = `${shape}-${i}`;
      if (owns(shape) && !out.some((s) => s.role === role)) out.push({ role, argv: [], ...shapes[shape], ip });
    }
  }
  return out;
}

/** Which pool serves a run: its side, and across hosts the two hosts' addresses (the network depends on them). */
function poolKeyOf(run: RunSpec, side: RunSide): string {
  return [side.name, run.peer.hostId ?? '', run.peer.address ?? '', run.peer.serverAddress ?? ''].join('|');
}
