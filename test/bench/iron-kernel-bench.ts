// The IRON kernel's accounting cost (issue 17): one QEMU lab host booted on the IRON kernel (`testbed up --kernel
// iron --hosts 1`, the cached build), iperf3 -s in the guest in a cgroup that owns the guest's address (so every
// received packet is marked, timed and charged), and bounded 3 s TCP floods from the lab bridge (169.254.0.1)
// into it in off/on pairs, alternated (odd pairs "on" first: drift on a shared machine hits both sides alike).
// Per flood, around it in the guest: /proc/stat (CPU ticks), /proc/softirqs, /proc/net/dev (eth0's received
// packets: the tap's TSO super-packets, tens of KB each) and /proc/iron_stats; on this machine the CPU time of the
// guest's QEMU. Figures, medians over the pairs (testbed/kernel/README.md):
//   ironAccountingNsPerPacket   QEMU's CPU per received packet, on - off: what the hooks add. Under TCG the guest's
//                               clock is this machine's wall clock, so the guest's own busy time also grows while
//                               a vCPU thread waits for a host CPU (kept as ironGuestBusyNsPerPacketAdded)
//   ironThroughputLoss          1 - median of (Gbit/s on / Gbit/s off); Min/Max: the pairs' extremes
//   ironSoftirqNsPerPacketOff/On  the guest's softirq CPU per received packet (/proc/stat, tick-sampled)
//   ironMeasuredNsPerPacket     the network softirq time IRON itself timed (charged+self+unowned) per packet, on
//   ironGuestBootS              QEMU start to SSH answering
// The switch is written directly (`echo 0|1 > /proc/sys/kernel/iron_enabled`): the agent's switch code is node +
// tsx, tens of seconds a call under TCG, and the kernel suite covers it. The quota (4 CPUs' worth on a 2-vCPU
// guest) keeps the charging path running without ever throttling, so nothing is dropped: this is the cost of
// accounting and charging, not of enforcement. Needs root; holds /tmp/ironlab-real.lock from before `up` to
// after `down`. `sudo npx tsx test/bench/iron-kernel-bench.ts`, or `sudo npm run bench -- --json iron`.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { runCli } from '../e2e/helpers.ts';
import { ironLeftovers } from '../lab/helpers.ts';
import { cliFailed, withBenchTestbed } from './bench-testbed.ts';
import { guestRun, tapName } from '../../testbed/qemu-lab.ts';
import { LAB_HUB_ADDRESS } from '../../testbed/lab-network.ts';
import { readState, type TestbedHost } from '../../testbed/state.ts';
import { IRON_STATS, IRON_SWITCH, parseIronStats } from '../../agents/enforcement/iron-kernel.ts';
import { parseNetDev, parsePidStat, parseProcStat, parseSoftirqs, totalTicks } from '../../agents/docker/proc-parsers.ts';

const USER_HZ_NS = 1e7; // /proc/stat counts in USER_HZ (100 per second)
const CG = '/sys/fs/cgroup/ironlab-bench';
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

interface Snapshot {
  enabled: string;
  iron: Record<string, number>;
  netRx: number; // NET_RX softirqs, all CPUs
  busy: number; // ticks, all CPUs, neither idle nor iowait
  softirq: number; // ticks, all CPUs
  rxPackets: number; // eth0
  rxBytes: number;
}

interface Flood {
  on: boolean;
  gbps: number;
  packets: number;
  bytesPerPacket: number;
  qemuNsPerPacket: number;
  busyNsPerPacket: number;
  softirqNsPerPacket: number;
  ironNsPerPacket: number;
  netRxPerPacket: number;
  d: (k: string) => number;
}

// One SSH call sets the switch (when asked) and reads every counter: sections apart by a line of '@@'.
const SNAPSHOT = `cat /proc/${IRON_SWITCH}; echo @@; cat /proc/${IRON_STATS}; echo @@; cat /proc/softirqs; echo @@; cat /proc/stat; echo @@; cat /proc/net/dev`;

