// Every backend an agent can serve, in one place: the kinds that schemas (campaign files, the wire protocol,
// testbed state) and CLI choices list, and how an agent creates each. A new backend (e.g. Kubernetes) is a
// class implementing agents/backend.ts plus its line here. Backends are imported on demand, so that listing
// the kinds does not load Docker's client or the simulated kernel.
import type { Backend } from '../backend.ts';
import type { BackendKind } from './kinds.ts';

export { BACKEND_KINDS, isBackendKind, type BackendKind } from './kinds.ts';

interface BackendEntry {
  description: string;
  create(o: { hostId: string; nic: string | null; containerBlock?: string | null }): Promise<Backend>;
}

/** Each kind (kinds.ts) has its entry here; the compiler checks both ways. */
export const BACKENDS: Record<BackendKind, BackendEntry> = {
  sim: {
    description: 'the simulated host kernel (agents/sim)',
    create: async ({ hostId }) => new (await import('./sim-backend.ts')).SimBackend({ hostId }),
  },
  docker: {
    description: 'real containers on this host (Docker engine, cgroup v1)',
    create: async ({ hostId, nic, containerBlock }) =>
      new (await import('./docker-backend.ts')).DockerBackend({ hostId, trafficNic: nic, containerBlock: containerBlock ?? null }),
  },
};
