// The write-ahead record of what an enforcer changed on the host, one JSON file per enforcer, so that the
// reaper can undo it after the agent died (BPF links die with the process; quotas, tc filters, XDP programs
// attached through ip, pins and the IRON switch do not).
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TcAttached } from './tc.ts';
import type { XdpTarget } from './xdp.ts';

export const DEFAULT_STATE_DIR = process.env.IRONLAB_ENFORCEMENT_STATE_DIR ?? '/run/ironlab/enforcement';

export interface EnforcementState {
  id: string;
  pid: number;
  mode: string;
  quotas: { file: string; quotaUs: number }[];
  tc: (TcAttached & { aliased?: boolean })[];
  /** Devices given our XDP program (recorded before the attach). Absent in records of older agents. */
  xdp?: (XdpTarget & { aliased?: boolean })[];
  ironSwitch?: { procRoot: string; value: '0' | '1' };
  /** Addresses registered in /proc/iron_owners (recorded before the write). */
  ironOwners?: string[];
}

export function stateFile(dir: string, id: string): string {
  return join(dir, `ironlab-${id}.json`);
}

export function writeState(dir: string, s: EnforcementState): void {
  mkdirSync(dir, { recursive: true });
  const f = stateFile(dir, s.id);
  writeFileSync(f + '.tmp', JSON.stringify(s, null, 1));
  renameSync(f + '.tmp', f); // atomic: a reader never sees half a record
}

export function removeState(dir: string, id: string): void {
  rmSync(stateFile(dir, id), { force: true });
}

export function readStates(dir: string): EnforcementState[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.startsWith('ironlab-') && f.endsWith('.json'))
    .flatMap((f) => {
      try {
        return [JSON.parse(readFileSync(join(dir, f), 'utf8')) as EnforcementState];
      } catch {
        return []; // unreadable record: nothing we can restore from it
      }
    });
}
