// What the agent changed in sysfs/procfs (rps_cpus, IRQ affinity) and in cgroups (a cgroup it made, a process
// it moved into one for the measurement window), with the original values, kept in a file so that an agent
// started after a crash (kill -9) can put them back before it accepts work. A value is written to the ledger
// *before* it is changed on the host: a crash between the two leaves a harmless entry. Entries are put back
// newest first, so a process goes back to its cgroup before the cgroup it was moved into is removed.
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parsePidStat } from './proc-parsers.ts';

export interface ChangedValue {
  path: string;
  original: string;
  runId: string;
  campaignId: string;
  /** value (default): write `original` back to `path`. move: a process (pid `original`, started at
   *  `startTicks`) goes back to the cgroup whose cgroup.procs is `path`. dir: a cgroup directory we made. */
  kind?: 'value' | 'move' | 'dir';
  startTicks?: number;
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

  /** Record that process `pid` (started at `startTicks`) is in the cgroup of `procsFile`, before moving it out. */
  rememberMove(procsFile: string, pid: number, startTicks: number, runId: string, campaignId: string): void {
    const all = this.entries();
    if (all.some((e) => e.kind === 'move' && e.original === String(pid) && e.path === procsFile)) return;
    all.push({ path: procsFile, original: String(pid), runId, campaignId, kind: 'move', startTicks });
    this.save(all);
  }

  /** Record a cgroup directory before making it: putting it back removes it (its processes to the parent). */
  rememberDir(dir: string, runId: string, campaignId: string): void {
    const all = this.entries();
    if (all.some((e) => e.path === dir)) return;
    all.push({ path: dir, original: '', runId, campaignId, kind: 'dir' });
    this.save(all);
  }

  /** Put back the entries `which` selects, newest first; paths that are gone (a removed veth) are dropped. */
  restore(which: (e: ChangedValue) => boolean): string[] {
    const all = this.entries();
    const restored: string[] = [];
    const keep: ChangedValue[] = [];
    for (const e of [...all].reverse()) {
      if (!which(e)) {
        keep.unshift(e);
        continue;
      }
      try {
        putBack(e);
        restored.push(e.kind === 'move' ? `pid ${e.original} -> ${e.path}` : e.path);
      } catch {
        keep.unshift(e); // try again at the next reap rather than forget the original
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

function putBack(e: ChangedValue): void {
  if (e.kind === 'dir') {
    if (!existsSync(e.path)) return;
    // A process a moved one started meanwhile is in there too: it goes to the parent cgroup.
    for (const pid of readFileSync(join(e.path, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean))
      moveProcess(join(dirname(e.path), 'cgroup.procs'), pid);
    for (const sub of readdirSync(e.path, { withFileTypes: true }).filter((d) => d.isDirectory()))
      putBack({ ...e, path: join(e.path, sub.name) });
    return rmdirSync(e.path);
  }
  if (e.kind === 'move') {
    // The same pid and start time: the same process (a pid reused after a crash is someone else's).
    let stat: string;
    try {
      stat = readFileSync(`/proc/${e.original}/stat`, 'utf8');
    } catch {
      return; // gone
    }
    if (parsePidStat(stat).startTicks !== e.startTicks || !existsSync(e.path)) return;
    return moveProcess(e.path, e.original);
  }
  if (existsSync(e.path)) writeFileSync(e.path, e.original);
}

function moveProcess(procsFile: string, pid: string): void {
  try {
    writeFileSync(procsFile, pid);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err; // exited meanwhile: nothing to move
  }
}
