// Proof that a testbed's agents are connected and authenticated: bind a short-lived hub at the testbed's fixed
// orchestrator address with the testbed's token, wait for every host's agent to complete the handshake, ask
// each for its facts, and let them go back to waiting. If a run holds the address, the agents are busy with it.
import type { HostFacts } from '../agents/backend.ts';
import { AgentHub } from '../orchestrator/hub/hub.ts';
import { sleep } from './processes.ts';
import type { TestbedState } from './state.ts';

export type ProbeResult =
  { kind: 'busy' } | { kind: 'probed'; facts: Map<string, HostFacts>; missing: string[]; errors: Map<string, string> };

/**
 * `alive(hostId)`: false once a host's agent process is known dead, so that nobody waits for it. `stallMs`: give up
 * when no further agent has connected for this long (a large lab's agents start a few at a time, each taking a
 * second or two of CPU, so the wait is for progress, not for all of them at once).
 */
export async function probeAgents(
  state: TestbedState,
  token: string,
  alive: (hostId: string) => boolean = () => true,
  stallMs = 30_000,
): Promise<ProbeResult> {
  const hub = new AgentHub({ token, expectedHosts: new Set(state.hosts.map((h) => h.id)), bindHost: state.hub.host, port: state.hub.port });
  try {
    await hub.listen();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') return { kind: 'busy' };
    throw err;
  }
  try {
    const ids = state.hosts.map((h) => h.id);
    const connected = () => ids.filter((id) => hub.connection(id)).length;
    let seen = 0;
    let progressAt = Date.now();
    while (ids.some((id) => !hub.connection(id) && alive(id)) && Date.now() - progressAt < stallMs) {
      await sleep(50);
      if (connected() > seen) [seen, progressAt] = [connected(), Date.now()];
    }
    const facts = new Map<string, HostFacts>();
    const errors = new Map<string, string>();
    for (const id of ids) {
      const c = hub.connection(id);
      if (!c) continue;
      try {
        facts.set(id, await c.request('facts', {}, { id: `testbed-probe/${Date.now()}/${id}`, timeoutMs: 20_000 }));
      } catch (err) {
        errors.set(id, (err as Error).message);
      }
    }
    return { kind: 'probed', facts, missing: ids.filter((id) => !facts.has(id) && !errors.has(id)), errors };
  } finally {
    await hub.close();
  }
}
