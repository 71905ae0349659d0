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
    const run = testRun({ runId: 'tcp-rx', campaignId: 'c-test', workload: 'tcp-receiver', warmupS: 1, durationS: 2 });
    await backend.setup(run, never);
    onTestFinished(() => backend.teardown(run.runId));
    const [victim] = await docker.listContainers({ all: true, filters: { label: [`ironlab.host=${hostId}`, 'ironlab.role=victim'] } });
    const inspect = await docker.getContainer(victim.Id).inspect();
    expect(inspect.HostConfig).toMatchObject({ CpuQuota: 50000, CpuPeriod: 100000, CpusetCpus: '0' });
    expect(inspect.Config.Labels).toMatchObject({ 'ironlab.campaign': 'c-test', 'ironlab.run': 'tcp-rx', 'ironlab.host': hostId });
    await backend.warmup(run.runId, never, () => {});
    await backend.measure(run.runId, never, () => {});
    const { samples } = await backend.collect(run.runId);
    await backend.teardown(run.runId);

    expect(sumOf(samples, METRIC.windowS)).toBeGreaterThan(1.9);
    expect(sumOf(samples, METRIC.victimEventsPerSec)).toBeGreaterThan(50);
    expect(sumOf(samples, METRIC.neighbourThroughputGbps, { container: 'neighbour-0' })).toBeGreaterThan(0.01);
    // CFS: the victim gets at most its 50% quota of the window (+ rounding of the window's edges)
    expect(sumOf(samples, METRIC.cgroupUsageS, { container: 'victim' })).toBeLessThan(0.5 * 2 + 0.15);
    expect(sumOf(samples, METRIC.softirqTimeS, { core: '0', vec: 'NET_RX' })).toBeGreaterThan(0);
    // Accounting without enforcing, under `none`, where the host allows eBPF: the neighbour owns the flood's receive time.
    if (ebpfHere) {
      expect(sumOf(samples, METRIC.attributedSoftirqS, { container: 'neighbour-0', vec: 'NET_RX' })).toBeGreaterThan(0.01);
      expect(samples.some((s) => s.metric === METRIC.creditedTimeS && s.labels.container === 'victim' && s.labels.enforced === 'no')).toBe(true);
    }
    expect(await leftovers()).toEqual([]);
    expect(changedRps(before, rpsValues())).toEqual([]);
    expect(execFileSync('tc', ['qdisc', 'show'], { encoding: 'utf8' })).not.toMatch(/htb/);
  });

  it('runs a rate-limited udp-sender arm with HTB on the sender and removes it', async () => {
    const run = testRun({ runId: 'udp-tx', campaignId: 'c-test', workload: 'udp-sender', params: { rateGbps: 0.5 }, warmupS: 1, durationS: 2 }); // 2 s: sysbench reports once a second
    await backend.setup(run, never);
    onTestFinished(() => backend.teardown(run.runId));
    await backend.warmup(run.runId, never, () => {});
    const [n] = await docker.listContainers({ filters: { label: [`ironlab.host=${hostId}`, 'ironlab.role=neighbour-0'] } });
    const pid = (await docker.getContainer(n.Id).inspect()).State.Pid;
    expect(execFileSync('nsenter', [`--net=/proc/${pid}/ns/net`, 'tc', 'qdisc', 'show', 'dev', 'eth0'], { encoding: 'utf8' })).toMatch(/qdisc htb 1: root/);
    await backend.measure(run.runId, never, () => {});
    const { samples, provenance } = await backend.collect(run.runId);
    await backend.teardown(run.runId);
    expect(sumOf(samples, METRIC.packetsSent, { container: 'neighbour-0' })).toBeGreaterThan(0);
    expect(provenance['neighbour-0.htbRateBps']).toBe(5e8);
    expect(await leftovers()).toEqual([]);
  });

  it('refuses enforcement it cannot do, as a fatal error naming what is missing', async () => {
    await expect(backend.setup(testRun({ runId: 'e', enforcement: 'iron-kernel' }), never)).rejects.toMatchObject({ name: 'FatalError', message: expect.stringContaining('iron_enabled') });
    expect(await leftovers()).toEqual([]);
  });
});
