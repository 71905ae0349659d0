// `ironlab run local-docker-latency` as a user runs it: the redis latency victim beside a UDP and a TCP receiver
// flood and a sockperf ping-pong neighbour, on real containers. Every arm must give a result (the victim reports
// by time, so even a server slowed a hundredfold has a p99 of what completed), the report must name the p99 as
// the compared metric with its direction, and nothing may be left behind.
import Docker from 'dockerode';
import { describe, expect, it } from 'vitest';
import { SqliteStore } from '../../orchestrator/store/sqlite-store.ts';
import { RestoreLedger } from '../../agents/docker/restore-ledger.ts';
import { runDockerCampaign } from './helpers/campaign.ts';
import { dockerReadiness } from './helpers/ready.ts';
import { changedRps, rpsValues } from './helpers/host-state.ts';

const { ready } = await dockerReadiness();

describe.skipIf(!ready)('ironlab run local-docker-latency', () => {
  it('gives every neighbour a p99 penalty with an interval, records what completed, and leaves nothing', async () => {
    const rpsBefore = rpsValues();
    const { db, json, scenarios } = await runDockerCampaign('local-docker-latency');
    // compared with the idle control; the CPU-bound neighbour is a scenario of its own
    expect(json.scenarios.map((s) => s.id).sort()).toEqual([
      'redis: sockperf-pingpong',
      'redis: sysbench',
      'redis: tcp-receiver',
      'redis: udp-receiver rateGbps=1',
    ]);
    for (const s of json.scenarios) {
      expect(s.victim).toMatchObject({ metric: 'victim_p99_latency_ms', unit: 'ms', direction: 'lower-is-better' });
      expect(s.victim.interferenceValue, s.id).toBeGreaterThan(0);
    }
    // beyond the contract: read from the raw report (the contract's parse drops the fields beside it)
    for (const s of scenarios) expect((s as unknown as { controlScenario: string }).controlScenario, s.id).toBe('redis: idle');

    // Every run, the TCP receiver flood's included, has the window's p99 and the count of requests behind it.
    const store = SqliteStore.open(db);
    const runs = await store.runs((await store.latestCampaign())!.id);
    await store.close();
    for (const x of runs) {
      const of = (metric: string) => x.samples.filter((s) => s.metric === metric).map((s) => s.value);
      expect(of('victim_p99_latency_ms'), x.runId).toHaveLength(1);
      expect(of('victim_completed_requests')[0], `${x.runId} ${x.spec.workload}`).toBeGreaterThan(0);
    }

    const docker = new Docker();
    expect(await docker.listContainers({ all: true, filters: { label: ['ironlab.host=local-docker'] } })).toEqual([]);
    expect(await docker.listNetworks({ filters: { label: ['ironlab.host=local-docker'] } })).toEqual([]);
    expect(new RestoreLedger('local-docker').entries()).toEqual([]);
    expect(changedRps(rpsBefore, rpsValues())).toEqual([]);
  }, 900_000);
});
