// Quiet cores: for the measurement window, the experiment's own processes (experiment-processes.ts: agent,
// dockerd, containerd and its shims, a local orchestrator) are kept off the victim's and the NIC's cores, and
// their CPU time is measured per core. Both with cgroup v1, by moving those processes, for the window only:
//   - cpuset `ironlab-<host>-quiet` holding every core but the victim's and the NIC's: the kernel migrates
//     each moved task off those cores at once (cpuset_attach) and keeps it off;
//   - cpuacct `ironlab-<host>-<who>`, one per who: cpuacct.usage_percpu is the scheduler's own per-CPU runtime
//     of the group (nanoseconds, exact; softirq run in their context included, as for every task on a kernel
//     without IRQ time accounting). /proc/<pid>/stat has no per-core split, and sampling would only estimate it.
// Every cgroup made and every process moved goes through the restore ledger first; collect, once the window is over (and
// teardown, and the reaper after a crash) moves each process back to its own cgroup and removes ours.
// Where the host does not allow it (no cgroup v1 cpuset/cpuacct, no core left outside the victim's and NIC's),
// the run goes on and the provenance says why. On a host where cpu and cpuacct are one hierarchy, the move
// also puts the daemons into one CFS group per who (weight 1024 each, no quota) for the window.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXPERIMENT_WHO, experimentProcesses, type ExperimentWho, type HostProcess } from './experiment-processes.ts';
import { cgroupPathFor, formatCpuList, parseCpuList } from './proc-parsers.ts';
import type { RestoreLedger } from './restore-ledger.ts';
import type { SteeringScope } from './steering.ts';
import { CGROUP_ROOT } from './cgroup-files.ts';

export interface QuietWindow {
  /** cpuacct directory of each who's group, read at the window's edges; empty when accounting is off. */
  accounting: Map<ExperimentWho, string>;
  /** The cores the experiment's processes were kept on; null when they were not moved. */
  quietOn: number[] | null;
  /** For the provenance: what was done, or why not. */
  note: string;
}

const PREFIX = 'ironlab-';

/** Our cgroups on this host: `ironlab-<host>-<what>` at the top of a v1 hierarchy. */
export function quietCgroupName(hostId: string, what: string): string {
  return `${PREFIX}${hostId.replace(/[^A-Za-z0-9_.-]/g, '_')}-${what}`;
}

/**
 * Move the experiment's processes into the window's cgroups: accounting always (where cpuacct v1 exists), the
 * cpuset only when `keepOff` leaves a core for them. Call `endQuietWindow` at the window's end.
 */
export function beginQuietWindow(
  ledger: RestoreLedger,
  scope: SteeringScope,
  hostId: string,
  keepOff: number[],
  root = CGROUP_ROOT,
): QuietWindow {
  const procs = experimentProcesses();
  const count = [...procs.values()].reduce((a, p) => a + p.length, 0);
  const out: QuietWindow = { accounting: new Map(), quietOn: null, note: '' };
  const notes: string[] = [];
  try {
    const cpuacct = join(root, 'cpuacct');
    if (!existsSync(join(cpuacct, 'cpuacct.usage_percpu')))
      notes.push('foreign cpu: no cgroup v1 cpuacct (cgroup v2 has no per-CPU usage)');
    else {
      for (const who of EXPERIMENT_WHO) {
        const dir = makeCgroup(ledger, scope, join(cpuacct, quietCgroupName(hostId, who)));
        moveAll(ledger, scope, root, 'cpuacct', dir, procs.get(who)!);
        out.accounting.set(who, dir);
      }
    }
    const cpuset = join(root, 'cpuset');
    const online = existsSync(join(cpuset, 'cpuset.cpus')) ? parseCpuList(readFileSync(join(cpuset, 'cpuset.cpus'), 'utf8')) : null;
    const spare = online?.filter((c) => !keepOff.includes(c)) ?? [];
    if (!online) notes.push('quiet cores off: no cgroup v1 cpuset (not done on cgroup v2)');
    else if (!spare.length) notes.push(`quiet cores off: no core outside ${formatCpuList(keepOff)} (the victim's and NIC's)`);
    else {
      const dir = makeCgroup(ledger, scope, join(cpuset, quietCgroupName(hostId, 'quiet')));
      writeFileSync(join(dir, 'cpuset.cpus'), formatCpuList(spare));
      writeFileSync(join(dir, 'cpuset.mems'), readFileSync(join(cpuset, 'cpuset.mems'), 'utf8').trim());
      for (const who of EXPERIMENT_WHO) moveAll(ledger, scope, root, 'cpuset', dir, procs.get(who)!);
      out.quietOn = spare;
      notes.unshift(
        `quiet cores: ${count} processes (${EXPERIMENT_WHO.map((w) => `${w} ${procs.get(w)!.length}`).join(', ')}) on ${formatCpuList(spare)}, off ${formatCpuList(keepOff)}`,
      );
    }
  } catch (err) {
    // Half a window is worse than none: put back what was moved, and say why.
    endQuietWindow(ledger, scope);
    return { accounting: new Map(), quietOn: null, note: `quiet cores off: ${(err as Error).message.slice(0, 200)}` };
  }
  out.note = notes.join('; ');
  return out;
}

/** Put every process of the run's window back into its own cgroups, and remove ours. */
export function endQuietWindow(ledger: RestoreLedger, scope: SteeringScope): string[] {
  return ledger.restore((e) => e.runId === scope.runId && e.campaignId === scope.campaignId && (e.kind === 'move' || e.kind === 'dir'));
}

function makeCgroup(ledger: RestoreLedger, scope: SteeringScope, dir: string): string {
  ledger.rememberDir(dir, scope.runId, scope.campaignId);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Move processes (whole thread groups) into `dir` of a v1 hierarchy, each one's own cgroup recorded first. */
function moveAll(ledger: RestoreLedger, scope: SteeringScope, root: string, hierarchy: string, dir: string, procs: HostProcess[]): void {
  for (const p of procs) {
    let own: string | null;
    try {
      own = cgroupPathFor(readFileSync(`/proc/${p.pid}/cgroup`, 'utf8'), hierarchy);
    } catch {
      continue; // exited
    }
    if (own === null) continue;
    // Left in one of ours by a run that died: its own cgroup is the hierarchy's root.
    if (own.split('/').some((part) => part.startsWith(PREFIX))) own = '/';
    ledger.rememberMove(join(root, hierarchy, own, 'cgroup.procs'), p.pid, p.startTicks, scope.runId, scope.campaignId);
    try {
      writeFileSync(join(dir, 'cgroup.procs'), String(p.pid));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // ESRCH: exited; EINVAL: a task the kernel will not move (a per-CPU or realtime one): it stays where it is.
      if (code !== 'ESRCH' && code !== 'EINVAL') throw err;
    }
  }
}
