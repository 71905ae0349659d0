// `ironlab agent`: run a host agent by hand (or as the testbed starts it). It dials the orchestrator, proves
// the token from a file only its owner can read, and serves its backend until stopped.
import { readFileSync, statSync } from 'node:fs';
import { Agent } from './agent.ts';
import type { Backend } from './backend.ts';
import { UserInputError } from '../workloads/common/errors.ts';
import { IRONLAB_VERSION } from '../workloads/common/version.ts';
import { pidAlive } from '../workloads/common/pid.ts';
import { BACKEND_KINDS, BACKENDS, isBackendKind } from './backends/registry.ts';
import { parseBlock } from './container-block.ts';

export interface AgentCommandOptions {
  connect: string;
  tokenFile: string;
  backend: string;
  hostId: string;
  reapGraceS: number;
  /** Started by an orchestrator on this machine: when that process is gone, reap and exit. */
  orchestratorPid?: number;
  /** The traffic NIC (real lab hosts): its queue IRQs are steered to the victim's core. */
  nic?: string;
  /** This host's container address block on the lab's wire (CIDR in 169.254.0.0/16; agents/container-block.ts). */
  containerBlock?: string;
}

/** `nic`: the traffic NIC of a real lab host, whose queue IRQs are pinned to the run's nicCpus (docker only). */
export async function createBackend(
  kind: string,
  hostId: string,
  nic: string | null = null,
  containerBlock: string | null = null,
): Promise<Backend> {
  if (!isBackendKind(kind)) throw new UserInputError(`unknown backend '${kind}' (${BACKEND_KINDS.join(' | ')})`, '--backend');
  const bad = containerBlock === null ? null : parseBlock(containerBlock);
  if (typeof bad === 'string') throw new UserInputError(bad, '--container-block');
  return BACKENDS[kind].create({ hostId, nic, containerBlock });
}

export function readToken(file: string): string {
  let mode: number;
  try {
    mode = statSync(file).mode;
  } catch {
    throw new UserInputError('cannot read the token file', file);
  }
  if (mode & 0o077)
    throw new UserInputError(`token file is readable by others (mode ${(mode & 0o777).toString(8)}); run: chmod 600 ${file}`, file);
  const token = readFileSync(file, 'utf8').trim();
  if (token.length < 32) throw new UserInputError('token is too short (at least 32 characters)', file);
  return token;
}

export async function runAgentCommand(opts: AgentCommandOptions): Promise<number> {
  if (!/^wss?:\/\//.test(opts.connect)) throw new UserInputError(`expected a ws:// or wss:// URL, got '${opts.connect}'`, '--connect');
  const token = readToken(opts.tokenFile);
  const backend = await createBackend(opts.backend, opts.hostId, opts.nic ?? null, opts.containerBlock ?? null);
  const agent = new Agent({
    url: opts.connect,
    token,
    hostId: opts.hostId,
    backend,
    version: IRONLAB_VERSION,
    reapGraceMs: opts.reapGraceS * 1000,
  });
  const stop = () => void agent.stop();
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  if (opts.orchestratorPid) watchOrchestrator(opts.orchestratorPid, agent);
  await agent.start();
  const exit = await agent.exited;
  if (exit.reason === 'refused') {
    process.stderr.write(`ironlab agent: refused by the orchestrator: ${exit.message}\n`);
    return 2;
  }
  await backend.reap().catch(() => []);
  return 0;
}

/** An agent the orchestrator started dies with it (after reaping), instead of waiting for a new one forever. */
function watchOrchestrator(pid: number, agent: Agent): void {
  const timer = setInterval(() => {
    if (!pidAlive(pid)) {
      clearInterval(timer);
      process.stderr.write(`[agent] orchestrator ${pid} is gone; reaping and exiting\n`);
      void agent.stop();
    }
  }, 500);
  timer.unref();
}
