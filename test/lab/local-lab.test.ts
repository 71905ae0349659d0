// The emulated lab for real: `ironlab testbed up` makes two hosts (namespaces, a dockerd each, the image, an
// agent each), `up` again changes nothing, traffic crosses the emulated NIC, `ironlab run` uses the testbed with
// no further step, and `down` leaves nothing: no namespace, interface, process, mount, iptables rule or file.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, until } from '../e2e/helpers.ts';
import { NOTHING_LEFT, labLeftovers, labSkipReason, useTempTestbedDir } from './helpers.ts';

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
    const server = spawn('ip', ['netns', 'exec', 'ironlab-lab-1', 'iperf3', '-s', '-1', '-B', '169.254.0.11'], { stdio: 'ignore' });
    // The server takes a moment to listen: retry the (bounded, 1 s) client until it connects.
    const client = await until('iperf3 across the lab', () => run(['ip', 'netns', 'exec', 'ironlab-lab-2', 'iperf3', '-c', '169.254.0.11', '-t', '1', '-J']), 20_000);
    server.kill();
    expect(JSON.parse(client).end.sum_received.bits_per_second).toBeGreaterThan(1e8);
  });

  it('runs a campaign on the testbed with no further step', async () => {
    const work = mkdtempSync(join(tmpdir(), 'ironlab-lab-run-'));
    const campaign = join(work, 'lab-mini.yaml');
    writeFileSync(campaign, [
      'name: lab-mini',
      'hosts: [{ id: lab-1, backend: docker, roles: [server] }, { id: lab-2, backend: docker, roles: [peer] }]',
      'defaults: { warmupS: 0.5, durationS: 2, peer: { cpus: [1] }, nicCpus: [0] }',
      'matrix: [{ workload: sysbench }, { workload: tcp-receiver }]',
      'enforcement: [none]',
      'repetitions: 1',
      '',
    ].join('\n'));
    const r = await runCli(['run', campaign, '--db', join(work, 'ironlab.db'), '--no-progress']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('provides lab-1, lab-2');
    expect(r.stdout).toMatch(/2\/2 runs done/);
  });

  it('shows agents, engines and the image in status', async () => {
    const s = await runCli(['testbed', 'status']);
    expect(s.code).toBe(0);
    expect(s.stdout).toMatch(/lab-1\s+server\s+docker\s+169\.254\.0\.11\s+(waiting|connected) \(pid \d+\)\s+\d+ s ago\s+running\s+[0-9a-f]{12}\s+1/);
    expect(s.stdout).toMatch(/lab-2\s.*running\s+[0-9a-f]{12}/);
  });

  it('takes everything down, twice without complaint', async () => {
    const down = await runCli(['testbed', 'down']);
    expect(down.code, down.stderr).toBe(0);
    expect(down.stdout).toContain('netns ironlab-lab-1');
    expect(labLeftovers(dir)).toEqual(NOTHING_LEFT);
    const again = await runCli(['testbed', 'down']);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('no testbed to take down');
  });
});

function run(argv: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${argv.join(' ')} exited ${code}`))));
  });
}