async function snapshot(h: TestbedHost, dir: string, set?: boolean): Promise<Snapshot> {
  const script = set === undefined ? SNAPSHOT : `echo ${set ? 1 : 0} > /proc/${IRON_SWITCH} && ${SNAPSHOT}`;
  const [enabled, iron, softirqs, stat, netDev] = (await guestRun(h, ['sh', '-c', script], 60_000, dir)).split('@@\n');
  const cores = [...parseProcStat(stat!).values()];
  const sum = (f: (c: (typeof cores)[number]) => number) => cores.reduce((a, c) => a + f(c), 0);
  const eth0 = parseNetDev(netDev!).get('eth0');
  if (!eth0) throw new Error('the guest has no eth0 in /proc/net/dev');
  return {
    enabled: enabled!.trim(),
    iron: parseIronStats(iron!),
    netRx: (parseSoftirqs(softirqs!).NET_RX ?? []).reduce((a, b) => a + b, 0),
    busy: sum((c) => totalTicks(c) - c.idle - c.iowait),
    softirq: sum((c) => c.softirq),
    rxPackets: eth0.rxPackets,
    rxBytes: eth0.rxBytes,
  };
}

function iperf3(address: string, seconds: number): number {
  const out = execFileSync('iperf3', ['-c', address, '-B', LAB_HUB_ADDRESS, '-t', String(seconds), '-J'], {
    encoding: 'utf8',
    timeout: (seconds + 60) * 1000,
  });
  return JSON.parse(out).end.sum_received.bits_per_second / 1e9;
}

/** CPU time (user + system, USER_HZ ticks, all threads) of the guest's QEMU on this machine. */
function qemuCpuTicks(h: TestbedHost): number {
  const pid = readFileSync(h.vm!.pidFile, 'utf8').trim();
  const st = parsePidStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  return st.utime + st.stime;
}

async function flood(h: TestbedHost, dir: string, on: boolean, seconds: number): Promise<Flood> {
  const a = await snapshot(h, dir, on);
  if (a.enabled !== (on ? '1' : '0')) throw new Error(`iron_enabled reads ${a.enabled} after writing ${on ? 1 : 0}`);
  const q0 = qemuCpuTicks(h);
  const gbps = iperf3(h.address!, seconds);
  const q1 = qemuCpuTicks(h);
  const b = await snapshot(h, dir);
  const packets = b.rxPackets - a.rxPackets;
  if (packets <= 0) throw new Error('no packet reached the guest');
  const d = (k: string) => (b.iron[k] ?? 0) - (a.iron[k] ?? 0);
  return {
    on,
    gbps,
    packets,
    bytesPerPacket: (b.rxBytes - a.rxBytes) / packets,
    qemuNsPerPacket: ((q1 - q0) * USER_HZ_NS) / packets,
    busyNsPerPacket: ((b.busy - a.busy) * USER_HZ_NS) / packets,
    softirqNsPerPacket: ((b.softirq - a.softirq) * USER_HZ_NS) / packets,
    ironNsPerPacket: (d('charged_ns') + d('self_ns') + d('unowned_ns')) / packets,
    netRxPerPacket: (b.netRx - a.netRx) / packets,
    d,
  };
}

const line = (f: Flood) =>
  `  ${f.on ? 'on ' : 'off'} ${f.gbps.toFixed(3)} Gbit/s, ${f.packets} packets of ${f.bytesPerPacket.toFixed(0)} B, QEMU ${f.qemuNsPerPacket.toFixed(0)} ns/packet, guest busy ${f.busyNsPerPacket.toFixed(0)} ns/packet, softirq ${f.softirqNsPerPacket.toFixed(0)} ns/packet, ` +
  `NET_RX ${f.netRxPerPacket.toFixed(3)}/packet; iron: rx_marks +${f.d('rx_marks')}, tx_marks +${f.d('tx_marks')}, timed ${f.ironNsPerPacket.toFixed(0)} ns/packet ` +
  `(charged ${(f.d('charged_ns') / 1e6).toFixed(1)} ms, self ${(f.d('self_ns') / 1e6).toFixed(1)} ms, unowned ${(f.d('unowned_ns') / 1e6).toFixed(1)} ms, credited ${(f.d('credited_ns') / 1e6).toFixed(1)} ms), drops +${f.d('drops')}\n`;

