// Pure parsers for the kernel files the docker backend reads. They take the file's text and return numbers;
// reading and timing live in counters.ts, so these are unit-tested against real samples (test/fixtures/proc).

/** /proc/stat per-core times in USER_HZ ticks (user nice system idle iowait irq softirq steal guest guest_nice). */
export interface CpuTimes {
  user: number;
  nice: number;
  system: number;
  idle: number;
  iowait: number;
  irq: number;
  softirq: number;
  steal: number;
}

export function parseProcStat(text: string): Map<number, CpuTimes> {
  const cores = new Map<number, CpuTimes>();
  for (const line of text.split('\n')) {
    const m = line.match(/^cpu(\d+)\s+(.*)$/);
    if (!m) continue;
    const [user, nice, system, idle, iowait, irq, softirq, steal] = m[2].trim().split(/\s+/).map(Number);
    cores.set(Number(m[1]), { user, nice, system, idle, iowait, irq, softirq, steal: steal ?? 0 });
  }
  return cores;
}

/** Sum of a core's fields. guest time is already inside user, so it is not added again. */
export function totalTicks(t: CpuTimes): number {
  return t.user + t.nice + t.system + t.idle + t.iowait + t.irq + t.softirq + t.steal;
}

/** /proc/softirqs: counts of raised-and-run softirqs per vector and CPU. `{NET_RX: [cpu0, cpu1, ...]}`. */
export function parseSoftirqs(text: string): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const line of text.split('\n').slice(1)) {
    const m = line.match(/^\s*([A-Z_]+):\s+(.*)$/);
    if (m) out[m[1]] = m[2].trim().split(/\s+/).map(Number);
  }
  return out;
}

/**
 * /proc/<pid>/stat: utime + stime in ticks, the parent, and the start time (ticks after boot: with the pid it
 * names one process, across pid reuse). comm may contain spaces and parentheses: split after the last ')'.
 */
export function parsePidStat(text: string): { comm: string; ppid: number; utime: number; stime: number; startTicks: number } {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) throw new Error('not a /proc/<pid>/stat line');
  const rest = text
    .slice(close + 2)
    .trim()
    .split(/\s+/);
  // rest[0] is field 3 (state): ppid is field 4, utime and stime fields 14 and 15, starttime field 22.
  return {
    comm: text.slice(open + 1, close),
    ppid: Number(rest[1]),
    utime: Number(rest[11]),
    stime: Number(rest[12]),
    startTicks: Number(rest[19] ?? NaN),
  };
}

/** cgroup v1 cpu.stat: nr_periods, nr_throttled, throttled_time (ns) and whatever else the kernel adds. */
export function parseKeyValues(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^-?\d+$/.test(v)) out[k] = Number(v);
  }
  return out;
}

/** cpuacct.usage_percpu: nanoseconds per CPU, space separated. */
export function parseUsagePercpu(text: string): number[] {
  return text.trim().split(/\s+/).filter(Boolean).map(Number);
}

/** /proc/<pid>/cgroup (v1 lines `id:controllers:path`, v2 `0::path`): the path of the hierarchy holding `controller`. */
export function cgroupPathFor(text: string, controller: string): string | null {
  for (const line of text.split('\n')) {
    const m = line.match(/^\d+:([^:]*):(.*)$/);
    if (m && m[1].split(',').includes(controller)) return m[2];
  }
  return null;
}

/** One row of /proc/interrupts: numeric IRQs only (NMI, LOC... are per-CPU events, not steerable). */
export interface IrqRow {
  irq: number;
  counts: number[];
  name: string;
}

export function parseInterrupts(text: string): IrqRow[] {
  const lines = text.split('\n');
  const ncpu = (lines[0].match(/CPU\d+/g) ?? []).length;
  const rows: IrqRow[] = [];
  for (const line of lines.slice(1)) {
    const m = line.match(/^\s*(\d+):\s+(.*)$/);
    if (!m) continue;
    const fields = m[2].trim().split(/\s+/);
    const counts = fields.slice(0, ncpu).map(Number);
    // After the counts: chip name, hwirq-trigger, then the action name(s) (the last field for NIC queues).
    rows.push({ irq: Number(m[1]), counts, name: fields[fields.length - 1] ?? '' });
  }
  return rows;
}

/** A queue vector: `txrx` carries both directions (ixgbe, ice, i40e); virtio-net has one per direction. */
export interface QueueIrq {
  irq: number;
  queue: number;
  kind: 'txrx' | 'rx' | 'tx';
}

/**
 * The queue IRQs of interface `dev`: ixgbe names them `<dev>-TxRx-<n>`, ice and i40e `<driver>-<dev>-TxRx-<n>`.
 * virtio-net names them after its virtio device, not the interface (`virtio0-input.<n>`, `virtio0-output.<n>`):
 * `device` is that name, the basename of /sys/class/net/<dev>/device (null for a virtual interface).
 * The misc/link/config vectors (`<dev>` alone, `ice-<pci>:misc`, `virtio0-config`) carry no packets and are left alone.
 */
export function queueIrqs(rows: IrqRow[], dev: string, device: string | null = null): QueueIrq[] {
  const esc = (x: string) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const txrx = new RegExp(`^(?:[a-z0-9_]+-)?${esc(dev)}-TxRx-(\\d+)$`);
  const virtio = device && /^virtio\d+$/.test(device) ? new RegExp(`^${device}-(input|output)\\.(\\d+)$`) : null;
  return rows.flatMap((r): QueueIrq[] => {
    const m = r.name.match(txrx);
    if (m) return [{ irq: r.irq, queue: Number(m[1]), kind: 'txrx' }];
    const v = virtio && r.name.match(virtio);
    return v ? [{ irq: r.irq, queue: Number(v[2]), kind: v[1] === 'input' ? 'rx' : 'tx' }] : [];
  });
}

