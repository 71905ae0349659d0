// `testbed up | status | down` for every kind of testbed (emulated lab, simulated lab, inventory lab): one state
// file, one token, one fixed orchestrator address. `up` is all or nothing: a failing step tears the whole
// testbed down and says which host failed at which step and why. `down` removes everything and is idempotent.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { PrerequisiteError, UserInputError } from '../workloads/common/errors.ts';
import { probeAgents, type ProbeResult } from './agent-probe.ts';
import { agentLogTail } from './agent-process.ts';
import { run } from './exec.ts';
import { mountsUnder } from './host-dockerd.ts';
import { closeInventorySsh, inventoryLabDown, inventoryLabPlan, inventoryLabUp } from './inventory-lab.ts';
import { loadInventory } from './inventory.ts';
import { localLabDown, localLabPlan, localLabUp } from './local-lab.ts';
import { withTestbedLock } from './lock.ts';
import { LAB_PACKAGES, ensurePackages } from './prerequisites.ts';
import { pidAlive } from '../workloads/common/pid.ts';
import {
  GUEST_AGENT,
  QEMU_AGENT_STALL_MS,
  QEMU_PACKAGES,
  consoleTail,
  guestAgentMayCome,
  qemuLabDown,
  qemuLabPlan,
  qemuLabUp,
} from './qemu-lab.ts';
import { labBridgeOwner, removeForwardRule, removeLabNetwork } from './lab-network.ts';
import { simLabDown, simLabPlan, simLabUp } from './sim-lab.ts';
import { SLURM_PACKAGES, slurmDown, slurmUp } from './slurm-daemons.ts';
import { ensureToken, readState, removeStateDir, stateFile, testbedDir, writeState, type TestbedState } from './state.ts';
import { HostStepFailed, type Say } from './steps.ts';

export interface UpOptions {
  hosts: number;
  sim: boolean;
  inventory?: string;
  /** The emulated lab's hosts are leased through a Slurm of its own (testbed/slurm-daemons.ts). */
  slurm?: boolean;
  /** `iron`: the hosts are QEMU guests booting the IRON kernel (testbed/qemu-lab.ts). */
  kernel?: 'iron';
  say: Say;
}

export interface UpReport {
  state: TestbedState;
  /** True when the testbed was already up and nothing had to change. */
  unchanged: boolean;
  probe: ProbeResult;
}

export function testbedUp(opts: UpOptions, dir = testbedDir()): Promise<UpReport> {
  return withTestbedLock(dir, () => up(opts, dir));
}

async function up(opts: UpOptions, dir: string): Promise<UpReport> {
  const kind = opts.inventory ? 'inventory' : opts.sim ? 'sim' : opts.kernel ? 'qemu' : 'local';
  if (opts.kernel && (opts.sim || opts.inventory || opts.slurm))
    throw new UserInputError(
      '--kernel iron boots QEMU lab hosts on this machine; it goes with neither --sim, --inventory nor --slurm',
      '--kernel',
    );
  const inventory = opts.inventory ? loadInventory(opts.inventory) : null; // validated before anything changes
  if (kind !== 'sim' && process.getuid?.() !== 0)
    throw new PrerequisiteError(
      `an ${kind === 'local' ? 'emulated lab (network namespaces, a dockerd per host)' : kind === 'qemu' ? 'QEMU lab (taps on the lab bridge, a kernel build)' : 'inventory lab'} needs root: run as root, or use --sim`,
      'testbed up',
    );
  const other = kind === 'local' || kind === 'qemu' ? labOfAnotherDir(dir) : null;
  if (other)
    throw new UserInputError(
      `the emulated lab on this machine belongs to the testbed in ${other}; take it down there first (IRONLAB_TESTBED_DIR=${other} ironlab testbed down)`,
      'testbed up',
    );
  const existing = readState(dir);
  if (existing && existing.kind !== kind)
    throw new UserInputError(`a ${existing.kind} testbed is up; run \`ironlab testbed down\` first`, 'testbed up');
  if (existing && kind !== 'inventory' && existing.hosts.length !== opts.hosts)
    throw new UserInputError(
      `the ${kind} testbed that is up has ${existing.hosts.length} hosts, not ${opts.hosts}; run \`ironlab testbed down\` first`,
      '--hosts',
    );
  if (existing && inventory && !sameHosts(existing, inventoryLabPlan(inventory, dir)))
    throw new UserInputError(
      'another inventory lab is up (its hosts differ from this file); run `ironlab testbed down` first',
      opts.inventory,
    );
  if (opts.slurm && kind !== 'local')
    throw new UserInputError('--slurm brings Slurm up on an emulated lab; an inventory lab names its own cluster', '--slurm');
  if (existing && Boolean(existing.slurm) !== Boolean(opts.slurm))
    throw new UserInputError(
      `the emulated lab that is up ${existing.slurm ? 'runs' : 'does not run'} Slurm; run \`ironlab testbed down\` first`,
      '--slurm',
    );
  const before = existing ? JSON.stringify(existing) : null;
  const state =
    existing ??
    (kind === 'qemu'
      ? qemuLabPlan(opts.hosts, dir)
      : kind === 'local'
        ? localLabPlan(opts.hosts, dir)
        : kind === 'sim'
          ? simLabPlan(opts.hosts, dir)
          : inventoryLabPlan(inventory!, dir));
  const token = ensureToken(dir);
  try {
    if (kind === 'local') {
      await ensurePackages((argv) => run(argv), {
        root: true,
        where: 'this machine',
        say: opts.say,
        packages: opts.slurm ? [...LAB_PACKAGES, ...SLURM_PACKAGES] : LAB_PACKAGES,
      });
      // Under Slurm, agents are a campaign's job steps on the nodes it leased, not long-lived processes.
      await localLabUp(state, opts.say, dir, { agents: !opts.slurm });
      if (opts.slurm) await slurmUp(state, dir, opts.say, () => writeState(state, dir));
    } else if (kind === 'qemu') {
      await ensurePackages((argv) => run(argv), { root: true, where: 'this machine', say: opts.say, packages: QEMU_PACKAGES });
      await qemuLabUp(state, opts.say, dir);
    } else if (kind === 'sim') await simLabUp(state, opts.say, dir);
    else await inventoryLabUp(state, inventory!, opts.say, dir);
    // Local agents are watched by pid (a crashed one fails the step at once); a QEMU guest's by its console (its
    // init says when the agent could not start); remote ones by the deadline.
    const hostOf = (id: string) => state.hosts.find((h) => h.id === id)!;
    const probe: ProbeResult = state.slurm
      ? { kind: 'probed', facts: new Map(), missing: [], errors: new Map() }
      : await probeAgents(
          state,
          token,
          (id) => kind === 'inventory' || (kind === 'qemu' ? guestAgentMayCome(hostOf(id)) : pidAlive(hostOf(id).agent.pid)),
          kind === 'inventory' ? 30_000 : kind === 'qemu' ? QEMU_AGENT_STALL_MS : 120_000,
        );
    if (probe.kind === 'probed') {
      const bad = [
        ...[...probe.errors.entries()].map(([id, e]) => ({ id, why: e })),
        ...probe.missing.map((id) => ({
          id,
          why:
            kind === 'qemu'
              ? `its agent did not connect (the guest's console: ${consoleTail(hostOf(id))}; its log: ${GUEST_AGENT.log} in the guest)`
              : `its agent did not connect (its log: ${agentLogTail(hostOf(id)) || 'empty'})`,
        })),
      ];
      if (bad.length) throw new HostStepFailed(bad[0].id, 'agent-connect', bad.map((b) => `${b.id}: ${b.why}`).join('; '));
    }
    if (kind === 'inventory') await closeInventorySsh(state);
    return { state, unchanged: before !== null && before === JSON.stringify(state), probe };
  } catch (err) {
    if (!(err instanceof HostStepFailed)) {
      await down(dir).catch(() => undefined);
      throw err;
    }
    opts.say(`${err.message}; tearing the testbed down`);
    await down(dir);
    throw err;
  }
}

