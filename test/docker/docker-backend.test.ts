// The docker backend on a real engine: a short run per arm kind, the samples it yields, and nothing left behind.
import { readFileSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import Docker from 'dockerode';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { DockerBackend } from '../../agents/backends/docker-backend.ts';
import { METRIC, sumOf } from '../../agents/samples.ts';
import { buildImage } from '../../workloads/image.ts';
import { testRun } from '../fakes/fake-backend.ts';
import { dockerReadiness } from './helpers/ready.ts';
import { changedRps, rpsValues } from './helpers/host-state.ts';
import { enforcementCapabilities } from '../../agents/enforcement/capabilities.ts';
import { quietCgroupName } from '../../agents/docker/quiet-cores.ts';

const { ready } = await dockerReadiness();
const hostId = 'docker-test'; // fixed: beforeAll reaps what an earlier, interrupted test run left
const docker = new Docker();
const never = new AbortController().signal;
const ebpfHere = ready && enforcementCapabilities().find((c) => c.mode === 'ebpf')?.available === true;

async function leftovers(): Promise<string[]> {
  const c = await docker.listContainers({ all: true, filters: { label: [`ironlab.host=${hostId}`] } });
  const n = await docker.listNetworks({ filters: { label: [`ironlab.host=${hostId}`] } });
  return [...c.map((x) => x.Names[0]), ...n.map((x) => x.Name)];
}

/** What still runs in this host's containers besides their idle init: between runs, nothing. */
async function busy(): Promise<string[]> {
  const c = await docker.listContainers({ filters: { label: [`ironlab.host=${hostId}`] } });
  const tops = await Promise.all(
    c.map(async (x) =>
      ((await docker.getContainer(x.Id).top()) as { Processes: string[][] }).Processes.map((p) => `${x.Names[0]}: ${p.at(-1)}`),
    ),
  );
  return tops.flat().filter((p) => !p.endsWith(': sleep infinity'));
}

/** Pids of the processes named `comm`. */
function pidsOf(comm: string): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p}/comm`, 'utf8').trim() === comm;
      } catch {
        return false;
      }
    })
    .map(Number);
}

const cpusAllowed = (pid: number) => readFileSync(`/proc/${pid}/status`, 'utf8').match(/Cpus_allowed_list:\s*(\S+)/)![1];
/** The v1 cgroups (cpuset, cpuacct) and allowed cpus of Docker's daemons, to compare before and after a run. */
const daemonCgroups = () =>
  [...pidsOf('dockerd'), ...pidsOf('containerd')].map(
    (p) =>
      `${p} ${readFileSync(`/proc/${p}/cgroup`, 'utf8')
        .split('\n')
        .filter((l) => /:(cpuset|cpuacct)[:,]/.test(l))
        .join(' ')} ${cpusAllowed(p)}`,
  );
/** The cgroups this host's runs make for their window (ironlab-<host>-...), at the top of the v1 hierarchies. */
const ourCgroups = () =>
  ['cpuset', 'cpuacct'].flatMap((h) =>
    readdirSync(`/sys/fs/cgroup/${h}`)
      .filter((d) => d.startsWith(quietCgroupName(hostId, '')))
      .map((d) => `${h}/${d}`),
  );

describe.skipIf(!ready)('docker backend (real engine)', () => {
  let backend: DockerBackend;
  beforeAll(async () => {
    backend = new DockerBackend({ hostId });
    await backend.reap();
  });

  it('a second image build is a no-op', async () => {
    const info = await buildImage();
    expect(info.built).toBe(false);
  });

  it('reports host facts and honest capabilities', async () => {
    const f = await backend.facts();
    expect(f).toMatchObject({ backend: 'docker', hostId, cgroupVersion: 1, nic: { driver: 'veth' } });
    expect(f.cores).toBeGreaterThanOrEqual(2);
    const caps = await backend.capabilities();
    expect(caps.find((c) => c.mode === 'none')?.available).toBe(true);
    // ebpf and iron-kernel as the enforcement layer sees this host (this kernel has no IRON switch).
    const enf = enforcementCapabilities();
    expect(caps.find((c) => c.mode === 'ebpf')).toEqual(enf.find((c) => c.mode === 'ebpf'));
    expect(caps.find((c) => c.mode === 'iron-kernel')).toMatchObject({ available: false, reason: expect.stringContaining('iron_enabled') });
  });

  it('runs a tcp-receiver arm: quota enforced, softirq on the victim core, nothing left behind', async () => {
    const before = rpsValues();
    const cgroupsBefore = daemonCgroups();
    const run = testRun({ runId: 'tcp-rx', campaignId: 'c-test', workload: 'tcp-receiver', warmupS: 1, durationS: 2 });
    await backend.setup(run, never);
    onTestFinished(() => backend.teardown(run.runId));
    const [victim] = await docker.listContainers({ all: true, filters: { label: [`ironlab.host=${hostId}`, 'ironlab.role=victim'] } });
    const inspect = await docker.getContainer(victim.Id).inspect();
    expect(inspect.HostConfig).toMatchObject({ CpuQuota: 50000, CpuPeriod: 100000, CpusetCpus: '0' });
    // campaign-lived: labelled with the campaign and the pool (its run label), for the reaper
    expect(inspect.Config.Labels).toMatchObject({
      'ironlab.campaign': 'c-test',
      'ironlab.run': expect.stringMatching(/^pool-/),
      'ironlab.host': hostId,
    });
    await backend.warmup(run.runId, never, () => {});
    // Quiet cores: during the window Docker's daemons are kept off the victim's core 0 (cpuset), and measured.
    expect(cpusAllowed(pidsOf('dockerd')[0])).toBe('1');
    await backend.measure(run.runId, never, () => {});
    const { samples, provenance } = await backend.collect(run.runId);
    expect(daemonCgroups()).toEqual(cgroupsBefore); // back once the window is collected
    await backend.teardown(run.runId);

    expect(provenance.quietCores).toMatch(
      /^quiet cores: \d+ processes \(agent \d+, dockerd [1-9]\d*, containerd [1-9]\d*, orchestrator \d+\) on 1, off 0/,
    );
    expect(provenance.softirqRegime).toMatch(/^(inline|ksoftirqd)$/);
    // what the host did to the victim's core: each of the experiment's processes (kept off it: ~0) and the rest
    for (const who of ['agent', 'dockerd', 'containerd', 'orchestrator', 'other'])
      expect(samples.filter((s) => s.metric === METRIC.foreignCpuTimeS && s.labels.core === '0' && s.labels.who === who)).toHaveLength(1);
    for (const who of ['agent', 'dockerd', 'containerd'])
      expect(sumOf(samples, METRIC.foreignCpuTimeS, { core: '0', who })).toBeLessThan(0.02);
    expect(samples.filter((s) => s.metric === METRIC.stealTimeS)).toHaveLength(2);
    expect(sumOf(samples, METRIC.softirqCount, { core: '0', vec: 'NET_RX' })).toBeGreaterThan(100);
    // the flood's load, by iperf3's own report and by the neighbour's NIC counters, agree (an unlimited flood: no offered)
    const byIperf = sumOf(samples, METRIC.achievedGbps, { container: 'neighbour-0', source: 'iperf3' });
    const byNic = sumOf(samples, METRIC.achievedGbps, { container: 'neighbour-0', source: 'nic' });
    expect(byNic).toBeGreaterThan(0.01);
    expect(Math.abs(byIperf - byNic) / byNic).toBeLessThan(0.25);
    expect(samples.some((s) => s.metric === METRIC.offeredGbps)).toBe(false);

    expect(sumOf(samples, METRIC.windowS)).toBeGreaterThan(1.9);
    expect(sumOf(samples, METRIC.victimEventsPerSec)).toBeGreaterThan(50);
    expect(sumOf(samples, METRIC.neighbourThroughputGbps, { container: 'neighbour-0' })).toBeGreaterThan(0.01);
    // CFS: the victim gets at most its 50% quota of the window (+ rounding of the window's edges)
    expect(sumOf(samples, METRIC.cgroupUsageS, { container: 'victim' })).toBeLessThan(0.5 * 2 + 0.15);
    expect(sumOf(samples, METRIC.softirqTimeS, { core: '0', vec: 'NET_RX' })).toBeGreaterThan(0);
    // Accounting without enforcing, under `none`, where the host allows eBPF: the neighbour owns the flood's receive time.
    if (ebpfHere) {
      expect(sumOf(samples, METRIC.attributedSoftirqS, { container: 'neighbour-0', vec: 'NET_RX' })).toBeGreaterThan(0.01);
      expect(samples.some((s) => s.metric === METRIC.creditedTimeS && s.labels.container === 'victim' && s.labels.enforced === 'no')).toBe(
        true,
      );
    }
    // the campaign's containers stay for its next run, idle; the reaper removes them
    expect(await busy()).toEqual([]);
    await backend.reap('c-test');
    expect(await leftovers()).toEqual([]);
    expect(changedRps(before, rpsValues())).toEqual([]);
    expect(execFileSync('tc', ['qdisc', 'show'], { encoding: 'utf8' })).not.toMatch(/htb/);
    expect(ourCgroups()).toEqual([]);
    expect(daemonCgroups()).toEqual(cgroupsBefore);
  });

  it('runs a rate-limited udp-sender arm with HTB on the sender and removes it', async () => {
    const run = testRun({
      runId: 'udp-tx',
      campaignId: 'c-test',
      workload: 'udp-sender',
      params: { rateGbps: 0.5 },
      warmupS: 1,
      durationS: 2,
    }); // 2 s: sysbench reports once a second
    await backend.setup(run, never);
    onTestFinished(() => backend.teardown(run.runId));
    await backend.warmup(run.runId, never, () => {});
    const [n] = await docker.listContainers({ filters: { label: [`ironlab.host=${hostId}`, 'ironlab.role=neighbour-0'] } });
    const pid = (await docker.getContainer(n.Id).inspect()).State.Pid;
    expect(execFileSync('nsenter', [`--net=/proc/${pid}/ns/net`, 'tc', 'qdisc', 'show', 'dev', 'eth0'], { encoding: 'utf8' })).toMatch(
      /qdisc htb 1: root/,
    );
    await backend.measure(run.runId, never, () => {});
    const { samples, provenance } = await backend.collect(run.runId);
    await backend.teardown(run.runId);
    expect(sumOf(samples, METRIC.packetsSent, { container: 'neighbour-0' })).toBeGreaterThan(0);
    expect(provenance['neighbour-0.htbRateBps']).toBe(5e8);
    // the pool's sender keeps no qdisc for the next run
    expect(execFileSync('nsenter', [`--net=/proc/${pid}/ns/net`, 'tc', 'qdisc', 'show', 'dev', 'eth0'], { encoding: 'utf8' })).not.toMatch(
      /htb/,
    );
    expect(await busy()).toEqual([]);
    await backend.reap('c-test');
    expect(await leftovers()).toEqual([]);
  });

  it("a campaign's control and flood arms run in the same containers, each with its own run's quota", async () => {
    const ids = async () =>
      (await docker.listContainers({ all: true, filters: { label: [`ironlab.host=${hostId}`] } }))
        .map((c) => `${c.Labels['ironlab.role']} ${c.Id}`)
        .sort();
    const quotaOf = async (role: string) => {
      const [c] = await docker.listContainers({ filters: { label: [`ironlab.host=${hostId}`, `ironlab.role=${role}`] } });
      return (await docker.getContainer(c.Id).inspect()).HostConfig.CpuQuota;
    };
    const runOne = async (over: Parameters<typeof testRun>[0]) => {
      const run = testRun({ campaignId: 'c-pool', warmupS: 0, durationS: 2, ...over }); // 2 s: sysbench reports once a second
      await backend.setup(run, never);
      onTestFinished(() => backend.teardown(run.runId));
      const set = await ids();
      await backend.warmup(run.runId, never, () => {});
      await backend.measure(run.runId, never, () => {});
      const { samples } = await backend.collect(run.runId);
      await backend.teardown(run.runId);
      return { set, samples };
    };
    onTestFinished(async () => void (await backend.reap('c-pool')));
    const control = await runOne({ runId: 'pool-control' });
    const flood = await runOne({ runId: 'pool-flood', workload: 'tcp-receiver' });
    expect(control.set.map((s) => s.split(' ')[0])).toEqual(['neighbour-0', 'peer-0', 'victim']); // the control's peer idles
    expect(flood.set).toEqual(control.set);
    expect(sumOf(control.samples, METRIC.victimEventsPerSec)).toBeGreaterThan(50);
    expect(sumOf(flood.samples, METRIC.victimEventsPerSec)).toBeGreaterThan(50);
    await runOne({ runId: 'pool-quota', victim: { quotaUs: 30000, periodUs: 100000, cpus: [0] } });
    expect(await ids()).toEqual(control.set);
    expect(await quotaOf('victim')).toBe(30000);
    await backend.reap('c-pool');
    expect(await leftovers()).toEqual([]);
  });

  it('refuses enforcement it cannot do, as a fatal error naming what is missing', async () => {
    await expect(backend.setup(testRun({ runId: 'e', enforcement: 'iron-kernel' }), never)).rejects.toMatchObject({
      name: 'FatalError',
      message: expect.stringContaining('iron_enabled'),
    });
    expect(await leftovers()).toEqual([]);
  });
});
