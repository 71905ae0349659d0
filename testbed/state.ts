// The testbed's state file: what `up` created and where, so that `status`, `down` and `ironlab run` find it.
// Location: $IRONLAB_TESTBED_DIR, else /var/lib/ironlab/testbed as root (a lab is a machine-wide thing: its
// namespaces and bridge are global), else ~/.ironlab/testbed (a simulated lab needs no root). The directory
// holds testbed.json, the token (mode 0600), and per host its dockerd data, logs and the agent's status file.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { BACKEND_KINDS } from '../agents/backends/registry.ts';

export function testbedDir(): string {
  if (process.env.IRONLAB_TESTBED_DIR) return process.env.IRONLAB_TESTBED_DIR;
  return process.getuid?.() === 0 ? '/var/lib/ironlab/testbed' : join(homedir(), '.ironlab', 'testbed');
}
export const stateFile = (dir = testbedDir()) => join(dir, 'testbed.json');
export const tokenFile = (dir = testbedDir()) => join(dir, 'token');
export const hostDir = (hostId: string, dir = testbedDir()) => join(dir, 'hosts', hostId);

const Cores = z.object({
  victim: z.array(z.number().int()),
  neighbours: z.array(z.number().int()),
  peers: z.array(z.number().int()),
  nic: z.array(z.number().int()),
});
export type Cores = z.infer<typeof Cores>;

export const TestbedHost = z.object({
  id: z.string(),
  roles: z.array(z.enum(['server', 'peer'])),
  backend: z.enum(BACKEND_KINDS),
  /** The host's address on the lab network (emulated: its veth; inventory: what SSH reaches). */
  address: z.string().nullable(),
  cores: Cores,
  /** Emulated hosts: the network namespace, the root-side veth, the host's own dockerd. */
  netns: z.string().optional(),
  veth: z.string().optional(),
  dockerd: z.object({ socket: z.string(), pidFile: z.string(), dataRoot: z.string(), execRoot: z.string() }).optional(),
  /** Inventory hosts: how to reach them and where the agent lives there. */
  ssh: z.object({ user: z.string(), key: z.string(), port: z.number().int(), installDir: z.string() }).optional(),
  nic: z.string().optional(),
  /** Its container address block on the lab's wire (inventory: declared; emulated lab: derived), CIDR. */
  containerBlock: z.string().optional(),
  /** QEMU lab hosts (testbed/qemu-lab.ts): named before they are made; kernel/release/bootSeconds once booted. */
  vm: z
    .object({
      tap: z.string(),
      pidFile: z.string(),
      console: z.string(),
      share: z.string(),
      kernel: z.string().nullable(),
      release: z.string().nullable(),
      bootSeconds: z.number().nullable(),
      /** How QEMU ran it (testbed/qemu-lab.ts accel()), once booted. */
      accel: z.enum(['kvm', 'tcg']).optional(),
      /** Its threads' host cores as `up` left them (testbed/qemu-pinning.ts); `status` reads them live. */
      pinning: z
        .array(z.object({ tid: z.number().int(), name: z.string(), vcpu: z.number().int().nullable(), cores: z.string() }))
        .optional(),
    })
    .optional(),
  agent: z.object({ pid: z.number().int().nullable(), statusFile: z.string(), log: z.string() }),
  image: z.object({ tag: z.string(), id: z.string() }).nullable().default(null),
});
export type TestbedHost = z.infer<typeof TestbedHost>;

export const TestbedState = z.object({
  version: z.literal(1),
  kind: z.enum(['local', 'sim', 'inventory', 'qemu']),
  createdAt: z.string(),
  /** Where `ironlab run` binds its hub; the agents dial it (with backoff) until a run starts. */
  hub: z.object({ host: z.string(), port: z.number().int() }),
  bridge: z.string().nullable().default(null),
  /** The iptables ACCEPT rule for the lab bridge, added only when FORWARD would drop bridged traffic. */
  iptablesRule: z.boolean().default(false),
  hosts: z.array(TestbedHost),
  /** `up --slurm`: the lab's own Slurm (testbed/slurm-daemons.ts): its files under `dir`, its daemons by pid. */
  slurm: z
    .object({
      dir: z.string(),
      conf: z.string(),
      munged: z.number().int().nullable(),
      slurmctld: z.number().int().nullable(),
      slurmd: z.record(z.string(), z.number().int().nullable()),
    })
    .nullable()
    .default(null),
});
export type TestbedState = z.infer<typeof TestbedState>;

export function readState(dir = testbedDir()): TestbedState | null {
  const f = stateFile(dir);
  if (!existsSync(f)) return null;
  return TestbedState.parse(JSON.parse(readFileSync(f, 'utf8')));
}

/** Written whole and renamed into place: a reader never sees half a file. */
export function writeState(state: TestbedState, dir = testbedDir()): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = `${stateFile(dir)}.tmp`;
  writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
  renameSync(tmp, stateFile(dir));
}

/** The testbed's shared token: made once, kept while the testbed lives, readable by its owner only. */
export function ensureToken(dir = testbedDir()): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const f = tokenFile(dir);
  if (existsSync(f)) return readFileSync(f, 'utf8').trim();
  const token = randomBytes(32).toString('hex');
  writeFileSync(f, token + '\n', { mode: 0o600 });
  return token;
}

export function removeStateDir(dir = testbedDir()): void {
  rmSync(dir, { recursive: true, force: true });
}

/** A host's agent before it is started: its status file and log in the folder it runs from. */
export const newAgent = (folder: string): TestbedHost['agent'] => ({
  pid: null,
  statusFile: join(folder, 'agent-status.json'),
  log: join(folder, 'agent.log'),
});

/** A testbed's state before anything is created (every lab kind starts from this). */
export function newState(
  kind: TestbedState['kind'],
  hosts: TestbedHost[],
  hub: TestbedState['hub'],
  bridge: string | null = null,
): TestbedState {
  return { version: 1, kind, createdAt: new Date().toISOString(), hub, bridge, iptablesRule: false, hosts, slurm: null };
}
