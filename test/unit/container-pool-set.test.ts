// Campaign-lived containers: the set a run's pool holds depends on the run's settings only, so that a control
// arm and a flood arm with the same settings run in the same containers (the control's peers idle).
import { describe, expect, it } from 'vitest';
import { canonicalSpecs, plan } from '../../agents/backends/docker-backend.ts';
import { bridgeAddresses } from '../../agents/docker/traffic-network.ts';
import type { Shape } from '../../workloads/workload.ts';
import { testRun } from '../fakes/fake-backend.ts';

const addr = bridgeAddresses('169.254.7.');
const setOf = (over: Parameters<typeof testRun>[0], owns: (s: Shape) => boolean = () => true) => {
  const run = testRun(over);
  return canonicalSpecs(
    run,
    addr,
    plan(run, addr).filter((p) => owns(p.shape)),
    owns,
  )
    .map((s) => `${s.role} ${s.ip} cpus=${s.cpus} quota=${s.quotaUs ?? '-'}/${s.periodUs ?? '-'}`)
    .sort();
};

describe("a run's container set (container-pool.ts)", () => {
  it('is the same for the control and every flood arm with the same settings', () => {
    const control = setOf({ workload: 'sysbench', neighbours: 2 });
    expect(control).toEqual([
      'neighbour-0 169.254.7.10 cpus=0 quota=50000/100000',
      'neighbour-1 169.254.7.11 cpus=0 quota=50000/100000',
      'peer-0 169.254.7.100 cpus=1 quota=-/-',
      'peer-1 169.254.7.101 cpus=1 quota=-/-',
      'victim 169.254.7.2 cpus=0 quota=50000/100000',
    ]);
    for (const workload of ['udp-sender', 'udp-receiver', 'tcp-sender', 'tcp-receiver'] as const)
      expect(setOf({ workload, neighbours: 2 }), workload).toEqual(control);
  });

  it("follows the run's own quotas and K, and holds only the side's shapes across hosts", () => {
    expect(setOf({ neighbours: 1, victim: { quotaUs: 30000, periodUs: 100000, cpus: [0] } })).toContain(
      'victim 169.254.7.2 cpus=0 quota=30000/100000',
    );
    expect(setOf({ neighbours: 3 })).toHaveLength(7);
    expect(setOf({ workload: 'tcp-receiver' }, (s) => s === 'peer')).toEqual(['peer-0 169.254.7.100 cpus=1 quota=-/-']);
    expect(setOf({ workload: 'sysbench' }, (s) => s === 'peer')).toEqual(['peer-0 169.254.7.100 cpus=1 quota=-/-']);
    expect(setOf({ workload: 'tcp-receiver' }, (s) => s !== 'peer')).toEqual(setOf({ workload: 'sysbench' }, (s) => s !== 'peer'));
  });
});
