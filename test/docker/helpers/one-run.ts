// One run through every phase on a real engine, for the suites that test one workload at a time: a docker backend
// for a test host of its own (its leftovers reaped first), the run measured and torn down whatever happens, and
// what the host still holds afterwards.
import Docker from 'dockerode';
import { DockerBackend } from '../../../agents/backends/docker-backend.ts';
import type { RunResult } from '../../../agents/backend.ts';
import type { RunSpec } from '../../../agents/run-spec.ts';

export async function reapedBackend(hostId: string): Promise<DockerBackend> {
  const backend = new DockerBackend({ hostId });
  await backend.reap();
  return backend;
}

/** setup, warm-up, the window and collect; teardown in any case. */
export async function measureOnce(backend: DockerBackend, run: RunSpec): Promise<RunResult> {
  const never = new AbortController().signal;
  await backend.setup(run, never);
  try {
    await backend.warmup(run.runId, never, () => {});
    await backend.measure(run.runId, never, () => {});
    return await backend.collect(run.runId);
  } finally {
    await backend.teardown(run.runId);
  }
}

/** The test host's containers still on the engine (none once the backend has reaped: a campaign's containers outlive its runs). */
export const containersLeft = (hostId: string) =>
  new Docker().listContainers({ all: true, filters: { label: [`ironlab.host=${hostId}`] } });
