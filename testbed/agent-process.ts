// Starting and stopping a testbed host's long-lived agent (testbed/lab-agent.ts) on this machine. An emulated
// host's agent runs inside the host's network namespace (nsenter --net, like its dockerd) and a private mount
// namespace (unshare --mount) for its own view of /sys/class/net; it talks to the host's dockerd via DOCKER_HOST.
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { hostKeyFile } from '../agents/channel.ts';
import { dirname, join } from 'node:path';
import { PACKAGE_ROOT } from '../workloads/common/version.ts';
import { startDetached } from './exec.ts';
import type { AgentStatus } from './lab-agent.ts';
import { runsOurs, terminate } from './processes.ts';
import type { TestbedHost } from './state.ts';

export const LAB_AGENT = join(PACKAGE_ROOT, 'testbed', 'lab-agent.ts');
/** What a lab agent's command line carries, so that only our processes are ever signalled. */
const MARKER = 'lab-agent.ts';

export function agentAlive(host: TestbedHost): boolean {
  return runsOurs(host.agent.pid, MARKER) && (host.agent.pid ? readCmdHost(host.agent.pid) === host.id : false);
}

function readCmdHost(pid: number): string | null {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return argv[argv.indexOf('--host-id') + 1] ?? null;
  } catch {
    return null;
  }
}

export function startAgent(host: TestbedHost, hubUrl: string, tokenFile: string): number {
  mkdirSync(dirname(host.agent.log), { recursive: true });
  // The agent gets its host's own key (in the host's state dir, removed with it), not the testbed's token: like a
  // lab host's, it cannot speak for another host.
  const keyFile = join(dirname(host.agent.statusFile), 'key');
  writeFileSync(keyFile, hostKeyFile(readFileSync(tokenFile, 'utf8').trim(), host.id) + '\n', { mode: 0o600 });
  const node = [
    process.execPath,
    '--import',
    'tsx',
    LAB_AGENT,
    '--connect',
    hubUrl,
    '--token-file',
    keyFile,
    '--backend',
    host.backend,
    '--host-id',
    host.id,
    '--status-file',
    host.agent.statusFile,
  ];
  // An emulated host's NIC is its eth0: cross-host runs put their containers on it.
  const argv = host.netns
    ? [
        'nsenter',
        `--net=/var/run/netns/${host.netns}`,
        'unshare',
        '--mount',
        '--propagation',
        'private',
        '--',
        ...node,
        '--nic',
        'eth0',
        '--netns-sysfs',
        join(dirname(host.agent.statusFile), 'sysfs'),
        '--outer-mnt-ns',
        readlinkSync('/proc/self/ns/mnt'),
      ]
    : node;
  if (host.containerBlock) argv.push('--container-block', host.containerBlock);
  const env = { ...process.env, ...(host.dockerd ? { DOCKER_HOST: `unix://${host.dockerd.socket}` } : {}) };
  const fd = openSync(host.agent.log, 'a');
  try {
    // cwd: tsx resolves from the package, wherever the user typed the command
    return startDetached(argv, { logFd: fd, env, cwd: PACKAGE_ROOT }).pid;
  } finally {
    closeSync(fd);
  }
}

export async function stopAgent(host: TestbedHost): Promise<void> {
  if (host.agent.pid && agentAlive(host)) await terminate(host.agent.pid, MARKER, 10_000);
}

export function readAgentStatus(host: TestbedHost): AgentStatus | null {
  if (!existsSync(host.agent.statusFile)) return null;
  try {
    return JSON.parse(readFileSync(host.agent.statusFile, 'utf8')) as AgentStatus;
  } catch {
    return null;
  }
}

/** The last lines of a local agent's log, for an error message that says why it did not connect. */
export function agentLogTail(host: TestbedHost): string {
  if (host.ssh || !existsSync(host.agent.log)) return '';
  const lines = readFileSync(host.agent.log, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  // A crash prints a stack: its `Error: ...` line says why; otherwise the agent's last words.
  return [...lines].reverse().find((l) => /^\w*Error\b/.test(l)) ?? lines.slice(-2).join(' / ');
}
