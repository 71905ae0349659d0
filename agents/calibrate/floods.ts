// The calibration floods: each a run of the docker backend itself (its containers, quotas, RPS steering onto
// the NIC core, its eBPF accounting under `none`, its window counters), plus three counters the backend's
// samples do not carry, read at the same window edges: the receivers' eth0 skb counts (a TSO/GSO skb crosses
// a veth whole, so skbs and TCP segments differ), and the NIC core's local timer interrupts (/proc/interrupts
// LOC). No second dataplane: every container, network and sysfs change is the backend's, labelled and
// restored by its teardown.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import Docker from 'dockerode';
import { DockerBackend } from '../backends/docker-backend.ts';
import type { RunSpec } from '../run-spec.ts';
import type { Sample } from '../samples.ts';
import { LABELS } from '../docker/containers.ts';
import { readNetns } from '../docker/counters.ts';
import { CGROUP_ROOT } from '../docker/cgroup-files.ts';
import { quietCgroupName } from '../docker/quiet-cores.ts';
import { armTimerInterrupts } from './timer-interrupts.ts';
import { RetryableError } from '../../workloads/common/errors.ts';

/** One calibration run: a run spec for the docker backend, and optionally timer interrupts on the victim's core over its window. */
export interface CalibrationFlood {
  spec: RunSpec;
  /** Arm a cpu-clock hrtimer on the victim's core firing every this many ns during the window (timer-interrupts.ts). */
  timerPeriodNs?: number;
}

export interface FloodRun {
  spec: RunSpec;
  samples: Sample[];
  /** Our own window (ms) around the backend's measure(), for the counters below. */
  windowS: number;
  /** Received skbs and bytes on the neighbours' eth0 (summed over neighbours); for a TCP sender: its ACKs. */
  rxSkbs: number;
  rxBytes: number;
  /** Transmitted skbs and bytes on the neighbours' eth0 (a TSO skb crosses a veth whole: one skb). */
  txSkbs: number;
  txBytes: number;
  /** Local timer interrupts on each core over the window. */
  locPerCore: number[];
  /** The timer stimulus's period over the window (ns), or null without one. */
  timerPeriodNs: number | null;
}

/** /proc/interrupts: the LOC (local timer) line, per CPU. */
export function parseLocalTimerInterrupts(text: string): number[] {
  const line = text.split('\n').find((l) => /^\s*LOC:/.test(l));
  if (!line) return [];
  return line
    .replace(/^\s*LOC:/, '')
    .trim()
    .split(/\s+/)
    .filter((f) => /^\d+$/.test(f))
    .map(Number);
}

const readLoc = () => parseLocalTimerInterrupts(readFileSync('/proc/interrupts', 'utf8'));

/** Whether a failed attempt is tried again: the caller's rule (the run ledger's), given the attempts made so far. */
export type RetryRule = (err: unknown, attempts: number) => boolean;

/** `once` until it succeeds or `retry` says stop (then its last error); every attempt is its own set-up and teardown. */
export async function withRetries<R>(once: (attempt: number) => Promise<R>, retry: RetryRule): Promise<R> {
  for (let attempts = 1; ; attempts++) {
    try {
      return await once(attempts);
    } catch (err) {
      if (!retry(err, attempts)) throw err;
    }
  }
}

/**
 * The campaign's run guards for a flood: why its conditions would bias its figures (steal or foreign CPU on the
 * victim core, a flood off its rate), empty when in guard. An out-of-guard attempt is repeated as a retryable
 * failure while attempts remain, and the last one is kept with `onKept` told why, as `ironlab run` keeps a run.
 */
export interface FloodGuard {
  check: (run: FloodRun) => string[];
  maxAttempts: number;
  onKept: (run: FloodRun, reasons: string[]) => void;
}

/**
 * Run each flood in order through a docker backend; everything is torn down after each attempt. A failed
 * attempt is repeated while `retry` allows (default: never), as `ironlab run` repeats a run: under load a
 * workload that exits early is one bad attempt, not the end of the calibration.
 */
export async function runFloods(
  floods: readonly CalibrationFlood[],
  opts: { hostId: string; onRun?: (spec: RunSpec, i: number) => void; signal?: AbortSignal; retry?: RetryRule; guard?: FloodGuard },
): Promise<FloodRun[]> {
  const docker = new Docker();
  const backend = new DockerBackend({ hostId: opts.hostId, docker });
  const out: FloodRun[] = [];
  // What an interrupted calibration of this host left goes first, as an agent's reaper does at its start.
  await backend.reap();
  try {
    const retry: RetryRule = (err, attempts) => !opts.signal?.aborted && (opts.retry?.(err, attempts) ?? false);
    for (const [i, flood] of floods.entries()) {
      opts.onRun?.(flood.spec, i);
      const guarded = async (attempt: number) => {
        const run = await floodOnce(backend, docker, flood, opts.hostId, opts.signal);
        const reasons = opts.guard?.check(run) ?? [];
        if (!reasons.length) return run;
        if (attempt < opts.guard!.maxAttempts) throw new RetryableError(`out of guard: ${reasons.join('; ')}`);
        opts.guard!.onKept(run, reasons);
        return run;
      };
      out.push(await withRetries(guarded, retry));
    }
  } finally {
    await backend.reap(floods[0]?.spec.campaignId);
  }
  // The backend's teardown and reaper are meant to leave nothing; a calibration that did leave something
  // says what, instead of exiting 0 beside it.
  const left = await leftBehind(docker, opts.hostId);
  if (left.length) throw new Error(`calibration left ${left.join(', ')} behind on this host (the next calibration reaps it first)`);
  return out;
}

