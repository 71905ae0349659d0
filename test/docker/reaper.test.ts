// The reaper for real: an agent killed with -9 in the middle of a run leaves containers, a network and a
// changed rps_cpus behind; an agent started afterwards removes and restores all of it before it accepts work.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import Docker from 'dockerode';
import { describe, expect, it } from 'vitest';
import { Agent } from '../../agents/agent.ts';
import { DockerBackend } from '../../agents/backends/docker-backend.ts';
import { RestoreLedger } from '../../agents/docker/restore-ledger.ts';
import { dockerReadiness } from './helpers/ready.ts';

const { ready } = await dockerReadiness();
const docker = new Docker();

async function ours(hostId: string): Promise<number> {
  const c = await docker.listContainers({ all: true, filters: { label: [`ironlab.host=${hostId}`] } });
  const n = await docker.listNetworks({ filters: { label: [`ironlab.host=${hostId}`] } });
  return c.length + n.length;
}

describe.skipIf(!ready)('reaper (real engine)', () => {
  it('an agent started after kill -9 removes the leftovers before it connects', async () => {
    const hostId = 'reaper-test-crash';
    await new DockerBackend({ hostId }).reap();
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/docker/helpers/hold-run.ts', hostId, 'tcp-receiver'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (d) => String(d).includes('ready') && resolve());
      child.on('exit', (code) => reject(new Error(`helper exited ${code}`)));
    });
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));

    expect(await ours(hostId)).toBeGreaterThanOrEqual(4); // victim, neighbour, peer, network
    const changed = new RestoreLedger(hostId).entries();
    expect(changed.length).toBeGreaterThan(0);
    // killed inside its quiet window: Docker's daemons sit in the run's cgroups, off the victim's core
    expect(changed.filter((e) => e.kind === 'dir').map((e) => e.path.split('/').at(-1))).toContain(`ironlab-${hostId}-quiet`);
    const moved = changed.filter((e) => e.kind === 'move');
    expect(moved.length).toBeGreaterThan(0);

    const logs: string[] = [];
    const agent = new Agent({
      url: 'ws://127.0.0.1:9',
      token: 'x'.repeat(32),
      hostId,
      backend: new DockerBackend({ hostId }),
      version: 'test',
      log: (l) => logs.push(l),
    });
    await agent.start();
    await agent.stop();
    expect(await ours(hostId)).toBe(0);
    expect(new RestoreLedger(hostId).entries()).toEqual([]);
    for (const e of changed.filter((e) => !e.kind || e.kind === 'value'))
      if (existsSync(e.path)) expect(readFileSync(e.path, 'utf8').trim()).toBe(e.original);
    for (const e of changed.filter((e) => e.kind === 'dir')) expect(existsSync(e.path), e.path).toBe(false);
    // every moved process still alive is back in its own cgroup (the held agent itself is gone)
    for (const e of moved) {
      const hierarchy = e.path.split('/')[4]; // /sys/fs/cgroup/<hierarchy>/<own>/cgroup.procs
      const own = '/' + e.path.split('/').slice(5, -1).join('/');
      let now: string;
      try {
        now = readFileSync(`/proc/${e.original}/cgroup`, 'utf8');
      } catch {
        continue;
      }
      expect(now, `pid ${e.original}`).toMatch(new RegExp(`^\\d+:${hierarchy}:${own.replace(/[/.]/g, '\\$&')}$`, 'm'));
    }
    expect(logs.join('\n')).toMatch(/reaped \d+ leftover/);
  });

  it('reap(campaignId) leaves other campaigns alone', async () => {
    const hostId = 'reaper-test-campaign';
    const backend = new DockerBackend({ hostId });
    await backend.reap();
    const { testRun } = await import('../fakes/fake-backend.ts');
    const never = new AbortController().signal;
    await backend.setup(testRun({ runId: 'a', campaignId: 'keep' }), never);
    await backend.setup(testRun({ runId: 'b', campaignId: 'drop' }), never);
    const removed = await backend.reap('drop');
    expect(removed.some((r) => r.startsWith('network ironlab-'))).toBe(true);
    expect(await ours(hostId)).toBe(4); // victim + neighbour + idle peer + network of 'keep'
    await backend.reap();
    expect(await ours(hostId)).toBe(0);
  });
});
