// The emulated lab for real: `ironlab testbed up` makes two hosts (namespaces, a dockerd each, the image, an
// agent each), `up` again changes nothing, traffic crosses the emulated NIC, `ironlab run` uses the testbed with
// no further step (a two-host campaign whose floods cross lab-2's NIC both ways), and `down` leaves nothing: no
// namespace, interface, process, mount, iptables rule or file.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, until } from '../e2e/helpers.ts';
import { NOTHING_LEFT, labLeftovers, labSkipReason, useTempTestbedDir } from './helpers.ts';
import { SqliteStore } from '../../orchestrator/store/sqlite-store.ts';

const skip = labSkipReason('test/lab/local-lab', { root: true, commands: ['dockerd', 'nsenter', 'unshare', 'iperf3', 'debootstrap'] });

describe.skipIf(skip)('emulated lab: testbed up, run, status, down', () => {
  const dir = skip ? '' : useTempTestbedDir();
  afterAll(async () => {
    if (!skip) await runCli(['testbed', 'down']);
  });

  it('brings up two hosts with their agents authenticated, and a second up changes nothing', async () => {
    const up = await runCli(['testbed', 'up']);
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout).toMatch(/lab-1\s+server\s+docker\s+169\.254\.0\.11\s.*authenticated/);
    expect(up.stdout).toMatch(/lab-2\s+peer\s+docker\s+169\.254\.0\.12\s.*authenticated/);
    const again = await runCli(['testbed', 'up']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('already up, nothing changed');
  });

  it('carries traffic from host 2 into host 1 across the emulated NIC', async () => {
    // A server that stays up (not -1): a client that comes too early and fails must not use it up.
    const server = spawn('ip', ['netns', 'exec', 'ironlab-lab-1', 'iperf3', '-s', '-B', '169.254.0.11'], { stdio: 'ignore' });
    try {
      // The server takes a moment to listen: retry the (bounded, 1 s) client until it reports a transfer.
      const received = await until(
        'iperf3 across the lab',
        async () => {
          const report = JSON.parse(await run(['ip', 'netns', 'exec', 'ironlab-lab-2', 'iperf3', '-c', '169.254.0.11', '-t', '1', '-J']));
          return report.end?.sum_received as { bits_per_second: number } | undefined;
        },
        20_000,
      );
      expect(received.bits_per_second).toBeGreaterThan(1e8);
    } finally {
      server.kill();
    }
  });

  it('runs a two-host campaign with no further step: receiver floods from lab-2 into lab-1, sender floods back, across the emulated NIC', async () => {
    const work = mkdtempSync(join(tmpdir(), 'ironlab-lab-run-'));
    const campaign = join(work, 'lab-mini.yaml');
    writeFileSync(
      campaign,
      [
        'name: lab-mini',
        'hosts: [{ id: lab-1, backend: docker, roles: [server] }, { id: lab-2, backend: docker, roles: [peer] }]',
        'defaults: { warmupS: 1, durationS: 2, peer: { cpus: [1] }, nicCpus: [0] }',
        // Both emulated hosts share this machine's two cores: lab-2's sending peer has core 1, which it shares with
        // both hosts' agents and engines (quiet cores move lab-1's there for the window). Measured there, it carries
        // 0.35-0.44 Gbit/s of an offered 1 Gbit/s (the guards repeated every attempt), so the flood offers what one
        // shared core can send; a lab of real hosts has no such limit.
        'matrix: [{ workload: sysbench }, { workload: udp-receiver, rateGbps: [0.3] }, { workload: tcp-receiver }, { workload: tcp-sender }]',
        'enforcement: [none]',
        // blocks: a paired interval has n - 1 degrees of freedom (t = 3.18 at n = 4, 2.26 at n = 10) and narrows with
        // sqrt(n). The UDP flood costs the victim 4-10% here (below), and quiet CI runs measured a block CV of 3-4%:
        // half-width ~2.5% at 10 blocks (6.7% at 4, where its lower bound sat at 0.99-1.04)
        'repetitions: 10',
        'maxAttempts: 2', // a run out of guard (steal, foreign CPU) is repeated once: at most 80 runs
        '',
      ].join('\n'),
    );
    const before = nicBytes('ironlab-lab-2');
    const db = join(work, 'ironlab.db');
    const r = await runCli(['run', campaign, '--db', db, '--no-progress']);
    const after = nicBytes('ironlab-lab-2');
    console.log(r.stdout); // the table, with each scenario's CV and conditions: what a failure below is read against
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('provides lab-1, lab-2');
    expect(r.stdout).toMatch(/40\/40 runs done/);

    const store = SqliteStore.open(db);
    const runs = await store.runs((await store.latestCampaign())!.id);
    await store.close();
    const value = (x: (typeof runs)[number], metric: string, container?: string) =>
      x.samples.filter((s) => s.metric === metric && (!container || s.labels.container === container)).reduce((a, s) => a + s.value, 0);
    // bytes the neighbours' floods delivered inside the measurement windows: a lower bound of what crossed
    const delivered = (workload: string) =>
      runs
        .filter((x) => x.spec.workload === workload)
        .reduce((a, x) => a + (value(x, 'neighbour_throughput_gbps') * 1e9 * value(x, 'window_s')) / 8, 0);
    for (const x of runs.filter((x) => x.spec.workload !== 'sysbench')) {
      expect(x.provenance, x.runId).toMatchObject({
        peerHostId: 'lab-2',
        'peer.role': 'peer',
        role: 'server',
        steering: 'rps:eth0->0',
        'peer.steering': 'rps:eth0->1',
      });
      expect(value(x, 'neighbour_throughput_gbps', 'neighbour-0'), x.runId).toBeGreaterThan(0.05);
      expect(value(x, 'victim_events_per_sec'), x.runId).toBeGreaterThan(0);
    }
    // the peers' own counters come from lab-2: the udp-receiver's sending peer, the tcp-sender's receiving one
    for (const x of runs.filter((x) => x.spec.workload === 'udp-receiver'))
      expect(value(x, 'packets_sent', 'peer-0'), x.runId).toBeGreaterThan(1000);
    for (const x of runs.filter((x) => x.spec.workload === 'tcp-sender'))
      expect(value(x, 'packets_received', 'peer-0'), x.runId).toBeGreaterThan(1000);
    for (const x of runs.filter((x) => x.spec.workload === 'sysbench')) expect(x.provenance.peerHostId, x.runId).toBeUndefined();
    // the udp-receiver flood achieved what it was offered (0.3 Gbit/s), by lab-2's iperf3 report and by lab-1's
    // NIC counters of the neighbour (payload), within 15%: in every run measured in guard. A run kept out of guard
    // (its attempts used up) is marked as such by the report; under host steal its window's rate is not the flood's
    // (a CI run in a steal spell read 0.351 by the NIC at 34% steal on core 0, while every run in guard read 0.30).
    const udpRuns = runs.filter((x) => x.spec.workload === 'udp-receiver');
    const outOfGuard = udpRuns.filter((x) => x.guardReason !== null);
    if (outOfGuard.length > 0)
      console.log(
        `rate check: ${outOfGuard.length} udp-receiver run(s) kept out of guard, not checked: ${outOfGuard.map((x) => `${x.runId} (${x.guardReason})`).join('; ')}`,
      );
    for (const x of udpRuns) {
      expect(value(x, 'offered_gbps', 'neighbour-0'), x.runId).toBe(0.3);
      if (x.guardReason !== null) continue;
      for (const source of ['iperf3', 'nic']) {
        const achieved = x.samples
          .filter((s) => s.metric === 'achieved_gbps' && s.labels.container === 'neighbour-0' && s.labels.source === source)
          .map((s) => s.value);
        expect(achieved, `${x.runId} ${source}`).toHaveLength(1);
        expect(Math.abs(achieved[0] - 0.3) / 0.3, `${x.runId} ${source}: ${achieved[0]} of 0.3 Gbit/s`).toBeLessThan(0.15);
      }
    }
    // and each receiver flood's receive work on lab-1's victim core costs the victim: a penalty above 1, and its
    // interval's lower bound too (issue #10)
    const rep = await runCli(['report', '--db', db, '--format', 'json']);
    const scenarios = JSON.parse(rep.stdout).scenarios as {
      id: string;
      workload: string;
      penalty: { mean: number; ci95: [number, number] | null };
      softirqCeiling: number | null;
      conditionNotes: string[];
    }[];
    const receivers = scenarios.filter((s) => s.workload.endsWith('-receiver'));
    expect(receivers.map((s) => s.workload).sort()).toEqual(['tcp-receiver', 'udp-receiver']);
    // The UDP flood this lab's sender can send (0.3 Gbit/s, its core shared with the NIC's NAPI) costs the victim
    // 4-10% (agents/enforcement/README.md, "what a UDP receive flood can cost core 0 here"): quiet CI runs measured
    // 1.04 [0.99, 1.09] and 1.08 [1.04, 1.12] at 4 blocks, 1.07 [1.00, 1.14] at 4, 1.06 [1.00, 1.12] at 8; hence 10.
    for (const s of receivers) {
      expect(s.penalty.mean, s.id).toBeGreaterThan(1);
      expect(s.penalty.ci95, `${s.id}: an interval`).not.toBeNull();
      expect(s.penalty.ci95![0], `${s.id} lower bound (mean ${s.penalty.mean}, ${s.conditionNotes.join('; ')})`).toBeGreaterThan(1);
    }
    // The UDP flood stays within what the softirq time on the victim's core could cost (the report's softirq ceiling;
    // /proc/stat's tick-sampled softirq time over-counts in this VM, 0.64 s of a 2 s window in one run, so the ceiling
    // is loose here).
    const udp = receivers.find((s) => s.workload === 'udp-receiver')!;
    expect(udp.softirqCeiling, `${udp.id}: a softirq ceiling from the core times`).not.toBeNull();
    expect(udp.penalty.mean, `${udp.id} against its softirq ceiling`).toBeLessThanOrEqual(udp.softirqCeiling! * 1.05);
    // lab-2 -> lab-1 (receiver scenarios) left through lab-2's NIC; lab-1 -> lab-2 (sender scenarios) came in through it
    expect(delivered('udp-receiver')).toBeGreaterThan(1e7);
    expect(delivered('tcp-sender')).toBeGreaterThan(1e7);
    expect(after.tx - before.tx).toBeGreaterThanOrEqual(delivered('udp-receiver'));
    expect(after.rx - before.rx).toBeGreaterThanOrEqual(delivered('tcp-sender'));
    // and nothing of the runs is left in either host's engine or on its NIC
    for (const host of ['lab-1', 'lab-2']) {
      const sock = `unix:///run/ironlab-testbed/${host}.sock`;
      expect(await run(['docker', '-H', sock, 'ps', '-aq', '--filter', 'label=ironlab.run'])).toBe('');
      expect(await run(['docker', '-H', sock, 'network', 'ls', '-q', '--filter', 'label=ironlab.run'])).toBe('');
      expect(await run(['ip', '-n', `ironlab-${host}`, '-o', 'link', 'show', 'type', 'macvlan'])).toBe('');
    }
  }, 600_000); // sixteen runs; the guards may repeat some (each attempt ~10 s)

  it('shows agents, engines and the image in status', async () => {
    const s = await runCli(['testbed', 'status']);
    expect(s.code).toBe(0);
    expect(s.stdout).toMatch(
      /lab-1\s+server\s+docker\s+169\.254\.0\.11\s+(waiting|connected) \(pid \d+\)\s+\d+ s ago\s+running\s+[0-9a-f]{12}\s+1/,
    );
    expect(s.stdout).toMatch(/lab-2\s.*running\s+[0-9a-f]{12}/);
  });

  it('a testbed in another directory neither takes this lab down nor brings up a second one over it', async () => {
    const elsewhere = join(mkdtempSync(join(tmpdir(), 'ironlab-other-')), 'testbed');
    process.env.IRONLAB_TESTBED_DIR = elsewhere;
    try {
      for (const verb of ['down', 'up']) {
        const r = await runCli(['testbed', verb]);
        expect(r.code, `testbed ${verb}: ${r.stderr}`).toBe(2);
        expect(r.stderr).toContain(`belongs to the testbed in ${dir}`);
      }
    } finally {
      process.env.IRONLAB_TESTBED_DIR = dir;
    }
    expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).toMatch(/ironlab-lab-1/);
    const s = await runCli(['testbed', 'status']);
    expect(s.stdout).toMatch(/lab-1\s.*running/);
  });

  it("takes everything down, twice without complaint, with a dead QEMU lab's tap on its bridge", async () => {
    // what a QEMU lab killed during `up` leaves: its tap, cabled to the lab bridge
    execFileSync('ip', ['tuntap', 'add', 'dev', 'ironlab-t9', 'mode', 'tap']);
    execFileSync('ip', ['link', 'set', 'ironlab-t9', 'master', 'ironlab-br0']);
    const down = await runCli(['testbed', 'down']);
    expect(down.code, down.stderr).toBe(0);
    expect(down.stdout).toContain('netns ironlab-lab-1');
    expect(down.stdout).toContain('tap ironlab-t9');
    expect(labLeftovers(dir)).toEqual(NOTHING_LEFT);
    const again = await runCli(['testbed', 'down']);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('no testbed to take down');
  });
});

/** Bytes through a lab host's NIC (its eth0), as its kernel counts them. */
function nicBytes(netns: string): { rx: number; tx: number } {
  const [link] = JSON.parse(execFileSync('ip', ['-j', '-s', '-n', netns, 'link', 'show', 'dev', 'eth0'], { encoding: 'utf8' }));
  return { rx: link.stats64.rx.bytes, tx: link.stats64.tx.bytes };
}

function run(argv: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${argv.join(' ')} exited ${code}`))));
  });
}