/** One attempt of one flood: set up, warm up, measure between our counters, collect, always tear down. */
async function floodOnce(
  backend: DockerBackend,
  docker: Docker,
  flood: CalibrationFlood,
  hostId: string,
  outer: AbortSignal | undefined,
): Promise<FloodRun> {
  const { spec } = flood;
  const quiet = () => undefined;
  // One signal per run: the backend's waits each add an abort listener to it.
  const run = new AbortController();
  const onAbort = () => run.abort();
  outer?.addEventListener('abort', onAbort, { once: true });
  const signal = run.signal;
  try {
    await backend.setup(spec, signal);
    await backend.warmup(spec.runId, signal, quiet);
    const pids = await neighbourPids(docker, spec, hostId);
    // No neighbour found means no counters: say so rather than print n/a for every figure.
    if (!pids.length)
      throw new Error(`calibrate: no neighbour container of campaign ${spec.campaignId} on ${hostId} to read counters from`);
    const rx0 = rxCounters(pids);
    const loc0 = readLoc();
    const t0 = Date.now();
    const disarm = flood.timerPeriodNs ? armTimerInterrupts(spec.victim.cpus[0] ?? 0, flood.timerPeriodNs) : () => undefined;
    try {
      await backend.measure(spec.runId, signal, quiet);
    } finally {
      disarm();
    }
    const t1 = Date.now();
    const rx1 = rxCounters(pids);
    const loc1 = readLoc();
    const result = await backend.collect(spec.runId);
    return {
      spec,
      samples: result.samples,
      windowS: (t1 - t0) / 1000,
      rxSkbs: rx1.packets - rx0.packets,
      rxBytes: rx1.bytes - rx0.bytes,
      txSkbs: rx1.txPackets - rx0.txPackets,
      txBytes: rx1.txBytes - rx0.txBytes,
      locPerCore: loc1.map((v, c) => v - (loc0[c] ?? v)),
      timerPeriodNs: flood.timerPeriodNs ?? null,
    };
  } finally {
    outer?.removeEventListener('abort', onAbort);
    await backend.teardown(spec.runId);
  }
}

/** What of this host id's is still here: labelled containers and networks, `ironlab-<host>-*` cgroups. */
async function leftBehind(docker: Docker, hostId: string): Promise<string[]> {
  const f = { label: [`${LABELS.host}=${hostId}`] };
  const containers = (await docker.listContainers({ all: true, filters: f })).map(
    (c) => `container ${c.Names[0]?.replace(/^\//, '')} (${c.State})`,
  );
  const networks = (await docker.listNetworks({ filters: f })).map((n) => `network ${n.Name}`);
  const prefix = quietCgroupName(hostId, '');
  const cgroups = ['cpuset', 'cpuacct'].flatMap((h) => {
    const dir = join(CGROUP_ROOT, h);
    return existsSync(dir)
      ? readdirSync(dir)
          .filter((d) => d.startsWith(prefix))
          .map((d) => `cgroup ${h}/${d}`)
      : [];
  });
  return [...containers, ...networks, ...cgroups];
}

async function neighbourPids(docker: Docker, spec: RunSpec, hostId: string): Promise<number[]> {
  // The containers live for the campaign (container-pool.ts), labelled by campaign and host, not by run.
  const list = await docker.listContainers({ filters: { label: [`${LABELS.campaign}=${spec.campaignId}`, `${LABELS.host}=${hostId}`] } });
  const neighbours = list.filter((c) => (c.Labels[LABELS.role] ?? '').startsWith('neighbour-'));
  return Promise.all(neighbours.map(async (c) => (await docker.getContainer(c.Id).inspect()).State.Pid));
}

function rxCounters(pids: readonly number[]): { packets: number; bytes: number; txPackets: number; txBytes: number } {
  let packets = 0;
  let bytes = 0;
  let txPackets = 0;
  let txBytes = 0;
  for (const pid of pids) {
    const eth0 = readNetns(pid).eth0;
    packets += eth0?.rxPackets ?? 0;
    bytes += eth0?.rxBytes ?? 0;
    txPackets += eth0?.txPackets ?? 0;
    txBytes += eth0?.txBytes ?? 0;
  }
  return { packets, bytes, txPackets, txBytes };
}
