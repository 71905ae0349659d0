// Runs inside a QEMU lab guest (testbed/qemu-lab.ts), from the project shared read-only over 9p: the agent's
// IRON switch code (agents/enforcement/iron-kernel.ts) against the guest's real /proc, plus what a test needs
// around it. Every change is recorded in /run/ironlab-iron.json before it is made, and `restore` undoes it.
//   on | off       set kernel.iron_enabled through IronKernelSwitch (the value found is kept for restore)
//   restore        put back the value found, remove the owner, stop iperf3, remove the cgroup
//   serve Q P      iperf3 -s in cgroup /sys/fs/cgroup/ironlab-rx with cpu.max "Q P", owner of this host's address
//   stats          /proc/iron_stats, /proc/iron_owners and nic-irqs eth0 as JSON
//   nic-irqs DEV   the MSI-X vectors of DEV's virtio device (/proc/interrupts) and each one's smp_affinity_list
//   irq-pin DEV CPUS   the agent's pinQueueIrqs (agents/docker/steering.ts) through its restore ledger; then nic-irqs DEV
//   irq-reap DEV   the agent's ledger puts back everything it recorded (what its reaper does after a crash); then nic-irqs DEV
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { IronKernelSwitch, detectIronKernel, parseIronStats, restoreIronSwitch } from '../agents/enforcement/iron-kernel.ts';
import { parseCpuList, parseInterrupts } from '../agents/docker/proc-parsers.ts';
import { RestoreLedger } from '../agents/docker/restore-ledger.ts';
import { nicDevice, pinQueueIrqs } from '../agents/docker/steering.ts';

const STATE = '/run/ironlab-iron.json';
const CG = '/sys/fs/cgroup/ironlab-rx';
const PIDFILE = '/run/ironlab-iperf3.pid';

interface GuestState {
  found?: '0' | '1';
  owner?: string;
}
const ledger = () => new RestoreLedger('guest', '/run/ironlab');
const LEDGER_SCOPE = { runId: 'kernel-suite', campaignId: 'kernel-suite' };
const load = (): GuestState => (existsSync(STATE) ? JSON.parse(readFileSync(STATE, 'utf8')) : {});
const save = (s: GuestState) => writeFileSync(STATE, JSON.stringify(s));

function myAddress(): string {
  const out = execFileSync('ip', ['-o', '-4', 'addr', 'show', 'dev', 'eth0'], { encoding: 'utf8' });
  const m = out.match(/inet (\d+\.\d+\.\d+\.\d+)\//);
  if (!m) throw new Error('eth0 has no IPv4 address');
  return m[1];
}

/** virtio_pci names its MSI-X vectors after the virtio device, not the interface: virtio0-input.0, -output.0, -config. */
function nicIrqs(dev: string) {
  const vdev = nicDevice(dev);
  if (!vdev) throw new Error(`${dev} has no device (not a NIC)`);
  const rows = parseInterrupts(readFileSync('/proc/interrupts', 'utf8')).filter((r) => r.name.startsWith(`${vdev}-`));
  return {
    device: vdev,
    irqs: rows.map((r) => ({
      irq: r.irq,
      name: r.name,
      counts: r.counts,
      affinity: readFileSync(`/proc/irq/${r.irq}/smp_affinity_list`, 'utf8').trim(),
    })),
  };
}

function main(argv: string[]): unknown {
  const [cmd, ...rest] = argv;
  const s = load();
  switch (cmd) {
    case 'on':
    case 'off': {
      const info = detectIronKernel();
      if (!info.present) throw new Error(info.reason);
      if (s.found === undefined) save({ ...s, found: info.enabled ? '1' : '0' });
      const sw = new IronKernelSwitch();
      sw.set(cmd === 'on');
      return { enabled: detectIronKernel().enabled, version: info.version, found: load().found };
    }
    case 'serve': {
      const [quota, period] = rest.map(Number);
      if (!(quota > 0 && period > 0)) throw new Error('serve QUOTA_US PERIOD_US');
      const addr = myAddress();
      save({ ...s, owner: addr });
      mkdirSync(CG, { recursive: true });
      writeFileSync(`${CG}/cpu.max`, `${quota} ${period}`);
      // The shell moves itself into the cgroup, then becomes iperf3 (bounded: it ends after one test).
      execFileSync('sh', ['-c', `echo $$ > ${CG}/cgroup.procs && exec iperf3 -s -D -1 -B ${addr} -I ${PIDFILE}`]);
      // iperf3 creates its pid file before it writes the pid: wait for the number (an empty read made the owner
      // line "ADDR " and the kernel refused it, EINVAL, on a loaded host).
      let pid = '';
      for (let i = 0; i < 100 && !/^\d+$/.test(pid); i++) {
        if (i) execFileSync('sleep', ['0.1']);
        pid = existsSync(PIDFILE) ? readFileSync(PIDFILE, 'utf8').replace(/\0/g, '').trim() : '';
      }
      if (!/^\d+$/.test(pid)) throw new Error(`iperf3 wrote no pid to ${PIDFILE} within 10 s`);
      writeFileSync('/proc/iron_owners', `${addr} ${pid}`);
      return { owner: addr, pid: Number(pid), cgroup: CG, cpuMax: readFileSync(`${CG}/cpu.max`, 'utf8').trim() };
    }
    case 'stats':
      return {
        nic: nicIrqs('eth0'),
        stats: parseIronStats(readFileSync('/proc/iron_stats', 'utf8')),
        owners: readFileSync('/proc/iron_owners', 'utf8').trim().split('\n').filter(Boolean),
        cpuStat: existsSync(`${CG}/cpu.stat`) ? readFileSync(`${CG}/cpu.stat`, 'utf8').trim().split('\n') : [],
      };
    case 'restore': {
      if (s.found !== undefined) restoreIronSwitch('/proc', s.found);
      if (s.owner) {
        try {
          writeFileSync('/proc/iron_owners', `-${s.owner}`);
        } catch {
          /* not registered (any more) */
        }
      }
      if (existsSync(PIDFILE)) {
        try {
          process.kill(Number(readFileSync(PIDFILE, 'utf8').trim()), 'SIGTERM');
        } catch {
          /* ended by itself (-1) */
        }
        rmSync(PIDFILE, { force: true });
      }
      for (let i = 0; i < 50 && existsSync(CG); i++) {
        try {
          rmdirSync(CG);
        } catch {
          execFileSync('sleep', ['0.1']);
        }
      }
      rmSync(STATE, { force: true });
      return { restored: s, enabled: detectIronKernel().enabled };
    }
    case 'nic-irqs':
      return nicIrqs(rest[0]);
    case 'irq-pin':
      return {
        pinned: pinQueueIrqs(ledger(), LEDGER_SCOPE, rest[0], parseCpuList(rest[1] ?? '')),
        ledger: ledger()
          .entries()
          .map((e) => e.path),
        nic: nicIrqs(rest[0]),
      };
    case 'irq-reap':
      return { restored: ledger().restore(() => true), nic: nicIrqs(rest[0] ?? 'eth0') };
    default:
      throw new Error(
        `unknown command ${JSON.stringify(cmd)}: on | off | restore | serve QUOTA PERIOD | stats | nic-irqs DEV | irq-pin DEV CPUS | irq-reap DEV`,
      );
  }
}

try {
  process.stdout.write(JSON.stringify(main(process.argv.slice(2))) + '\n');
} catch (err) {
  process.stderr.write(`guest-iron: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
