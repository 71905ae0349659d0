// How `ironlab run` uses a testbed that `ironlab testbed up` left running: if the campaign names hosts the
// testbed provides (by id), the run's hub binds the testbed's fixed orchestrator address with the testbed's
// token, and the testbed's long-lived agents (dialing that address with backoff) connect by themselves; the
// run starts agents of its own only for the campaign's other hosts.
import type { CampaignSpec } from '../orchestrator/campaign/spec.ts';
import { readState, stateFile, testbedDir, tokenFile } from './state.ts';
import { readFileSync } from 'node:fs';
import { UserInputError } from '../workloads/common/errors.ts';
import { agentAlive } from './agent-process.ts';

export interface TestbedForRun {
  bindHost: string;
  port: number;
  token: string;
  /** The token's file (mode 0600), for agents the run starts itself. */
  file: string;
  /** The campaign's hosts the testbed's agents serve. */
  hostIds: Set<string>;
  /** For the user: which testbed, where. */
  description: string;
}

export function testbedFor(spec: CampaignSpec, dir = testbedDir()): TestbedForRun | null {
  const state = readState(dir);
  if (!state) return null;
  const provided = new Set(state.hosts.map((h) => h.id));
  const hostIds = new Set(spec.hosts.map((h) => h.id).filter((id) => provided.has(id)));
  if (hostIds.size === 0) return null;
  if (state.slurm)
    throw new UserInputError(`the hosts of the testbed in ${stateFile(dir)} are leased through its Slurm: run with --slurm`, 'testbed');
  // Agents on this machine can be checked: a testbed whose agents are all gone (a reboot) is named, not waited for.
  // (The QEMU lab's agents run in its guests; an inventory's on other machines.)
  if (state.kind !== 'inventory' && state.kind !== 'qemu' && !state.hosts.some((h) => agentAlive(h)))
    throw new UserInputError(
      `the ${state.kind} testbed in ${stateFile(dir)} is not running (its agents are gone): run \`ironlab testbed up\` again, or \`ironlab testbed down\``,
      'testbed',
    );
  const token = readFileSync(tokenFile(dir), 'utf8').trim();
  const description = `testbed (${state.kind}, ${stateFile(dir)}) provides ${[...hostIds].join(', ')}; its agents dial ws://${state.hub.host}:${state.hub.port}`;
  return { bindHost: state.hub.host, port: state.hub.port, token, file: tokenFile(dir), hostIds, description };
}