/** CPU list syntax (`0-2,5`) <-> numbers, as in smp_affinity_list and cpuset.cpus. */
export function parseCpuList(text: string): number[] {
  const out: number[] = [];
  for (const part of text.trim().split(',').filter(Boolean)) {
    const [a, b] = part.split('-').map(Number);
    for (let c = a; c <= (b ?? a); c++) out.push(c);
  }
  return out;
}

export function formatCpuList(cpus: number[]): string {
  return [...new Set(cpus)].sort((a, b) => a - b).join(',');
}

/** rps_cpus mask: hex, comma-separated 32-bit words, most significant first (`00000000,00000001`). */
export function cpuMask(cpus: number[]): string {
  const words: number[] = [];
  for (const c of cpus) {
    const w = Math.floor(c / 32);
    while (words.length <= w) words.push(0);
    words[w] = (words[w] | (1 << (c % 32))) >>> 0;
  }
  return words
    .reverse()
    .map((w, i) => (i === 0 ? w.toString(16) : w.toString(16).padStart(8, '0')))
    .join(',');
}

export function parseCpuMask(text: string): number[] {
  const words = text.trim().split(',').reverse();
  const cpus: number[] = [];
  words.forEach((w, i) => {
    const n = parseInt(w || '0', 16);
    for (let b = 0; b < 32; b++) if ((n >>> b) & 1) cpus.push(i * 32 + b);
  });
  return cpus;
}

/** /proc/<pid>/net/snmp: `Udp: InDatagrams ...` header line + value line pairs -> {Udp: {InDatagrams: n}}. */
export function parseSnmp(text: string): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  const lines = text.split('\n');
  for (let i = 0; i + 1 < lines.length; i++) {
    const h = lines[i].match(/^(\w+):\s+(.*)$/);
    const v = lines[i + 1].match(/^(\w+):\s+(.*)$/);
    if (!h || !v || h[1] !== v[1] || /^[-\d\s]+$/.test(h[2])) continue;
    const keys = h[2].trim().split(/\s+/);
    const vals = v[2].trim().split(/\s+/).map(Number);
    out[h[1]] = Object.fromEntries(keys.map((k, j) => [k, vals[j]]));
    i++;
  }
  return out;
}

export interface DevCounters {
  rxBytes: number;
  rxPackets: number;
  rxDropped: number;
  txBytes: number;
  txPackets: number;
  txDropped: number;
}

/** /proc/<pid>/net/dev: per-interface counters (rx: bytes packets errs drop fifo frame compressed multicast; tx: ...). */
export function parseNetDev(text: string): Map<string, DevCounters> {
  const out = new Map<string, DevCounters>();
  for (const line of text.split('\n').slice(2)) {
    const m = line.match(/^\s*([^:\s]+):\s*(.*)$/);
    if (!m) continue;
    const f = m[2].trim().split(/\s+/).map(Number);
    out.set(m[1], { rxBytes: f[0], rxPackets: f[1], rxDropped: f[3], txBytes: f[8], txPackets: f[9], txDropped: f[11] });
  }
  return out;
}

/** /proc/net/softnet_stat, one hex row per CPU: what the receive backlog did (the row's CPU is column 13). */
export interface SoftnetRow {
  processed: number;
  /** Packets dropped because the CPU's backlog (netdev_max_backlog) was full. */
  dropped: number;
  /** net_rx_action stopped with work left (budget or 2 ms spent): the rest goes to the next round or ksoftirqd. */
  timeSqueeze: number;
  /** Backlogs this CPU was asked to process by another CPU's RPS (an IPI each). */
  receivedRps: number;
}

export function parseSoftnetStat(text: string): Map<number, SoftnetRow> {
  const out = new Map<number, SoftnetRow>();
  text
    .split('\n')
    .filter((l) => l.trim())
    .forEach((line, i) => {
      const f = line
        .trim()
        .split(/\s+/)
        .map((x) => parseInt(x, 16));
      // Kernels since 5.10 print the CPU index in column 13; older ones print rows in CPU order.
      const cpu = f.length >= 13 ? f[12] : i;
      out.set(cpu, { processed: f[0], dropped: f[1], timeSqueeze: f[2], receivedRps: f[9] ?? 0 });
    });
  return out;
}

/** The per-CPU event rows of /proc/interrupts (`CAL:`, `RES:`, `LOC:`...): name -> counts by CPU. */
export function parseIpiCounts(text: string): Record<string, number[]> {
  const lines = text.split('\n');
  const ncpu = (lines[0].match(/CPU\d+/g) ?? []).length;
  const out: Record<string, number[]> = {};
  for (const line of lines.slice(1)) {
    const m = line.match(/^\s*([A-Z]{3}):\s+(.*)$/);
    if (m) out[m[1]] = m[2].trim().split(/\s+/).slice(0, ncpu).map(Number);
  }
  return out;
}

/** /proc/<pid>/schedstat: nanoseconds on a CPU (exact, unlike stat's ticks), ns waiting, timeslices. */
export function parseSchedstat(text: string): { runNs: number; waitNs: number } {
  const [run, wait] = text.trim().split(/\s+/).map(Number);
  return { runNs: run, waitNs: wait };
}
