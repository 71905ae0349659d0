// The reaper after a grace period, for real: an agent whose orchestrator goes away in the middle of a run
// keeps everything while it waits (the orchestrator may come back), then removes it all once the grace
// period has passed without one.
import Docker from 'dockerode';
import { describe, expect, it } from 'vitest';
import { Agent } from '../../agents/agent.ts';
import { DockerBackend } from '../../agents/backends/docker-backend.ts';
import { RestoreLedger } from '../../agents/docker/restore-ledger.ts';
import { AgentHub } from '../../orchestrator/hub/hub.ts';
import { testRun } from '../fakes/fake-backend.ts';
import { until } from '../e2e/helpers.ts';
import { dockerReadiness } from './helpers/ready.ts';

const { ready } = await dockerReadiness();
const docker = new Docker();
const hostId = 'reaper-test-grace';
const token = 'g'.repeat(64);

async function ours(): Promise<number> {
  const c = await docker.listContainers({ all: true, filters: { label: [`ironlab.host=${hostId}`] } });
  const n = await docker.listNetworks({ filters: { label: [`ironlab.host=${hostId}`] } });
  return c.length + n.length;
}

describe.skipIf(!ready)('reaper after the grace period (real engine)', () => {
  it('removes the run of an orchestrator that has been gone longer than the grace period', async () => {
    await new DockerBackend({ hostId }).reap();
    const hub = new AgentHub({ token, expectedHosts: new Set([hostId]) });
    const url = await hub.listen();
    const logs: string[] = [];
    const agent = new Agent({
      url,
      token,
      hostId,
      backend: new DockerBackend({ hostId }),
      version: 'test',
      reapGraceMs: 3000,
      log: (l) => logs.push(l),
    });
    const ready = new Promise<import('../../orchestrator/hub/agent-connection.ts').AgentConnection>((r) => hub.once('ready', r));
    await agent.start();
    const conn = await ready;
    const run = testRun({ runId: 'grace', campaignId: 'c-grace', workload: 'tcp-receiver', warmupS: 0, durationS: 30 });
    await conn.request('run.setup', { run }, { id: 'g/setup', timeoutMs: 60_000 });
    await conn.request('run.warmup', { runId: run.runId }, { id: 'g/warmup', timeoutMs: 60_000 });
    expect(await ours()).toBeGreaterThanOrEqual(4);
    const lostAt = Date.now();
    await hub.close(); // the orchestrator dies

    await new Promise((r) => setTimeout(r, 1000));
    expect(await ours()).toBeGreaterThanOrEqual(4); // still inside the grace period: kept
    await until('the reaper', () => logs.some((l) => /orchestrator gone for 3000 ms: reaped [1-9]\d* resource/.test(l)), 30_000);
    expect(Date.now() - lostAt).toBeGreaterThanOrEqual(3000);
    expect(await ours()).toBe(0);
    expect(new RestoreLedger(hostId).entries()).toEqual([]);
    await agent.stop();
  }, 120_000);
});
