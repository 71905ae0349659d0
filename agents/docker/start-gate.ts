// Start gate: a run's containers are all started at once in setup (one batch: the engine's start of a
// container, with its network sandbox, is most of a run's overhead, and one parallel batch costs far less than
// a batch in setup and another in warm-up). A workload that must not begin until warm-up (sysbench, a flood
// client) is started behind a gate: the container's first process is a shell that waits for SIGUSR1 and then
// execs the workload, so the workload is still the container's PID 1 (its output in the container's log with
// the engine's timestamps, SIGINT to the container still reaches iperf3). Opening the gate is one signal from
// the agent, no engine call. The gate is bounded: without the signal the container exits by itself (124).
//
// PID 1 of a PID namespace only receives the signals it has a handler for: a SIGUSR1 sent before the shell set
// its trap would be lost, so the agent waits until /proc/<pid>/status shows the handler (SigCgt) first.
import { readFileSync } from 'node:fs';

/** How long a gate waits for its signal before the container exits without running the workload. */
export const GATE_BOUND_S = 600;

const SIGUSR1 = 10;

// dash: a trapped signal interrupts `wait` (one pending before `wait` starts too); the sleeper is then reaped,
// so no zombie stays behind the exec.
const gateScript = (boundS: number) =>
  `trap 'go=1' USR1; sleep ${boundS} & wait $!; kill $! 2>/dev/null; wait $! 2>/dev/null; [ -n "$go" ] && exec "$@"; exit 124`;

/** The argv of a container that runs `argv` once its gate is opened (or exits with 124 after `boundS`). */
export function gatedArgv(argv: string[], boundS = GATE_BOUND_S): string[] {
  if (!Number.isInteger(boundS) || boundS <= 0) throw new Error(`bad gate bound ${boundS}`);
  return ['sh', '-c', gateScript(boundS), 'ironlab-gate', ...argv];
}

/** Whether the process has a handler for SIGUSR1 (its gate is armed). */
export function gateArmed(pid: number, proc = '/proc'): boolean {
  try {
    const m = /^SigCgt:\s*([0-9a-f]+)$/m.exec(readFileSync(`${proc}/${pid}/status`, 'utf8'));
    return m !== null && (BigInt(`0x${m[1]}`) & (1n << BigInt(SIGUSR1 - 1))) !== 0n;
  } catch {
    return false;
  }
}

/** Wait until the gate of `pid` is armed (a few ms after the container starts), or fail after `timeoutMs`. */
export async function waitGateArmed(pid: number, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!gateArmed(pid)) {
    if (signal?.aborted) throw new Error('aborted');
    if (Date.now() > deadline) throw new Error(`the start gate of pid ${pid} was not armed within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Open the gate: the workload starts now. Returns when (ms since the epoch) it was opened. */
export function openGate(pid: number): number {
  process.kill(pid, 'SIGUSR1');
  return Date.now();
}
