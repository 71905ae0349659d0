// Slurm without a cluster: the campaign file's `slurm:` block, which hosts a campaign asks Slurm for, how its
// hosts land on the granted nodes, and the lab's slurm.conf / task prolog / epilog as written by `testbed up
// --slurm`. The real thing (daemons, two campaigns at once) is test/lab/slurm.test.ts.
import { describe, expect, it } from 'vitest';
import { parseCampaign } from '../../orchestrator/campaign/spec.ts';
import { hostRequest, onNodes } from '../../testbed/slurm-lease.ts';
import { UserInputError } from '../../workloads/common/errors.ts';
import { epilog, slurmConf, slurmFiles, taskProlog, type SlurmNode } from '../../testbed/slurm-config.ts';
import { localLabPlan } from '../../testbed/local-lab.ts';

const text = (hosts: string, slurm = '') => `name: s\nhosts: ${hosts}\nmatrix: [{ workload: sysbench }]\n${slurm}`;
const two = '[{ id: srv, backend: sim, roles: [server] }, { id: pr, backend: sim, roles: [peer] }]';

describe('slurm: campaign file', () => {
  it('reads a slurm: block, and an absent one leaves the spec as before (same hash)', () => {
    const s = parseCampaign(text(two, 'slurm: { partition: lab, constraint: "veth&sim", timeLimitMin: 30 }\n'));
    expect(s.spec.slurm).toEqual({ partition: 'lab', constraint: 'veth&sim', timeLimitMin: 30 });
    expect(parseCampaign(text(two)).spec.slurm).toBeUndefined();
    expect('slurm' in parseCampaign(text(two)).spec).toBe(false);
  });

  it('refuses a bad block with file:line:col', () => {
    expect(() => parseCampaign(text(two, 'slurm: { partition: "a b" }\n'), 'c.yaml')).toThrow(/c\.yaml:4:\d+.*partition name/);
    expect(() => parseCampaign(text(two, 'slurm: { nodes: 3 }\n'), 'c.yaml')).toThrow(UserInputError);
  });
});

describe('slurm: which hosts a campaign asks for', () => {
  const spec = parseCampaign(text(two)).spec;
  it('any N nodes when the campaign names none of the cluster, host i on node i with its roles', () => {
    expect(hostRequest(spec, ['lab-1', 'lab-2', 'lab-3'])).toEqual({ nodelist: null, count: 2 });
    const on = onNodes(spec, ['lab-3', 'lab-4']);
    expect(on.hosts.map((h) => [h.id, h.roles])).toEqual([
      ['lab-3', ['server']],
      ['lab-4', ['peer']],
    ]);
  });
  it('exactly its nodes when it names them all; a mix is refused naming both sides', () => {
    const named = parseCampaign(text('[{ id: lab-2, backend: sim }, { id: lab-1, backend: sim, roles: [peer] }]')).spec;
    expect(hostRequest(named, ['lab-1', 'lab-2'])).toEqual({ nodelist: ['lab-2', 'lab-1'], count: 2 });
    const mixed = parseCampaign(text('[{ id: lab-2, backend: sim }, { id: other, backend: sim, roles: [peer] }]')).spec;
    expect(() => hostRequest(mixed, ['lab-1', 'lab-2'])).toThrow(/lab-2 are nodes of the Slurm cluster but other are not/);
  });
});

describe("slurm: the emulated lab's configuration", () => {
  const state = localLabPlan(3, '/tmp/tb');
  const nodes: SlurmNode[] = state.hosts.map((h) => ({ host: h, cpus: 2, features: ['veth', 'docker'], dockerSocket: h.dockerd!.socket }));
  const f = slurmFiles('/tmp/tb');
  it('one node per emulated host at its link-local address, with its features, one exclusive partition', () => {
    const conf = slurmConf(f, nodes, '169.254.0.1');
    expect(conf).toMatch(/^SlurmctldHost=[^(]+\(169\.254\.0\.1\)$/m);
    expect(conf).toContain('NodeName=lab-2 NodeAddr=169.254.0.12 CPUs=2 Features=veth,docker State=UNKNOWN');
    expect(conf).toContain('PartitionName=lab Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=EXCLUSIVE');
    expect(conf).toContain('AuthInfo=socket=/tmp/tb/slurm/munge/munge.socket');
    // Everything Slurm writes stays in the testbed's directory.
    for (const line of conf.split('\n').filter((l) => /(File|Dir|Location|Prolog|Epilog)=/.test(l)))
      expect(line).toContain('=/tmp/tb/slurm/');
  });
  it("a job step gets its node's dockerd, NIC and container block; the epilog reaps with the node's dockerd", () => {
    expect(taskProlog(nodes)).toContain(
      `lab-3) echo "export DOCKER_HOST=unix://${state.hosts[2].dockerd!.socket}"; echo "export IRONLAB_NIC=eth0"; echo "export IRONLAB_CONTAINER_BLOCK=169.254.0.96/28" ;;`,
    );
    expect(epilog(nodes, '/usr/bin/node')).toMatch(
      /lab-1\) DOCKER_HOST=unix:\/\/\S+lab-1\.sock \/usr\/bin\/node \S+ironlab\.mjs reap --backend docker --host-id "\$SLURMD_NODENAME"/,
    );
  });
});
