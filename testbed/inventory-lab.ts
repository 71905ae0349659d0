// A real lab from an inventory: over SSH, each host gets its prerequisites (Debian packages, Node.js 20),
// a copy of ironlab (this package with its node_modules: same Debian, same architecture), its own key derived
// from the testbed's token (mode 0600), the workload image (built there by the copy, a no-op when present), and a long-lived agent
// started with `setsid -f` so that it outlives the SSH session. The agent dials the orchestrator address the
// inventory gives; its status file on the host says how it is doing.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { hostKeyFile } from '../agents/channel.ts';
import { PACKAGE_ROOT } from '../workloads/common/version.ts';
import type { AgentStatus } from './lab-agent.ts';
import { LAB_PACKAGES, ensurePackages } from './prerequisites.ts';
import { sleep } from './processes.ts';
import { closeSsh, sshCopyTree, sshRun, type SshTarget } from './ssh.ts';
import type { Inventory } from './inventory.ts';
import { blockProblem, FINDINGS_SCRIPT, nodeProblem, parseFindings, sudoProblem, type HostFindings } from './inventory-preflight.ts';
import { ensureToken, newAgent, newState, testbedDir, writeState, type TestbedHost, type TestbedState } from './state.ts';
import { step, type Say } from './steps.ts';

/** The marker of a directory ironlab made for its agent: `down` removes only a directory that carries it
 *  (or the install stamp, which copies made before the marker carry). */
export const INSTALL_MARKER = '.ironlab-agent-dir';
const MARKED = `{ [ -f "$1/${INSTALL_MARKER}" ] || [ -f "$1/.ironlab-install" ]; }`;
/** $1 = install dir: claim it (create and mark) unless it exists, is not empty and is not ours. */
export const CLAIM_INSTALL_DIR = `if [ -e "$1" ] && ! ${MARKED} && [ -n "$(ls -A "$1")" ]; then echo "$1 exists and is not an ironlab agent directory (no ${INSTALL_MARKER}); choose another installDir" >&2; exit 3; fi; mkdir -p "$1" && touch "$1/${INSTALL_MARKER}"`;
/** $1 = install dir: remove it only if it carries the marker; say so when it does not. */
export const REMOVE_IF_MARKED = `if [ ! -e "$1" ]; then exit 0; fi; if ${MARKED}; then exec rm -rf --one-file-system "$1"; fi; echo "$1 has no ${INSTALL_MARKER}: left in place" >&2; exit 3`;

/** Not copied to hosts: history, artifacts, result stores, browser-test tooling. */
const NOT_SHIPPED = ['./.git', './test-artifacts', './node_modules/playwright-core', '*.db', '*.db-wal', '*.db-shm', './.ironlab'];

export function inventoryLabPlan(inv: Inventory, _dir = testbedDir()): TestbedState {
  const hosts: TestbedHost[] = inv.hosts.map((h) => ({
    id: h.id,
    roles: h.roles,
    backend: h.backend,
    address: h.address,
    cores: h.cores,
    nic: h.nic,
    ...(h.containerBlock ? { containerBlock: h.containerBlock } : {}),
    ssh: { user: h.ssh.user, key: h.ssh.key, port: h.ssh.port, installDir: h.installDir },
    agent: newAgent(h.installDir),
    image: null,
  }));
  return newState('inventory', hosts, { host: inv.orchestrator.address, port: inv.orchestrator.port });
}

/** How commands reach the host: as its SSH user, through `sudo -n` when that user is not root. */
export const targetOf = (h: TestbedHost): SshTarget => ({
  address: h.address!,
  user: h.ssh!.user,
  key: h.ssh!.key,
  port: h.ssh!.port,
  sudo: h.ssh!.user !== 'root',
});

