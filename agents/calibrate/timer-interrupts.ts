// A stimulus of timer interrupts on one core at a known rate, with no task woken and no network: a CPU-wide perf
// cpu-clock event (perf_event_open, pid -1) is an hrtimer on that core that fires every sample period in hard-irq
// context (perf_swevent_hrtimer) and, with no ring buffer mapped, writes nothing. What such an interrupt costs the
// task it lands on (IRQ entry and exit, the hrtimer expiry, re-programming the clock event device, which on a
// virtual machine is a VM exit, and the cache state it leaves) is what an HTB watchdog wakeup costs beyond its
// NET_TX softirq, which the eBPF accounting sees; `calibrate` measures it with this and writes it as
// htbWatchdogNsPerWakeup. Nothing outlives the file descriptor: closing it (or the process exiting) removes the
// event.
import { createRequire } from 'node:module';

/** x86-64 syscall number of perf_event_open (arch/x86/entry/syscalls/syscall_64.tbl). */
const SYS_PERF_EVENT_OPEN = 298;
/** PERF_ATTR_SIZE_VER0: the first 64 bytes of struct perf_event_attr, enough for a software event. */
const PERF_ATTR_SIZE_VER0 = 64;
const PERF_TYPE_SOFTWARE = 1;
const PERF_COUNT_SW_CPU_CLOCK = 0;
/** The kernel's floor for a cpu-clock hrtimer period (perf_swevent_init_hrtimer: max(10 us, period)). */
export const MIN_PERIOD_NS = 10_000;

/**
 * struct perf_event_attr (VER0) for a cpu-clock event firing every `periodNs`: type, size, config, sample_period;
 * sample_type, read_format and the flag bits zero (enabled at open, no sample written).
 */
export function cpuClockAttr(periodNs: number): Buffer {
  if (!Number.isInteger(periodNs) || periodNs < MIN_PERIOD_NS)
    throw new Error(`timer period ${periodNs} ns: an integer >= ${MIN_PERIOD_NS}`);
  const b = Buffer.alloc(PERF_ATTR_SIZE_VER0);
  b.writeUInt32LE(PERF_TYPE_SOFTWARE, 0);
  b.writeUInt32LE(PERF_ATTR_SIZE_VER0, 4);
  b.writeBigUInt64LE(BigInt(PERF_COUNT_SW_CPU_CLOCK), 8);
  b.writeBigUInt64LE(BigInt(periodNs), 16);
  return b;
}

type Fn = (...args: unknown[]) => any;
let libc: { syscall: Fn; close: Fn; errno: () => number } | null = null;
function bind() {
  if (libc) return libc;
  const koffi = createRequire(import.meta.url)('koffi');
  const c = koffi.load('libc.so.6');
  const errnoLocation = c.func('int *__errno_location()');
  libc = {
    syscall: c.func('long syscall(long number, ...)'),
    close: c.func('int close(int fd)'),
    errno: () => koffi.decode(errnoLocation(), 'int') as number,
  };
  return libc;
}

/** Timer interrupts on `cpu` every `periodNs` until the returned function is called (needs root or CAP_PERFMON). */
export function armTimerInterrupts(cpu: number, periodNs: number): () => void {
  const attr = cpuClockAttr(periodNs);
  const c = bind();
  const fd = Number(c.syscall(SYS_PERF_EVENT_OPEN, 'void *', attr, 'int', -1, 'int', cpu, 'int', -1, 'unsigned long', 0));
  if (fd < 0) {
    const errno = c.errno();
    throw new Error(
      `perf_event_open(cpu-clock, cpu ${cpu}, every ${periodNs} ns) failed: errno ${errno}${errno === 13 || errno === 1 ? ' (needs root or CAP_PERFMON; see /proc/sys/kernel/perf_event_paranoid)' : ''}`,
    );
  }
  let open = true;
  return () => {
    if (open) c.close(fd);
    open = false;
  };
}
