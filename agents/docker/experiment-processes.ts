// The experiment's own processes on this host, by who they are: this agent, the ironlab orchestrator that
// started it (a local `ironlab run`) and the other agents that one started, Docker's daemons, containerd with
// its shims, and what each of them started (a bpftrace, a clang). Containers are not among them: their
// processes descend from a shim but are the experiment's subjects. ironlab processes of other campaigns on
// the same machine (another worktree's tests) are not this experiment's: they count as `other`. One /proc scan.
import { readFileSync, readdirSync } from 'node:fs';
import { parsePidStat } from './proc-parsers.ts';

export const EXPERIMENT_WHO = ['agent', 'dockerd', 'containerd', 'orchestrator'] as const;
export type ExperimentWho = (typeof EXPERIMENT_WHO)[number];
/** The label values of foreign_cpu_time_s: the experiment's processes, and everything else. */
export type ForeignWho = ExperimentWho | 'other';

export interface HostProcess {
  pid: number;
  ppid: number;
  comm: string;
  startTicks: number;
}

/** Who a process is by its name alone (null: not a daemon; ask what it runs, or its parent). */
export function daemonWho(comm: string): ExperimentWho | null {
  if (comm === 'dockerd' || comm === 'docker-proxy') return 'dockerd';
  if (comm === 'containerd' || comm.startsWith('containerd-shim')) return 'containerd';
  return null;
}

/** An ironlab CLI process: 'agent' for `ironlab agent`, 'orchestrator' for any other command; null otherwise. */
export function ironlabRole(cmdline: string): 'agent' | 'orchestrator' | null {
  const argv = cmdline.split('\0');
  const bin = argv.findIndex((a) => /ironlab(\.mjs)?$/.test(a));
  if (bin < 0) return null;
  return argv[bin + 1] === 'agent' ? 'agent' : 'orchestrator';
}

/** Every process of the experiment, by who; a process someone of them started counts as theirs. */
export function experimentProcesses(self = process.pid, proc = '/proc'): Map<ExperimentWho, HostProcess[]> {
  const all = new Map<number, HostProcess>();
  for (const entry of readdirSync(proc)) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const s = parsePidStat(readFileSync(`${proc}/${entry}/stat`, 'utf8'));
      all.set(Number(entry), { pid: Number(entry), ppid: s.ppid, comm: s.comm, startTicks: s.startTicks });
    } catch {
      // processes exit while we scan
    }
  }
  const cmdline = (pid: number) => {
    try {
      return readFileSync(`${proc}/${pid}/cmdline`, 'utf8');
    } catch {
      return '';
    }
  };
  // This agent and the ironlab processes it descends from (the orchestrator of a local run).
  const roots = new Set<number>([self]);
  for (let p = all.get(self)?.ppid; p && p > 1 && all.get(p)?.comm === 'node' && ironlabRole(cmdline(p)); p = all.get(p)?.ppid)
    roots.add(p);
  const own = new Map<number, ExperimentWho | null>();
  const resolve = (pid: number, depth = 0): ExperimentWho | null => {
    if (own.has(pid)) return own.get(pid)!;
    const p = all.get(pid);
    if (!p || depth > 64) return null;
    let who: ExperimentWho | null = pid === self ? 'agent' : daemonWho(p.comm);
    if (!who && roots.has(pid)) who = ironlabRole(cmdline(pid));
    // A container's processes descend from a shim: they are the experiment's subjects, not its machinery.
    const parent = all.get(p.ppid);
    const inContainer = parent?.comm.startsWith('containerd-shim') && !p.comm.startsWith('containerd-shim');
    if (!who && !inContainer && p.ppid > 1) {
      const up = resolve(p.ppid, depth + 1);
      // Under one of ours: an agent it started is an agent, anything else belongs to its parent.
      if (up === 'agent' || up === 'orchestrator') who = (p.comm === 'node' && ironlabRole(cmdline(pid))) || up;
      else who = up;
    }
    own.set(pid, who);
    return who;
  };
  const out = new Map<ExperimentWho, HostProcess[]>(EXPERIMENT_WHO.map((w) => [w, []]));
  for (const p of all.values()) {
    if (p.ppid === 2 || p.pid === 2) continue; // kernel threads
    const who = resolve(p.pid);
    if (who) out.get(who)!.push(p);
  }
  return out;
}