/** What the copy on a host is (commit + uncommitted changes + lockfile): when it matches, `up` copies nothing. */
function installStamp(): string {
  const git = (args: string[]) => {
    try {
      return execFileSync('git', ['-C', PACKAGE_ROOT, ...args], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
        maxBuffer: 64 << 20,
      });
    } catch {
      return `no git ${Date.now()}`; // not a checkout: always copy
    }
  };
  const h = createHash('sha256').update(readFileSync(join(PACKAGE_ROOT, 'package-lock.json')));
  h.update(git(['rev-parse', 'HEAD'])).update(git(['diff', 'HEAD']));
  return h.digest('hex').slice(0, 16);
}

export async function inventoryLabUp(state: TestbedState, _inv: Inventory, say: Say, dir = testbedDir()): Promise<TestbedState> {
  writeState(state, dir);
  const token = ensureToken(dir);
  const stamp = installStamp();
  // Hosts in parallel (a lab of ten is not ten times slower); the first failure is reported once all have
  // settled, so that the teardown that follows never races a host still coming up.
  const findings = await preflight(state, say);
  const settled = await Promise.allSettled(state.hosts.map((h) => hostUp(state, h, token, stamp, say, findings.get(h.id)!)));
  writeState(state, dir);
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return state;
}

/** Every host is reached and checked before any is changed: a host that cannot take the agent is refused
 *  (exit 2) with nothing installed anywhere. */
async function preflight(state: TestbedState, say: Say): Promise<Map<string, HostFindings>> {
  const found = await Promise.all(
    state.hosts.map(
      async (h) =>
        // as the SSH user itself (not through sudo): what it may do is one of the findings
        [
          h,
          parseFindings(
            await step(h.id, 'ssh', say, () => sshRun({ ...targetOf(h), sudo: false }, ['sh', '-c', FINDINGS_SCRIPT, 'sh', h.nic!])),
          ),
        ] as const,
    ),
  );
  for (const [h, f] of found) {
    const problem =
      sudoProblem(h.id, targetOf(h), f) ??
      nodeProblem(h.id, targetOf(h), f, f.uid !== 0) ??
      (h.containerBlock ? blockProblem(h.id, h.nic!, h.containerBlock, f) : null);
    if (problem) throw problem;
  }
  return new Map(found.map(([h, f]) => [h.id, f]));
}