/** Remove the testbed, whatever its kind and whether or not its state file survived. */
export function testbedDown(dir = testbedDir()): Promise<string[]> {
  return withTestbedLock(dir, () => down(dir));
}

async function down(dir: string): Promise<string[]> {
  const state = readState(dir);
  // Without a state file the sweep finds labs by name; a lab another directory's testbed still runs is not ours.
  const other = state ? null : labOfAnotherDir(dir);
  if (other)
    throw new UserInputError(
      `no testbed is up in ${dir}, and the emulated lab on this machine belongs to the testbed in ${other}: to take it down, IRONLAB_TESTBED_DIR=${other} ironlab testbed down`,
      'testbed down',
    );
  const removed: string[] = [];
  if (state?.kind === 'sim') removed.push(...(await simLabDown(state)));
  if (state?.kind === 'inventory') removed.push(...(await inventoryLabDown(state)));
  // Taps are swept by name for an emulated lab too: only one lab owns the lab bridge, so a tap found beside ours
  // is a dead QEMU lab's (a killed `up`), cabled to our bridge.
  if (state?.kind === 'qemu' || ((!state || state.kind === 'local') && process.getuid?.() === 0))
    removed.push(...(await qemuLabDown(state?.kind === 'qemu' ? state : null, dir)));
  if (state?.kind === 'qemu') {
    removed.push(...(await removeLabNetwork([])));
    if (await removeForwardRule()) removed.push('iptables rule (comment ironlab)');
  }
  // Slurm first: cancelling its jobs stops their agents, and their epilogs reap the nodes while the engines live.
  if (process.getuid?.() === 0 && state?.kind !== 'sim' && state?.kind !== 'inventory' && state?.kind !== 'qemu')
    removed.push(...(await slurmDown(state, dir)));
  // The emulated lab's sweep runs even without a state file (it finds our namespaces and links by name).
  if (process.getuid?.() === 0 && state?.kind !== 'sim' && state?.kind !== 'inventory' && state?.kind !== 'qemu')
    removed.push(...(await localLabDown(state)));
  if (state) removed.push(...state.hosts.map((h) => `host ${h.id}`));
  // A dockerd found without its state file leaves its mounts under the data root, inside this directory.
  for (const m of mountsUnder([dir])) await run(['umount', '-l', m]).catch(() => undefined);
  removeStateDir(dir);
  return removed;
}

/** The testbed directory, other than `dir`, whose emulated or QEMU lab is up on this machine (it has a state file). */
function labOfAnotherDir(dir: string): string | null {
  const owner = labBridgeOwner();
  return owner !== null && resolve(owner) !== resolve(dir) && existsSync(stateFile(owner)) ? owner : null;
}

/** Same hosts, reached the same way (what `up` made from an inventory, ignoring what it learnt: pids, images). */
function sameHosts(a: TestbedState, b: TestbedState): boolean {
  const key = (s: TestbedState) =>
    JSON.stringify([s.hub, s.hosts.map((h) => [h.id, h.address, h.ssh, h.nic, h.cores, h.roles, h.backend])]);
  return key(a) === key(b);
}
