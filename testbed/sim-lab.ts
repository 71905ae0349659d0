// A simulated lab: N long-lived `--backend sim` agents on this machine, dialing 127.0.0.1 at a fixed port.
// No root, no namespaces: the same campaign files that run on the emulated lab run here, on the simulated
// host kernel.
import { agentAlive, startAgent, stopAgent } from './agent-process.ts';
import {
  ensureToken,
  hostDir,
  newAgent,
  newState,
  testbedDir,
  tokenFile,
  writeState,
  type TestbedHost,
  type TestbedState,
} from './state.ts';
import { step, type Say } from './steps.ts';

export const SIM_HUB = { host: '127.0.0.1', port: 7788 };

export function simLabPlan(n: number, dir = testbedDir()): TestbedState {
  const hosts: TestbedHost[] = Array.from({ length: n }, (_, i) => ({
    id: `lab-${i + 1}`,
    roles: i === 0 ? ['server'] : ['peer'],
    backend: 'sim',
    address: null,
    cores: { victim: [0], neighbours: [0], peers: [1], nic: [0] },
    agent: newAgent(hostDir(`lab-${i + 1}`, dir)),
    image: null,
  }));
  return newState('sim', hosts, SIM_HUB);
}

/** Start every host's agent that is not running; the state file records the pids. */
export async function simLabUp(state: TestbedState, say: Say, dir = testbedDir()): Promise<TestbedState> {
  ensureToken(dir);
  writeState(state, dir);
  for (const h of state.hosts) {
    if (agentAlive(h)) continue;
    h.agent.pid = await step(h.id, 'agent', say, () => startAgent(h, `ws://${state.hub.host}:${state.hub.port}`, tokenFile(dir)));
    writeState(state, dir);
  }
  return state;
}

export async function simLabDown(state: TestbedState): Promise<string[]> {
  const running = state.hosts.filter((h) => agentAlive(h));
  await Promise.all(running.map((h) => stopAgent(h)));
  return running.map((h) => `agent ${h.id}`);
}