export async function benchIronKernel(opts: { pairs?: number; seconds?: number } = {}): Promise<Record<string, number>> {
  const pairs = opts.pairs ?? 6;
  const seconds = opts.seconds ?? 3;
  if (process.getuid?.() !== 0) throw new Error('needs root (sudo npm run bench -- --json iron)');
  return withBenchTestbed('iron', async (dir) => {
    // The tap's name is fixed (ironlab-t1) and the lab bridge is shared: another lab on this machine would collide,
    // and a QEMU lab's `down` removes every lab network it finds.
    for (const l of [`/sys/class/net/${tapName(1)}`, '/var/run/netns/ironlab-lab-1'])
      if (existsSync(l)) throw new Error(`${l} exists: a lab is up on this machine (ironlab testbed down first)`);
    const u = await runCli(['testbed', 'up', '--kernel', 'iron', '--hosts', '1']);
    if (u.code !== 0) throw cliFailed('testbed up --kernel iron --hosts 1', u);
    const h = readState(dir)!.hosts[0]!;
    const bootS = h.vm!.bootSeconds!;
    // iperf3 -s (kept running: the guest and everything in it vanish with `down`) in a cgroup owning the address.
    await guestRun(
      h,
      [
        'sh',
        '-c',
        `mkdir -p ${CG} && echo '400000 100000' > ${CG}/cpu.max && echo $$ > ${CG}/cgroup.procs && ` +
          `iperf3 -s -D -B ${h.address} -I /run/ironlab-bench-iperf3.pid && sleep 1 && ` +
          `echo "${h.address} $(cat /run/ironlab-bench-iperf3.pid)" > /proc/iron_owners && cat /proc/iron_owners`,
      ],
      60_000,
      dir,
    );
    iperf3(h.address!, 1); // warm-up, not counted
    const floods: Flood[] = [];
    const ratios: number[] = [];
    const costs: number[] = [];
    const guestCosts: number[] = [];
    for (let i = 0; i < pairs; i++) {
      const onFirst = i % 2 === 1;
      const x = await flood(h, dir, onFirst, seconds);
      const y = await flood(h, dir, !onFirst, seconds);
      const [off, on] = onFirst ? [y, x] : [x, y];
      for (const f of [x, y]) process.stderr.write(line(f));
      floods.push(off, on);
      ratios.push(on.gbps / off.gbps);
      costs.push(on.qemuNsPerPacket - off.qemuNsPerPacket);
      guestCosts.push(on.busyNsPerPacket - off.busyNsPerPacket);
    }
    await snapshot(h, dir, false);
    const offs = floods.filter((f) => !f.on);
    const ons = floods.filter((f) => f.on);
    const drops = ons.reduce((a, f) => a + f.d('drops'), 0);
    if (drops) process.stderr.write(`  iron bench: ${drops} packets dropped with the switch on (the owner ran out of quota)\n`);
    process.stderr.write(
      `  on/off per pair ${ratios.map((r) => r.toFixed(3)).join(' ')}; QEMU ns/packet on - off per pair ${costs.map((c) => c.toFixed(0)).join(' ')}; guest busy ns/packet on - off ${guestCosts.map((c) => c.toFixed(0)).join(' ')}\n`,
    );
    const d = await runCli(['testbed', 'down']);
    if (d.code !== 0) throw cliFailed('testbed down', d);
    const left = Object.values(ironLeftovers(dir)).flat();
    for (const l of left) process.stderr.write(`  iron bench: left after down: ${l}\n`);
    return {
      ironGuestBootS: round(bootS),
      ironThroughputOffGbps: round(median(offs.map((f) => f.gbps)), 3),
      ironThroughputOnGbps: round(median(ons.map((f) => f.gbps)), 3),
      ironThroughputLoss: round(1 - median(ratios), 3),
      ironThroughputLossMin: round(1 - Math.max(...ratios), 3),
      ironThroughputLossMax: round(1 - Math.min(...ratios), 3),
      ironAccountingNsPerPacket: Math.round(median(costs)),
      ironAccountingNsPerPacketMin: Math.round(Math.min(...costs)),
      ironAccountingNsPerPacketMax: Math.round(Math.max(...costs)),
      ironQemuNsPerPacketOff: Math.round(median(offs.map((f) => f.qemuNsPerPacket))),
      ironGuestBusyNsPerPacketAdded: Math.round(median(guestCosts)),
      ironGuestBusyNsPerPacketOff: Math.round(median(offs.map((f) => f.busyNsPerPacket))),
      ironBytesPerPacket: Math.round(median(floods.map((f) => f.bytesPerPacket))),
      ironSoftirqNsPerPacketOff: Math.round(median(offs.map((f) => f.softirqNsPerPacket))),
      ironSoftirqNsPerPacketOn: Math.round(median(ons.map((f) => f.softirqNsPerPacket))),
      ironMeasuredNsPerPacket: Math.round(median(ons.map((f) => f.ironNsPerPacket))),
      ironDrops: drops,
      ironLeftoversAfterDown: left.length,
    };
  });
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(JSON.stringify(await benchIronKernel()));
