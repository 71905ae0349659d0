// Where the QEMU lab's emulator threads run on this machine. Each guest vCPU is a host thread ("CPU n/TCG", or
// "CPU n/KVM"), beside QEMU's main loop (the NIC's and disks' backends), RCU and worker threads. Unpinned, on a
// 2-core host, four vCPU threads and the I/O threads share two cores, and a guest cannot see it (no steal time
// under TCG): the victim's "CPU" in lab-1 was not its own, and lab-iron's penalties did not reproduce. So lab-1's
// vCPU 0 (victim, neighbour and the NIC's receive work, testbed/qemu-lab.ts qemuLabPlan) gets a host core to
// itself.
// A core of its own is not enough where the scheduler groups tasks by session (sched_autogroup, on here): nice
// then orders tasks only within a session, and an engineer's `nice -n 19` callgrind in its session shares a core
// half and half with a QEMU in its own (QEMU -daemonize starts a session). Measured on lab-iron, 2 Dec: lab-1's
// vCPU 0 got 25-32% of host core 0 and waited on its run queue 54-72% of the time. So `up` also gives each lab
// QEMU's session a nice (/proc/PID/autogroup): the lab comes before work outside the lock. The other guests get a
// lower one than lab-1: on 2 cores they share core 1 with lab-1's vCPU 1, which otherwise took it (lab-2's vCPUs
// waited on the run queue ~100% of the time and its agent missed its heartbeats: every flood run failed).
// Both belong to the process (affinity to its threads, the nice to its session): they end with QEMU at `down`,
// nothing is left to undo.
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { run } from './exec.ts';

/** Host cores per guest vCPU (`vcpus[hostId][n]`, vCPU n), the cores of every other QEMU thread, each QEMU's session nice. */
export interface PinPlan {
  vcpus: Record<string, number[][]>;
  others: number[];
  nice: Record<string, number>;
}

/** The session nice of the first guest's QEMU (the victim's), and of the others'. */
export const QEMU_SESSION_NICE = { first: -10, others: -15 } as const;

const range = (from: number, to: number) => Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i);

/**
 * With a core to spare for the I/O threads, each vCPU gets a host core of its own (in order: lab-1's vCPU 0 on
 * core 0, ...) and the other threads the cores left; otherwise the first guest's vCPU 0 alone gets core 0 and
 * everything else shares the rest. One core: nothing to separate (null).
 */
export function planPinning(guests: { id: string; vcpus: number }[], hostCores: number): PinPlan | null {
  if (hostCores < 2 || guests.length === 0) return null;
  const total = guests.reduce((n, g) => n + g.vcpus, 0);
  const rest = range(1, hostCores);
  let next = 0;
  const vcpus = Object.fromEntries(
    guests.map((g, gi) => [g.id, range(0, g.vcpus).map((v) => (hostCores > total ? [next++] : gi === 0 && v === 0 ? [0] : rest))]),
  );
  const nice = Object.fromEntries(guests.map((g, gi) => [g.id, gi === 0 ? QEMU_SESSION_NICE.first : QEMU_SESSION_NICE.others]));
  return { vcpus, others: hostCores > total ? range(total, hostCores) : rest, nice };
}

export interface QemuThread {
  tid: number;
  name: string;
  /** The vCPU index of a "CPU n/TCG|KVM" thread, else null. */
  vcpu: number | null;
  /** Its affinity as the kernel reports it (Cpus_allowed_list), e.g. "0" or "0-1". */
  cores: string;
}

/** The threads of QEMU `pid`, from /proc (a thread gone meanwhile is skipped). */
export function qemuThreads(pid: number): QemuThread[] {
  const out: QemuThread[] = [];
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      const name = readFileSync(`/proc/${pid}/task/${t}/comm`, 'utf8').trim();
      const cores = /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync(`/proc/${pid}/task/${t}/status`, 'utf8'))?.[1] ?? '?';
      const m = /^CPU (\d+)\/(TCG|KVM)$/.exec(name);
      out.push({ tid: Number(t), name, vcpu: m ? Number(m[1]) : null, cores });
    } catch {
      /* the thread ended */
    }
  }
  return out.sort((a, b) => a.tid - b.tid);
}

/**
 * Apply the plan to one guest's QEMU (`taskset -p -c` per thread: sched_setaffinity on that thread only). Threads
 * QEMU starts later inherit their creator's affinity: its main loop's, that of the "other" threads. A QEMU whose
 * vCPUs share one thread (single-threaded TCG: "ALL CPUs/TCG") cannot be separated: that is an error.
 */
export async function pinQemu(pid: number, vcpuCores: number[][], others: number[]): Promise<QemuThread[]> {
  const threads = qemuThreads(pid);
  const vcpus = threads.filter((t) => t.vcpu !== null);
  if (vcpus.length !== vcpuCores.length)
    throw new Error(
      `QEMU ${pid} has ${vcpus.length} vCPU threads (${threads.map((t) => t.name).join(', ')}), ${vcpuCores.length} expected`,
    );
  for (const t of threads) await run(['taskset', '-p', '-c', (t.vcpu === null ? others : vcpuCores[t.vcpu]).join(','), String(t.tid)]);
  return qemuThreads(pid);
}

/** The nice of QEMU `pid`'s autogroup (its session), where the kernel groups by session; false where it does not. */
export function favourQemu(pid: number, nice: number): boolean {
  const f = `/proc/${pid}/autogroup`;
  if (!existsSync(f) || readFileSync('/proc/sys/kernel/sched_autogroup_enabled', 'utf8').trim() !== '1') return false;
  writeFileSync(f, String(nice));
  return true;
}

/** "CPU 0/TCG:0 CPU 1/TCG:1 +6 others:1": each vCPU thread's affinity, the others' grouped. */
export function describePinning(threads: QemuThread[]): string {
  const others = new Map<string, number>();
  for (const t of threads) if (t.vcpu === null) others.set(t.cores, (others.get(t.cores) ?? 0) + 1);
  return [
    ...threads.filter((t) => t.vcpu !== null).map((t) => `${t.name}:${t.cores}`),
    ...[...others].map(([cores, n]) => `+${n} other${n === 1 ? '' : 's'}:${cores}`),
  ].join(' ');
}
