// The end of a campaign: the orchestrator tells every connected host, so a host's campaign-lived containers go
// at once rather than after the pool's idle timeout (a testbed's agents outlive the run).
import { describe, expect, it } from 'vitest';
import { endCampaign } from '../../orchestrator/machines/campaign-driver.ts';
import type { AgentConnection } from '../../orchestrator/hub/agent-connection.ts';
import { FakeBackend } from '../fakes/fake-backend.ts';
import { FakeAgent } from '../fakes/fake-agent.ts';

describe('campaign end', () => {
  it('reaps the campaign on every connected host, each time it ends, and survives a host that fails', async () => {
    const a = new FakeBackend('lab-1');
    const b = new FakeBackend('lab-2');
    const agents = new Map([
      ['lab-1', new FakeAgent('lab-1', a)],
      ['lab-2', new FakeAgent('lab-2', b)],
    ]);
    const hub = { connection: (h: string) => agents.get(h) as unknown as AgentConnection | undefined };
    const said: string[] = [];
    await endCampaign(hub, 'c-1', ['lab-1', 'lab-2', 'lab-3'], (l) => said.push(l)); // lab-3 never connected
    expect(a.reapedCampaigns).toEqual(['c-1']);
    expect(b.reapedCampaigns).toEqual(['c-1']);
    // a resumed campaign ends again under the same id: the agents reap again (a new op id, not a cached answer)
    agents.get('lab-2')!.lost = true;
    await endCampaign(hub, 'c-1', ['lab-1', 'lab-2'], (l) => said.push(l));
    expect(a.reapedCampaigns).toEqual(['c-1', 'c-1']);
    expect(said.join('\n')).toMatch(/campaign end: lab-2 did not reap \(agent lab-2 lost\); its pool goes after its idle timeout/);
  });
});
