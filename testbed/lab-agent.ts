// A testbed's long-lived agent: `ironlab agent` with a supervisor around it. Unlike the agents `ironlab run`
// starts for one campaign, it lives from `testbed up` to `testbed down`, dials the testbed's fixed orchestrator
// address with short backoff until a run binds it, and starts a new session after each run, even after a
// refusal (a campaign that names only some of the testbed's hosts refuses the others; the next may want them).
// It writes a small status file (state, since, last heartbeat) that `testbed status` reads.
//
// Run as: node --import tsx testbed/lab-agent.ts --connect URL --token-file F --backend B --host-id H
//         --status-file F [--nic DEV] [--container-block CIDR] [--netns-sysfs DIR --outer-mnt-ns NS]
// --netns-sysfs DIR: the agent runs inside an emulated host's network namespace (nsenter --net) and in a private
// mount namespace (unshare --mount): it mounts a sysfs that shows that namespace's interfaces over
// /sys/class/net and /sys/devices/virtual/net, so RPS steering and NIC facts see the host's own "NIC" while
// /sys/fs/cgroup stays the machine's (which `ip netns exec`'s whole-/sys remount would hide).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readlinkSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Agent } from '../agents/agent.ts';
import { createBackend, readToken } from '../agents/agent-command.ts';
import { IRONLAB_VERSION } from '../workloads/common/version.ts';

export interface AgentStatus {
  pid: number;
  hostId: string;
  state: 'starting' | 'waiting' | 'connected' | 'refused' | 'stopped';
  since: string;
  /** Last time the agent was known connected (the orchestrator pings every 2 s; silence > 15 s drops it). */
  lastHeartbeat: string | null;
  message: string;
}

const { values: o } = parseArgs({
  options: {
    connect: { type: 'string' },
    'token-file': { type: 'string' },
    backend: { type: 'string', default: 'sim' },
    'host-id': { type: 'string' },
    'status-file': { type: 'string' },
    /** A real lab host's traffic NIC (its queue IRQs are steered; its driver and affinity are facts). */
    nic: { type: 'string' },
    /** Its container address block on the lab's wire (agents/container-block.ts). */
    'container-block': { type: 'string' },
    'netns-sysfs': { type: 'string' },
    /** The launcher's mount namespace (/proc/self/ns/mnt as it read it): ours must differ. */
    'outer-mnt-ns': { type: 'string' },
  },
});
const hostId = o['host-id']!;
const statusFile = o['status-file']!;
let status: AgentStatus = {
  pid: process.pid,
  hostId,
  state: 'starting',
  since: new Date().toISOString(),
  lastHeartbeat: null,
  message: '',
};
// While no run holds the address, every dial is refused: say so once, not every two seconds for days.
let lastLine = '';
const log = (line: string) => {
  const quiet = line.startsWith('connection error') && line === lastLine;
  lastLine = line;
  if (!quiet) process.stderr.write(`${new Date().toISOString()} [agent ${hostId}] ${line}\n`);
  // The agent says when a session is authenticated and when it ends: the status file follows at once.
  if (line.startsWith('connected to')) setStatus({ state: 'connected', lastHeartbeat: new Date().toISOString(), message: line });
  else if (line.startsWith('orchestrator went away')) setStatus({ state: 'waiting', message: line });
};

function setStatus(patch: Partial<AgentStatus>): void {
  if (patch.state && patch.state !== status.state) patch.since = new Date().toISOString();
  status = { ...status, ...patch };
  writeFileSync(`${statusFile}.tmp`, JSON.stringify(status) + '\n');
  renameSync(`${statusFile}.tmp`, statusFile);
}

if (o['netns-sysfs']) mountNetnsSysfs(o['netns-sysfs']);
const token = readToken(o['token-file']!);
const backend = await createBackend(o.backend!, hostId, o.nic ?? null, o['container-block'] ?? null);
let current: Agent | null = null;
let stopping = false;

const shutdown = async () => {
  if (stopping) return;
  stopping = true;
  await current?.stop();
  await backend.reap().catch(() => []);
  setStatus({ state: 'stopped', message: 'stopped by testbed down' });
  process.exit(0);
};
process.on('SIGTERM', () => void shutdown());
process.on('SIGINT', () => void shutdown());

// Heartbeat: while a session is authenticated, the orchestrator's pings keep it so (the agent drops a silent one).
setInterval(() => {
  if (current?.connected) setStatus({ state: 'connected', lastHeartbeat: new Date().toISOString(), message: `connected to ${o.connect}` });
  else if (status.state === 'connected') setStatus({ state: 'waiting', message: `waiting for an orchestrator at ${o.connect}` });
}, 1000);

setStatus({ state: 'waiting', message: `waiting for an orchestrator at ${o.connect}` });
while (!stopping) {
  current = new Agent({ url: o.connect!, token, hostId, backend, version: IRONLAB_VERSION, minBackoffMs: 250, maxBackoffMs: 2000, log });
  await current.start();
  const exit = await current.exited;
  if (stopping) break;
  if (exit.reason === 'refused') {
    log(`refused: ${exit.message}; trying again in 5 s`);
    setStatus({ state: 'refused', message: exit.message });
  }
  await new Promise((r) => setTimeout(r, 5000));
  if (status.state === 'refused') setStatus({ state: 'waiting', message: `waiting for an orchestrator at ${o.connect}` });
}

/** `sys`: an empty directory of the testbed's own (removed by down); the mount lives in our namespace only. */
function mountNetnsSysfs(sys: string): void {
  // Refuse to touch the machine's own mount namespace: these mounts must die with this process.
  if (!o['outer-mnt-ns'] || readlinkSync('/proc/self/ns/mnt') === o['outer-mnt-ns'])
    throw new Error('--netns-sysfs needs a private mount namespace (start under unshare --mount)');
  mkdirSync(sys, { recursive: true });
  execFileSync('mount', ['-t', 'sysfs', 'sysfs', sys]);
  for (const sub of ['class/net', 'devices/virtual/net']) execFileSync('mount', ['--bind', join(sys, sub), join('/sys', sub)]);
}
