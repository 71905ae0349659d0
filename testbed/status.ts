// `testbed status`: for each host, its agent (process alive, connected or waiting, last heartbeat, from the
// status file the agent keeps), its engine (dockerd running and answering) and the workload image's digest.
// Nothing is changed; an inventory host is asked over SSH.
import { findImage } from '../workloads/image.ts';
import { agentAlive, readAgentStatus } from './agent-process.ts';
import { dockerOf, dockerdAlive, dockerdResponds } from './host-dockerd.ts';
import { closeInventorySsh, remoteAgentStatus, targetOf } from './inventory-lab.ts';
import { forwardRuleMissing, nicRps } from './lab-network.ts';
import { guestStatus } from './qemu-lab.ts';
import type { AgentStatus } from './lab-agent.ts';
import { sshRun } from './ssh.ts';
import { readState, testbedDir, type TestbedHost, type TestbedState } from './state.ts';

export interface HostStatus {
  host: TestbedHost;
  agentRunning: boolean;
  agent: AgentStatus | null;
  dockerd: 'running' | 'not running' | 'not answering' | 'n/a';
  image: string | null;
  nicRps: string | null;
  /** QEMU lab: the guest's running kernel and /proc/sys/kernel/iron_version (`none` without the switch). */
  kernel?: string | null;
  ironVersion?: string | null;
  /** QEMU lab: whether the guest's QEMU runs, and its threads' host cores now (testbed/qemu-pinning.ts). */
  vmRunning?: boolean;
  hostCores?: string | null;
}

export async function testbedStatus(dir = testbedDir()): Promise<{ state: TestbedState; hosts: HostStatus[]; warnings: string[] } | null> {
  const state = readState(dir);
  if (!state) return null;
  const hosts = await Promise.all(state.hosts.map((h) => hostStatus(state, h)));
  if (state.kind === 'inventory') await closeInventorySsh(state);
  const warnings: string[] = [];
  if ((state.kind === 'local' || state.kind === 'qemu') && (await forwardRuleMissing()))
    warnings.push(
      "iptables now drops the lab's bridged traffic (a dockerd started since up): run `ironlab testbed up` again to add the ACCEPT rule",
    );
  return { state, hosts, warnings };
}

async function hostStatus(state: TestbedState, h: TestbedHost): Promise<HostStatus> {
  if (state.kind === 'qemu') {
    const g = await guestStatus(h);
    return {
      host: h,
      agentRunning: g.agentRunning,
      agent: g.agent,
      dockerd: g.running ? g.dockerd : 'not running',
      image: g.image,
      nicRps: null,
      kernel: g.kernel,
      ironVersion: g.ironVersion,
      vmRunning: g.running,
      hostCores: g.hostCores,
    };
  }
  if (state.kind === 'inventory') {
    const t = targetOf(h);
    const agent = await remoteAgentStatus(h);
    const running = agent ? (await sshRun(t, ['cat', `/proc/${agent.pid}/cmdline`]).catch(() => '')).includes('lab-agent.ts') : false;
    const docker =
      h.backend === 'docker'
        ? await sshRun(t, ['docker', 'image', 'inspect', '--format', '{{.Id}}', h.image?.tag ?? 'none']).then(
            (s) => s.trim(),
            () => null,
          )
        : null;
    return {
      host: h,
      agentRunning: running,
      agent,
      dockerd: h.backend === 'docker' ? (docker ? 'running' : 'not answering') : 'n/a',
      image: docker,
      nicRps: null,
    };
  }
  const agent = readAgentStatus(h);
  if (!h.dockerd) return { host: h, agentRunning: agentAlive(h), agent, dockerd: 'n/a', image: null, nicRps: null };
  const alive = dockerdAlive(h.dockerd);
  const answers = alive && (await dockerdResponds(h.dockerd));
  const image = answers ? ((await findImage(dockerOf(h.dockerd)))?.id ?? null) : null;
  return {
    host: h,
    agentRunning: agentAlive(h),
    agent,
    dockerd: !alive ? 'not running' : answers ? 'running' : 'not answering',
    image,
    nicRps: await nicRps(h.id),
  };
}
