// Which ironlab this is: its package root (where package.json, the workload recipe and the CLI live) and its
// version. Every layer reports it (the agent's hello, the orchestrator's provenance, the testbed's hosts).
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PACKAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export const IRONLAB_VERSION: string = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')).version;
