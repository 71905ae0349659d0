// The emulated lab on this machine: N hosts, each a network namespace with its NIC (veth) on the lab bridge,
// its own dockerd with the workload image, RPS steering its NIC's receive work onto its NIC cores, and a
// long-lived agent inside it dialing the orchestrator address on the bridge. Steps go host by host within
// each stage (network, RPS, engine, image, agent), so a failing engine stops the lab before any slow image
// load. Every step is idempotent: `up` on a running lab finds everything in place and changes nothing.
import { rmSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { agentAlive, startAgent, stopAgent } from './agent-process.ts';
import { RUN_ROOT, dockerOf, dockerdPaths, ensureDockerd, mountsUnder, removeDockerd } from './host-dockerd.ts';
import { run } from './exec.ts';
import { ensureImage } from './host-image.ts';
import {
  LAB_BRIDGE,
  LAB_HUB_ADDRESS,
  LAB_HUB_PORT,
  ensureBridge,
  ensureForwardRule,
  ensureHostNetwork,
  containerBlock,
  hostAddress,
  MAX_LAB_HOSTS,
  netnsName,
  removeForwardRule,
  removeLabNetwork,
  setNicRps,
  vethName,
} from './lab-network.ts';
import { pidsWith, runsOurs, terminate } from './processes.ts';
import { hostDir, newAgent, newState, testbedDir, tokenFile, writeState, type TestbedHost, type TestbedState } from './state.ts';
import { step, type Say } from './steps.ts';

export function localLabPlan(n: number, dir = testbedDir()): TestbedState {
  const ncpu = cpus().length;
  const hosts: TestbedHost[] = Array.from({ length: n }, (_, i) => {
    const id = `lab-${i + 1}`;
    return {
      id,
      roles: i === 0 ? ['server'] : ['peer'],
      backend: 'docker',
      address: hostAddress(i + 1),
      ...(i + 1 <= MAX_LAB_HOSTS ? { containerBlock: containerBlock(i + 1) } : {}),
      // The hosts share this machine's cores; each takes the paper's layout: victim, neighbours and the NIC's
      // receive work on core 0, traffic peers on the last core.
      cores: { victim: [0], neighbours: [0], peers: [ncpu - 1], nic: [0] },
      netns: netnsName(id),
      veth: vethName(i + 1),
      dockerd: dockerdPaths(id, dir),
      agent: newAgent(hostDir(id, dir)),
      image: null,
    };
  });
  return newState('local', hosts, { host: LAB_HUB_ADDRESS, port: LAB_HUB_PORT }, LAB_BRIDGE);
}

/** Bring every host up (or find it up). The state file is written before anything is created, so `down`
 *  always knows what to remove, even after a crash in the middle. */
export async function localLabUp(
  state: TestbedState,
  say: Say,
  dir = testbedDir(),
  opts: { agents: boolean } = { agents: true },
): Promise<TestbedState> {
  writeState(state, dir);
  const save = () => writeState(state, dir);
  await step('lab', 'bridge', say, () => ensureBridge(dir));
  state.iptablesRule = await step('lab', 'iptables', say, ensureForwardRule);
  save();
  for (const [i, h] of state.hosts.entries()) await step(h.id, 'network', say, () => ensureHostNetwork(h.id, i + 1));
  for (const h of state.hosts) await step(h.id, 'rps', say, () => setNicRps(h.id, h.cores.nic));
  for (const h of state.hosts) await step(h.id, 'dockerd', say, () => ensureDockerd(h, join(hostDir(h.id, dir), 'dockerd.log')));
  const builder = dockerOf(state.hosts[0].dockerd!);
  for (const h of state.hosts) {
    const img = await step(h.id, 'image', say, () => ensureImage(dockerOf(h.dockerd!), builder, say));
    h.image = { tag: img.tag, id: img.id };
    save();
  }
  for (const h of state.hosts) {
    if (!opts.agents || agentAlive(h)) continue;
    h.agent.pid = await step(h.id, 'agent', say, () => startAgent(h, `ws://${state.hub.host}:${state.hub.port}`, tokenFile(dir)));
    save();
  }
  return state;
}

/** Agents first (they reap their containers), then engines, then the wire. Returns what was removed. Things
 *  a lost or stale state file does not name are found by what only this module creates: agents started with
 *  --netns-sysfs, processes under the testbed's /run root, our namespaces, links and iptables rule. */
export async function localLabDown(state: TestbedState | null): Promise<string[]> {
  const removed: string[] = [];
  const hosts = state?.hosts ?? [];
  for (const h of hosts.filter((h) => agentAlive(h))) {
    await stopAgent(h);
    removed.push(`agent ${h.id}`);
  }
  for (const pid of pidsWith('--netns-sysfs').filter((p) => runsOurs(p, 'lab-agent.ts'))) {
    await terminate(pid, 'lab-agent.ts', 10_000);
    removed.push(`agent ${pid}`);
  }
  for (const h of hosts) if (h.dockerd) removed.push(...(await removeDockerd(h.dockerd)));
  for (const pid of pidsWith(RUN_ROOT)) {
    await terminate(pid, RUN_ROOT, 20_000);
    removed.push(`process ${pid}`);
  }
  for (const m of mountsUnder([RUN_ROOT])) await run(['umount', '-l', m]).catch(() => undefined);
  rmSync(RUN_ROOT, { recursive: true, force: true });
  removed.push(...(await removeLabNetwork(hosts.map((h) => h.netns!).filter(Boolean))));
  if (await removeForwardRule()) removed.push('iptables rule (comment ironlab)');
  return removed;
}
