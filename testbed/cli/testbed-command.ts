// `ironlab testbed up | status | down`: one command to a ready testbed — an emulated lab on this machine
// (default), a simulated lab (--sim), or a real lab from an inventory (--inventory FILE) — and one to remove it.
// After `up`, `ironlab run CAMPAIGN` uses the testbed's hosts with no further step (see testbed/testbed-for.ts).
import { Command, InvalidArgumentError } from 'commander';
import type { HostFacts } from '../../agents/backend.ts';
import { HostStepFailed, interruptUp } from '../steps.ts';
import { UserInputError } from '../../workloads/common/errors.ts';
import { stateFile, testbedDir, type TestbedState } from '../state.ts';
import { describePinning } from '../qemu-pinning.ts';
import type { HostStatus } from '../status.ts';

const wholeNumber = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new InvalidArgumentError('--hosts takes a whole number from 1 to 64');
  return n;
};

export function registerTestbedCommand(program: Command): void {
  const testbed = program
    .command('testbed')
    .description('bring a testbed up, show it, take it down (emulated lab, --sim, or --inventory)')
    .addHelpText(
      'after',
      `
State: $IRONLAB_TESTBED_DIR, else /var/lib/ironlab/testbed as root, else ~/.ironlab/testbed: testbed.json, the
token (mode 0600), per-host logs. The image archive is cached in $IRONLAB_CACHE_DIR (/var/lib/ironlab/cache).
Hosts are lab-1..lab-N; their agents dial ws://169.254.0.1:7787 (emulated), ws://127.0.0.1:7788 (--sim) or
the inventory's orchestrator address until \`ironlab run\` binds it: a campaign naming these hosts uses them.

Inventory (YAML):
  orchestrator: { address: orchestrator.lab, port: 7787 }   # where the hosts reach this machine
  hosts:
    - id: server-1
      address: server-1.lab                        # what SSH dials
      ssh: { user: root, key: ~/.ssh/id_ed25519, port: 22 }
      roles: [server]                              # server | peer
      nic: ens1f0                                  # the NIC the test traffic crosses
      containerBlock: 169.254.0.64/28              # docker hosts: the link-local block (at least /30) its run's
                                                   # containers take on the NIC's subnet; one of its own per host
      cores: { victim: [0], neighbours: [0], peers: [2], nic: [0] }
      installDir: /opt/ironlab-agent               # default; a directory of its own, at least two levels deep:
                                                   # up refuses a non-empty one it did not make, down removes
                                                   # only one it made (it carries .ironlab-agent-dir)
Each host is given its own key (derived from the testbed's token), so one host cannot speak for another.
Before anything is installed, every host is checked over SSH: Node.js 20 or later, and its containerBlock on its
NIC's subnet; a host that falls short is refused (exit 2) with what to run.`,
    );

  testbed
    .command('up')
    .description('bring up a testbed: N emulated hosts on this machine (root), N simulated hosts (--sim), or an inventory')
    .option('--hosts <n>', 'number of hosts (emulated or simulated lab)', wholeNumber, 2)
    .option('--sim', 'simulated hosts (no root needed)')
    .option('--inventory <file>', 'a real lab: hosts reached over SSH (YAML)')
    .option(
      '--slurm',
      'emulated lab: bring up a Slurm of its own (munged, slurmctld here, a slurmd per host); campaigns lease its hosts with `ironlab run --slurm`',
    )
    .option(
      '--kernel <name>',
      "QEMU lab: boot each host as a QEMU guest with this kernel (only `iron`: Debian's linux-source-6.1 with testbed/kernel/iron/*.patch, built and cached)",
      (v: string) => {
        if (v !== 'iron') throw new InvalidArgumentError('--kernel takes `iron`');
        return v as 'iron';
      },
    )
    .option('--json', 'print the testbed as JSON')
    .action(async (o) => {
      const { testbedUp } = await import('../testbed.ts');
      if (o.sim && o.inventory) throw new UserInputError('give --sim or --inventory, not both', '--sim');
      const t0 = Date.now();
      const say = (line: string) => process.stderr.write(`  ${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s  ${line}\n`);
      // Ctrl-C: finish the step in progress, then tear down (a second Ctrl-C quits at once; `down` cleans up).
      const onSigint = () =>
        interruptUp.signal.aborted ? process.exit(130) : (say('interrupted: tearing down after the current step'), interruptUp.abort());
      process.on('SIGINT', onSigint);
      try {
        const r = await testbedUp({
          hosts: o.hosts,
          sim: Boolean(o.sim),
          inventory: o.inventory,
          slurm: Boolean(o.slurm),
          kernel: o.kernel,
          say,
        });
        const facts = r.probe.kind === 'probed' ? r.probe.facts : new Map<string, HostFacts>();
        if (o.json) return void process.stdout.write(JSON.stringify({ ...r.state, facts: Object.fromEntries(facts) }, null, 2) + '\n');
        const secs = ((Date.now() - t0) / 1000).toFixed(1);
        process.stdout.write(`${header(r.state)}: ${r.unchanged ? 'already up, nothing changed' : 'up'} (${secs} s)\n`);
        if (r.state.kind === 'qemu') {
          const rows = r.state.hosts.map((h) => [
            h.id,
            h.roles.join(','),
            h.address ?? '-',
            h.vm?.release ?? '-',
            h.vm?.bootSeconds != null ? `${h.vm.bootSeconds.toFixed(1)} s` : '-',
            h.vm?.pinning ? describePinning(h.vm.pinning) : '-',
            `${h.nic} (virtio_net)`,
            facts.has(h.id) ? 'authenticated' : r.probe.kind === 'busy' ? 'busy with a run' : 'not connected',
            h.image ? h.image.id.replace('sha256:', '').slice(0, 12) : '-',
          ]);
          return void process.stdout.write(
            table([['host', 'roles', 'address', 'kernel', 'boot', 'host cores', 'nic', 'agent', 'image'], ...rows]) + '\n',
          );
        }
        process.stdout.write(table(upRows(r.state, facts, r.probe.kind === 'busy')) + '\n');
      } catch (err) {
        if (!(err instanceof HostStepFailed)) throw err;
        process.stderr.write(`ironlab: testbed up: ${err.message}\nthe testbed was torn down: nothing of it is left\n`);
        process.exitCode = interruptUp.signal.aborted ? 130 : 1;
      } finally {
        process.off('SIGINT', onSigint);
      }
    });

  testbed
    .command('status')
    .description('hosts, agents (connected, last heartbeat), dockerd state and image digest')
    .option('--json', 'print as JSON')
    .action(async (o) => {
      const { testbedStatus } = await import('../status.ts');
      const s = await testbedStatus();
      if (!s) {
        if (o.json) process.stdout.write('null\n');
        else process.stdout.write(`no testbed is up (${stateFile()}); start one with: ironlab testbed up\n`);
        return;
      }
      if (o.json) return void process.stdout.write(JSON.stringify(s, null, 2) + '\n');
      process.stdout.write(`${header(s.state)}\n`);
      if (s.state.kind === 'qemu') {
        const rows = s.hosts.map((h) => [
          h.host.id,
          h.host.address ?? '-',
          h.vmRunning ? `running (${h.host.vm?.bootSeconds?.toFixed(1) ?? '?'} s boot)` : 'NOT RUNNING',
          h.hostCores ?? '-',
          h.kernel ?? '-',
          h.ironVersion ?? '-',
          agentCell(h),
          h.agent?.lastHeartbeat ? `${ago(h.agent.lastHeartbeat)} ago` : 'never',
          h.dockerd,
          h.image ? h.image.replace('sha256:', '').slice(0, 12) : '-',
        ]);
        process.stdout.write(
          table([
            ['host', 'address', 'vm', 'host cores', 'kernel', 'iron_version', 'agent', 'last heartbeat', 'dockerd', 'image'],
            ...rows,
          ]) + '\n',
        );
        return;
      }
      const rows = s.hosts.map((h) => [
        h.host.id,
        h.host.roles.join(','),
        h.host.backend,
        h.host.address ?? '-',
        s.state.slurm ? 'per campaign (Slurm job step)' : agentCell(h),
        h.agent?.lastHeartbeat ? `${ago(h.agent.lastHeartbeat)} ago` : 'never',
        h.dockerd,
        h.image ? h.image.replace('sha256:', '').slice(0, 12) : '-',
        h.nicRps ?? '-',
      ]);
      process.stdout.write(
        table([['host', 'roles', 'backend', 'address', 'agent', 'last heartbeat', 'dockerd', 'image', 'nic rps'], ...rows]) + '\n',
      );
      if (s.state.slurm) {
        const { nodeStates, slurmEnv } = await import('../slurm-daemons.ts');
        const nodes = await nodeStates(slurmEnv(s.state.slurm.conf));
        process.stdout.write(
          nodes.length
            ? `slurm nodes: ${nodes.map((n) => `${n.node} ${n.state} (${n.features})`).join(', ')}\n`
            : 'slurm: the controller does not answer\n',
        );
      }
      for (const w of s.warnings) process.stdout.write(`warning: ${w}\n`);
    });

  testbed
    .command('down')
    .description('remove the testbed: agents, engines and their data, namespaces, links, tokens (idempotent)')
    .action(async () => {
      const { testbedDown } = await import('../testbed.ts');
      const t0 = Date.now();
      const removed = await testbedDown();
      const secs = ((Date.now() - t0) / 1000).toFixed(1);
      process.stdout.write(
        removed.length ? `testbed down (${secs} s): removed ${removed.join(', ')}\n` : `no testbed to take down (${testbedDir()})\n`,
      );
    });
}

