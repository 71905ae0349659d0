// The campaign and run machines alone, in one process: 64 hosts whose agents answer every op on the next turn
// of the event loop (a collect with 45 samples, as a simulated run gives), a ledger that books nothing, and a
// campaign of 5,120 runs. What the orchestrator's xstate work costs per run, apart from the wire, the store
// and the analysis (`lab` measures the whole process). Run alone with `npx tsx test/bench/machines-bench.ts`.
import { createActor, fromPromise, waitFor } from 'xstate';
import { campaignMachine } from '../../orchestrator/machines/campaign-machine.ts';
import type { AgentClient } from '../../orchestrator/hub/agent-connection.ts';
import type { RunResult } from '../../agents/backend.ts';
import { testRun } from '../fakes/fake-backend.ts';

const HOSTS = 64;
const RUNS = 5120;

function collected(runId: string): RunResult {
  const samples = Array.from({ length: 45 }, (_, i) => ({
    metric: 'victim_events_per_sec',
    value: i,
    unit: 'events/s',
    labels: { container: 'victim' },
  }));
  return { runId, samples, provenance: {} };
}

/** An agent that answers on the next turn of the event loop: no backend, no wire. It takes a run in one
 *  request (run.execute), as a simulated host's agent does. */
function promptAgent(hostId: string): AgentClient {
  return {
    hostId,
    backend: 'sim',
    runsInOneRequest: true,
    request: (op, args) =>
      new Promise<never>((resolve) =>
        setImmediate(() =>
          resolve(
            (op === 'run.collect'
              ? collected((args as { runId: string }).runId)
              : op === 'run.execute'
                ? collected((args as { run: { runId: string } }).run.runId)
                : null) as never,
          ),
        ),
      ),
  };
}

export async function benchMachines(): Promise<Record<string, number>> {
  const hosts = Array.from({ length: HOSTS }, (_, i) => `h${i}`);
  const agents = new Map(hosts.map((h) => [h, promptAgent(h)]));
  const runs = Array.from({ length: RUNS }, (_, i) => testRun({ runId: `r${i}` }));
  const machine = campaignMachine.provide({
    actors: {
      provisionHosts: fromPromise(async () => hosts),
      prepareHosts: fromPromise(async () => {}),
      openLedger: fromPromise(async () => ({ todo: runs, total: RUNS, done: 0, failed: 0 })),
      analyse: fromPromise<unknown, { campaignId: string }>(async () => null),
    },
  });
  const t0 = process.cpuUsage();
  const actor = createActor(machine, {
    input: {
      campaignId: 'c1',
      serverHosts: hosts,
      agentFor: (h) => agents.get(h),
      hostWaitMs: 60_000,
      ledger: { startRun: () => 1, completeRun: () => {}, failRun: () => 'failed', releaseRun: () => {} },
    },
  }).start();
  const end = await waitFor(actor, (s) => s.status === 'done', { timeout: Infinity });
  const used = process.cpuUsage(t0);
  if (end.context.counts.done !== RUNS)
    throw new Error(`the machines finished ${end.context.counts.done} of ${RUNS} runs (${String(end.value)})`);
  return { machinesCpuMsPerRun: Math.round(((used.user + used.system) / 1000 / RUNS) * 1000) / 1000 };
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(JSON.stringify(await benchMachines()));
