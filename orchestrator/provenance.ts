// Where a result came from: ironlab's version and git revision (with a dirty flag), Node.js, the machine
// that ran the orchestrator. Hosts add their own facts (kernel, CPU, NIC driver) through the agents.
import { execFileSync } from 'node:child_process';
import { hostname } from 'node:os';
import { IRONLAB_VERSION, PACKAGE_ROOT } from '../workloads/common/version.ts';

export interface Provenance {
  ironlabVersion: string;
  gitRevision: string | null;
  gitDirty: boolean | null;
  node: string;
  orchestratorHost: string;
  [key: string]: unknown;
}

let cached: Provenance | null = null;

export function orchestratorProvenance(): Provenance {
  if (cached) return cached;
  const git = (args: string[]) => {
    try {
      return execFileSync('git', args, { cwd: PACKAGE_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return null;
    }
  };
  const rev = git(['rev-parse', 'HEAD']);
  const status = rev ? git(['status', '--porcelain', '--untracked-files=no']) : null;
  cached = {
    ironlabVersion: IRONLAB_VERSION,
    gitRevision: rev,
    gitDirty: status === null ? null : status.length > 0,
    node: process.version,
    orchestratorHost: hostname(),
  };
  return cached;
}