/** An agent as `status` shows it: NOT RUNNING, or its state (connected, waiting, ...) and pid. */
function agentCell(h: HostStatus): string {
  return !h.agentRunning ? 'NOT RUNNING' : (h.agent?.state ?? 'starting') + (h.agent?.pid ? ` (pid ${h.agent.pid})` : '');
}

function header(s: TestbedState): string {
  const kind =
    s.kind === 'local'
      ? 'emulated lab'
      : s.kind === 'sim'
        ? 'simulated lab'
        : s.kind === 'qemu'
          ? `QEMU lab (IRON kernel, ${(s.hosts.find((h) => h.vm?.accel)?.vm?.accel ?? 'not booted').toUpperCase()})`
          : 'inventory lab';
  if (s.slurm)
    return `testbed: ${kind} under Slurm (partition lab, SLURM_CONF=${s.slurm.conf}), ${s.hosts.length} host(s); \`ironlab run CAMPAIGN --slurm\` leases them (state ${stateFile()})`;
  return `testbed: ${kind}, ${s.hosts.length} host(s), orchestrator address ws://${s.hub.host}:${s.hub.port} (state ${stateFile()})`;
}

function upRows(s: TestbedState, facts: Map<string, HostFacts>, busy: boolean): string[][] {
  const rows = s.hosts.map((h) => {
    const f = facts.get(h.id);
    const c = h.cores;
    const nic = f && f.nic.name !== 'veth' ? `${f.nic.name} (${f.nic.driver})` : h.netns ? 'eth0 (veth)' : (f?.nic.name ?? '-');
    const steering = f?.extra.nicIrqAffinity ?? f?.extra.nicRps ?? (h.netns ? `rps->cpu${c.nic.join(',')}` : '-');
    return [
      h.id,
      h.roles.join(','),
      h.backend,
      h.address ?? '-',
      `${c.victim}/${c.neighbours}/${c.peers}/${c.nic}`,
      f ? 'authenticated' : s.slurm ? `slurmd (pid ${s.slurm.slurmd[h.id] ?? '-'})` : busy ? 'busy with a run' : 'not connected',
      f?.kernel ?? '-',
      f ? `${f.cores} x ${f.cpuModel}` : '-',
      nic,
      String(steering),
      h.image ? h.image.id.replace('sha256:', '').slice(0, 12) : '-',
    ];
  });
  return [['host', 'roles', 'backend', 'address', 'cores v/n/p/nic', 'agent', 'kernel', 'cpu', 'nic', 'irq/rps', 'image'], ...rows];
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function ago(iso: string): string {
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  return s < 90 ? `${s.toFixed(0)} s` : `${(s / 60).toFixed(0)} min`;
}