async function hostUp(state: TestbedState, h: TestbedHost, token: string, stamp: string, say: Say, found: HostFindings): Promise<void> {
  const t = targetOf(h);
  const at = (argv: string[], input?: string) => sshRun(t, argv, input === undefined ? {} : { input });
  const install = h.ssh!.installDir;
  await step(h.id, 'prerequisites', say, async () => {
    // Node.js was checked by the preflight (Debian bookworm's is 18: it is checked, not installed).
    await ensurePackages(at, {
      root: found.uid === 0 || found.sudo === 'yes', // through sudo -n (targetOf)
      where: `host ${h.id}`,
      say,
      packages: h.backend === 'docker' ? LAB_PACKAGES : ['iproute2'],
    });
  });
  if (found.sudoUnchecked.length) {
    // Commands sudo could not answer for before their packages were in (docker): asked again, refused as the
    // preflight would have (exit 2, the missing ones named) before anything runs through them.
    const again = await step(h.id, 'sudo', say, () => sshRun({ ...t, sudo: false }, ['sh', '-c', FINDINGS_SCRIPT, 'sh', h.nic!]));
    const problem = sudoProblem(h.id, t, parseFindings(again));
    if (problem) throw problem;
  }
  await step(h.id, 'install', say, async () => {
    await at(['sh', '-c', CLAIM_INSTALL_DIR, 'sh', install]);
    const there = await at(['cat', join(install, '.ironlab-install')]).catch(() => '');
    if (there.trim() !== stamp) {
      await sshCopyTree(t, PACKAGE_ROOT, install, NOT_SHIPPED);
      await at(['sh', '-c', 'printf %s "$2" > "$1/.ironlab-install"', 'sh', install, stamp]);
    }
    // The host gets its own key, not the testbed's token: it cannot speak for another host.
    await at(['sh', '-c', 'umask 077 && cat > "$1"', 'sh', join(install, 'token')], hostKeyFile(token, h.id) + '\n');
  });
  if (h.backend === 'docker') {
    await step(h.id, 'docker', say, () => at(['docker', 'info', '--format', '{{.ServerVersion}}']));
    const img = await step(h.id, 'image', say, () => at(['env', '-C', install, 'node', '--import', 'tsx', 'workloads/build-image.ts']));
    const [tag, id] = img.trim().split(/\s+/);
    h.image = { tag, id };
  }
  h.agent.pid = await step(h.id, 'agent', say, async () => {
    const running = await remoteAgentPid(h);
    if (running) return running;
    await at([
      'env',
      '-C',
      install,
      'setsid',
      '-f',
      'sh',
      '-c',
      'exec "$@" >>agent.log 2>&1 </dev/null',
      'sh',
      'node',
      '--import',
      'tsx',
      'testbed/lab-agent.ts',
      '--connect',
      `ws://${state.hub.host}:${state.hub.port}`,
      '--token-file',
      join(install, 'token'),
      '--backend',
      h.backend,
      '--host-id',
      h.id,
      '--status-file',
      h.agent.statusFile,
      '--nic',
      h.nic!,
      ...(h.containerBlock ? ['--container-block', h.containerBlock] : []),
    ]);
    for (let i = 0; i < 100; i++) {
      const pid = await remoteAgentPid(h);
      if (pid) return pid;
      await sleep(200);
    }
    throw new Error(`the agent did not start (see ${h.agent.log} on ${h.address})`);
  });
}

/** The host's running agent, from its status file, checked against the process's command line. */
async function remoteAgentPid(h: TestbedHost): Promise<number | null> {
  const status = await remoteAgentStatus(h);
  if (!status || status.state === 'stopped') return null;
  const cmd = await sshRun(targetOf(h), ['cat', `/proc/${status.pid}/cmdline`]).catch(() => '');
  return cmd.includes('lab-agent.ts') && cmd.includes(h.id) ? status.pid : null;
}

export async function remoteAgentStatus(h: TestbedHost): Promise<AgentStatus | null> {
  try {
    return JSON.parse(await sshRun(targetOf(h), ['cat', h.agent.statusFile])) as AgentStatus;
  } catch {
    return null;
  }
}

/** Stop each host's agent (it reaps its containers), then remove the copy and its token. Unreachable hosts
 *  are reported, not fatal: `down` does all it can. */
export async function inventoryLabDown(state: TestbedState): Promise<string[]> {
  const perHost = await Promise.all(state.hosts.map((h) => hostDown(h)));
  return perHost.flat();
}

async function hostDown(h: TestbedHost): Promise<string[]> {
  const removed: string[] = [];
  const t = targetOf(h);
  try {
    const pid = await remoteAgentPid(h);
    if (pid) {
      // One call: signal, then wait there (up to 20 s) for it to reap its containers and exit.
      await sshRun(t, [
        'sh',
        '-c',
        'kill "$1"; i=0; while kill -0 "$1" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done',
        'sh',
        String(pid),
      ]);
      removed.push(`agent ${h.id} (pid ${pid})`);
    }
    await sshRun(t, ['sh', '-c', REMOVE_IF_MARKED, 'sh', h.ssh!.installDir]);
    removed.push(`${h.id}:${h.ssh!.installDir}`);
  } catch (err) {
    removed.push(`${h.id}: NOT cleaned (${(err as Error).message})`);
  }
  await closeSsh(t);
  return removed;
}

/** End this command's SSH connections to the hosts. */
export async function closeInventorySsh(state: TestbedState): Promise<void> {
  await Promise.all(state.hosts.map((h) => closeSsh(targetOf(h))));
}
