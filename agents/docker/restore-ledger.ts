// What the agent changed in sysfs/procfs (rps_cpus, IRQ affinity), with the original values, kept in a file
// so that an agent started after a crash (kill -9) can put them back before it accepts work. A value is
// written to the ledger *before* it is changed on the host: a crash between the two leaves a harmless entry.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface ChangedValue {
  path: string;
  original: string;
  runId: string;
  campaignId: string;
}

export const STATE_DIR = process.env.IRONLAB_STATE_DIR ?? '/run/ironlab';

export class RestoreLedger {
  readonly file: string;
  constructor(hostId: string, dir = STATE_DIR) {
    this.file = join(dir, `restore-${hostId}.json`);
  }

  entries(): ChangedValue[] {
    if (!existsSync(this.file)) return [];
    try {
      return JSON.parse(readFileSync(this.file, 'utf8')) as ChangedValue[];
    } catch {
      return [];
    }
  }

  /** Record `path`'s current value (once: a second change of the same path keeps the first original). */
  remember(path: string, runId: string, campaignId: string): void {
    const all = this.entries();
    if (all.some((e) => e.path === path)) return;
    all.push({ path, original: readFileSync(path, 'utf8').trim(), runId, campaignId });
    this.save(all);
  }

  /** Write the originals back for the entries `which` selects; paths that are gone (a removed veth) are dropped. */
  restore(which: (e: ChangedValue) => boolean): string[] {
    const all = this.entries();
    const restored: string[] = [];
    const keep: ChangedValue[] = [];
    for (const e of all) {
      if (!which(e)) {
        keep.push(e);
        continue;
      }
      try {
        if (existsSync(e.path)) writeFileSync(e.path, e.original);
        restored.push(e.path);
      } catch {
        keep.push(e); // try again at the next reap rather than forget the original
      }
    }
    if (restored.length) this.save(keep);
    return restored;
  }

  private save(all: ChangedValue[]): void {
    // Nothing left to restore: no file either, so that a clean host has nothing of ours under /run/ironlab.
    if (all.length === 0) return void rmSync(this.file, { force: true });
    mkdirSync(dirname(this.file), { recursive: true });
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, JSON.stringify(all, null, 1));
    renameSync(tmp, this.file);
  }
}
