// The QEMU lab (`ironlab testbed up --kernel iron`): each lab host is a QEMU guest booting the IRON kernel
// (testbed/kernel-build.ts) on the Debian root filesystem of testbed/guest-rootfs.ts, with a multiqueue
// virtio-net NIC (MSI-X, one vector per queue) on a tap cabled to the lab bridge (169.254.0.0/24, as the emulated
// lab: the bridge is .1, host i is .(10+i)). KVM where /dev/kvm exists, TCG otherwise. The guest is reached over
// SSH with a key of the testbed's own (authorized through a read-only 9p share of the host's testbed directory);
// each guest has an SSH host key of its own, made here into its share and written into the testbed's known_hosts
// (so a restarted VM is still recognised, and no two guests share a key). The project itself is shared read-only
// too, so the agent's code runs in the guest as it is here: the guest's init (testbed/kernel/guest-init.sh) starts
// dockerd on a second disk that holds the workload image (testbed/guest-docker-disk.ts: loaded here from its
// `docker save` archive, never pulled) and starts the testbed's agent (testbed/lab-agent.ts), which dials the hub on the lab bridge like an emulated host's.
// Everything is named in the state file before it is made: the tap, the pid file, the console log; the disk is
// the cached image opened with snapshot=on (the guest's writes vanish with QEMU). `down` ends each QEMU by the
// pid in its pid file, after checking that pid still runs QEMU with that pid file, and removes the taps. After boot
// `up` pins the emulator threads to host cores (testbed/qemu-pinning.ts: lab-1's vCPU 0 gets one to itself); the
// affinity ends with each QEMU, so `down` has nothing of it to undo.
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Docker from 'dockerode';
import { findImage, imageTag } from '../workloads/image.ts';
import { ACCT_OBJECT, DROP_OBJECT, PREBUILT_ENV, acctVariant, buildBpf, type BpfObjects } from '../agents/enforcement/build.ts';
import type { AgentStatus } from './lab-agent.ts';
import { run, succeeds } from './exec.ts';
import { ensureGuestRootfs } from './guest-rootfs.ts';
import { ensureArchive } from './host-image.ts';
import { ensureGuestDockerDisk } from './guest-docker-disk.ts';
import { ensureIronKernel } from './kernel-build.ts';
import { LAB_BRIDGE, LAB_HUB_ADDRESS, LAB_HUB_PORT, containerBlock, ensureBridge, ensureForwardRule, hostAddress } from './lab-network.ts';
import { runsOurs, sleep, terminate } from './processes.ts';
import { describePinning, favourQemu, pinQemu, planPinning, qemuThreads } from './qemu-pinning.ts';
import { closeSsh, sshRun, type SshTarget } from './ssh.ts';
import { hostDir, newState, testbedDir, tokenFile, writeState, type TestbedHost, type TestbedState } from './state.ts';
import { step, type Say } from './steps.ts';

export const PROJECT_ROOT = resolve(fileURLToPath(import.meta.url), '..', '..');
/** Where the project appears inside a guest (9p, read-only). */
export const GUEST_PROJECT = '/ironlab';
/** Where a guest finds the BPF objects built here for its kernel (its 9p share `host`, read-only). */
export const GUEST_BPF_DIR = '/ironlab-host/bpf';
/** util-linux: taskset, which pins the emulator threads (testbed/qemu-pinning.ts). */
export const QEMU_PACKAGES = ['qemu-system-x86', 'debootstrap', 'e2fsprogs', 'openssh-client', 'iperf3', 'util-linux'];
export const GUEST_QUEUES = 2;
/** dockerd, containerd, the agent (node) and a run's containers: 1 GiB was enough for SSH and iperf3 only. */
export const GUEST_MEMORY_MIB = 2048;
/** The agent inside a guest: its status file and log (tmpfs: they go with the VM). */
export const GUEST_AGENT = { statusFile: '/run/ironlab/agent.json', log: '/run/ironlab/agent.log' } as const;
export const tapName = (index: number) => `ironlab-t${index}`;
const OUR_TAP = /^ironlab-t\d+$/;
/** How long `up` waits for a guest's agent after SSH answers: dockerd, `docker load` and node + tsx under TCG. */
export const QEMU_AGENT_STALL_MS = Number(process.env.IRONLAB_GUEST_AGENT_TIMEOUT_MS ?? 600_000);
const BOOT_TIMEOUT_MS = Number(process.env.IRONLAB_GUEST_BOOT_TIMEOUT_MS ?? 300_000);

export const guestKey = (dir = testbedDir()) => join(dir, 'guest_ed25519');
export const guestSsh = (h: TestbedHost, dir = testbedDir()): SshTarget => ({
  address: h.address!,
  user: 'root',
  key: guestKey(dir),
  port: 22,
});
/**
 * KVM where /dev/kvm exists and the CPU advertises VMX/SVM, TCG otherwise: on this development VM /dev/kvm exists
 * without either flag, and a KVM guest hangs before its firmware prints a line. IRONLAB_QEMU_ACCEL=kvm|tcg decides.
 */
export function accel(cpuinfo = '/proc/cpuinfo'): 'kvm' | 'tcg' {
  const forced = process.env.IRONLAB_QEMU_ACCEL;
  if (forced === 'kvm' || forced === 'tcg') return forced;
  if (!existsSync('/dev/kvm')) return 'tcg';
  try {
    return /^flags\s*:.*\b(vmx|svm)\b/m.test(readFileSync(cpuinfo, 'utf8')) ? 'kvm' : 'tcg';
  } catch {
    return 'tcg';
  }
}

export function qemuLabPlan(n: number, dir = testbedDir()): TestbedState {
  const ncpu = cpus().length;
  const hosts: TestbedHost[] = Array.from({ length: n }, (_, i) => {
    const id = `lab-${i + 1}`;
    const hd = hostDir(id, dir);
    return {
      id,
      roles: i === 0 ? ['server'] : ['peer'],
      backend: 'docker',
      address: hostAddress(i + 1),
      // Inside the guest: its vCPU 0 takes the victim, neighbours and the NIC's interrupts, the last the peers.
      cores: { victim: [0], neighbours: [0], peers: [Math.min(ncpu, GUEST_QUEUES) - 1], nic: [0] },
      nic: 'eth0',
      containerBlock: containerBlock(i + 1),
      ssh: { user: 'root', key: guestKey(dir), port: 22, installDir: GUEST_PROJECT },
      vm: {
        tap: tapName(i + 1),
        pidFile: join(hd, 'qemu.pid'),
        console: join(hd, 'console.log'),
        share: join(hd, 'share'),
        kernel: null,
        release: null,
        bootSeconds: null,
      },
      agent: { pid: null, ...GUEST_AGENT },
      image: null,
    };
  });
  return newState('qemu', hosts, { host: LAB_HUB_ADDRESS, port: LAB_HUB_PORT }, LAB_BRIDGE);
}

export function qemuArgv(h: TestbedHost, index: number, bzImage: string, rootfs: string, dockerDisk: string): string[] {
  const vm = h.vm!;
  const mac = `52:54:00:1b:00:${index.toString(16).padStart(2, '0')}`;
  return [
    'qemu-system-x86_64',
    // debug-threads: the vCPU threads are named "CPU n/TCG" (or /KVM), which testbed/qemu-pinning.ts looks for.
    '-name',
    `ironlab-${h.id},debug-threads=on`,
    '-machine',
    `q35,accel=${accel()}`,
    '-cpu',
    accel() === 'kvm' ? 'host' : 'max',
    '-smp',
    String(GUEST_QUEUES),
    '-m',
    String(GUEST_MEMORY_MIB),
    '-nodefaults',
    '-no-user-config',
    '-display',
    'none',
    '-kernel',
    bzImage,
    '-append',
    `console=ttyS0 root=/dev/vda rw init=/sbin/ironlab-init ironlab.addr=${h.address}/24 ironlab.name=${h.id} quiet`,
    '-drive',
    `file=${rootfs},format=raw,if=virtio,snapshot=on`,
    // /dev/vdb: /var/lib/docker with the workload image in it (testbed/guest-docker-disk.ts).
    '-drive',
    `file=${dockerDisk},format=raw,if=virtio,snapshot=on`,
    // Multiqueue virtio-net: a queue pair per vCPU, MSI-X vectors for each queue plus config and control.
    '-netdev',
    `tap,id=nic0,ifname=${vm.tap},script=no,downscript=no,queues=${GUEST_QUEUES}`,
    '-device',
    `virtio-net-pci,netdev=nic0,mac=${mac},mq=on,vectors=${2 * GUEST_QUEUES + 2}`,
    '-virtfs',
    `local,path=${PROJECT_ROOT},mount_tag=ironlab,security_model=none,readonly=on`,
    '-virtfs',
    `local,path=${vm.share},mount_tag=host,security_model=none,readonly=on`,
    '-device',
    'virtio-rng-pci',
    '-serial',
    `file:${vm.console}`,
    '-pidfile',
    vm.pidFile,
    '-daemonize',
  ];
}

const qemuPid = (h: TestbedHost): number | null => {
  const f = h.vm?.pidFile;
  if (!f || !existsSync(f)) return null;
  const pid = Number(readFileSync(f, 'utf8').trim());
  return runsOurs(pid, f) ? pid : null;
};

export async function qemuLabUp(state: TestbedState, say: Say, dir = testbedDir()): Promise<TestbedState> {
  writeState(state, dir);
  const save = () => writeState(state, dir);
  const kernel = await step('lab', 'kernel', say, () => ensureIronKernel(say));
  if (!kernel.built) say(`kernel ${kernel.hash}: cached (${kernel.bzImage})`);
  const rootfs = await step('lab', 'rootfs', say, () => ensureGuestRootfs(say));
  const system = new Docker();
  const archive = await step('lab', 'image', say, () => ensureArchive(system, say));
  const dockerDisk = await step('lab', 'docker disk', say, () => ensureGuestDockerDisk(archive, say));
  const image = { tag: imageTag(), id: (await findImage(system).catch(() => null))?.id ?? 'unknown' };
  const bpf = await step('lab', 'bpf objects', say, () => guestBpf(kernel.release, kernel.bzImage, say));
  if (!existsSync(guestKey(dir))) await run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'ironlab-testbed', '-f', guestKey(dir)]);
  await step('lab', 'bridge', say, () => ensureBridge(dir));
  // Guest-to-guest frames (the floods between lab hosts) cross the bridge and, with br_netfilter loaded, iptables'
  // FORWARD chain, which the machine's dockerd sets to DROP: the emulated lab's one ACCEPT rule, recorded first.
  state.iptablesRule = await step('lab', 'iptables', say, ensureForwardRule);
  save();
  for (const [i, h] of state.hosts.entries()) {
    const vm = h.vm!;
    if (qemuPid(h)) continue;
    vm.kernel = kernel.bzImage;
    vm.release = kernel.release;
    h.image = image;
    save();
    await step(h.id, 'share', say, () => fillShare(state, h, dir, bpf));
    await step(h.id, 'tap', say, async () => {
      if (!(await succeeds(['ip', 'link', 'show', 'dev', vm.tap])))
        await run(['ip', 'tuntap', 'add', 'dev', vm.tap, 'mode', 'tap', 'multi_queue']);
      await run(['ip', 'link', 'set', vm.tap, 'master', LAB_BRIDGE, 'up']);
    });
    const t0 = Date.now();
    await step(h.id, `boot (${accel()})`, say, () => run(qemuArgv(h, i + 1, kernel.bzImage, rootfs, dockerDisk), { timeoutMs: 60_000 }));
    await step(h.id, 'ssh', say, () => waitForSsh(h, dir));
    vm.bootSeconds = (Date.now() - t0) / 1000;
    vm.accel = accel();
    await closeSsh(guestSsh(h, dir), dir);
    say(`${h.id}: up in ${vm.bootSeconds.toFixed(1)} s (${kernel.release}, ${accel()})`);
    save();
  }
  await step('lab', 'pin emulator threads', say, () => pinGuests(state, say));
  save();
  return state;
}

/** Every running guest's QEMU threads onto the host cores of testbed/qemu-pinning.ts's plan (again on a re-up). */
async function pinGuests(state: TestbedState, say: Say): Promise<void> {
  const plan = planPinning(
    state.hosts.map((h) => ({ id: h.id, vcpus: GUEST_QUEUES })),
    cpus().length,
  );
  if (!plan) return say('one host core: the emulator threads share it, not pinned');
  for (const h of state.hosts) {
    const pid = qemuPid(h);
    if (!pid) continue;
    h.vm!.pinning = await pinQemu(pid, plan.vcpus[h.id], plan.others);
    const favoured = favourQemu(pid, plan.nice[h.id]);
    say(`${h.id}: host cores ${describePinning(h.vm!.pinning)}${favoured ? `, session nice ${plan.nice[h.id]}` : ''}`);
  }
}

/**
 * The ebpf arm's objects for the guests' kernel, built here: the guest has no clang, bpftool or libbpf headers, only
 * libbpf itself (iproute2's dependency) and tc. Its kernel has no BPF JIT (6.1's BPF_JIT needs MODULES), so the
 * accounting is the bpf_probe_read_kernel variant (build.ts, acctVariant), CO-RE against this machine's BTF and
 * relocated by the guest's libbpf against its own. Null (the guests then name what their ebpf arm lacks) where this
 * machine cannot build them.
 */
async function guestBpf(release: string, bzImage: string, say: Say): Promise<BpfObjects | null> {
  let jit = false;
  try {
    jit = /^CONFIG_BPF_JIT=y$/m.test(readFileSync(join(dirname(bzImage), 'config'), 'utf8'));
  } catch {
    /* no config beside the image: assume the interpreter, whose variant loads everywhere */
  }
  const variant = acctVariant(release, jit);
  try {
    const objs = buildBpf(undefined, { variant });
    say(`bpf objects for ${release} (${variant}${jit ? '' : ', no BPF JIT'}): ${dirname(objs.acct)}`);
    return objs;
  } catch (err) {
    say(`bpf objects: not built here, the guests have no ebpf arm (${(err as Error).message.split('\n')[0]})`);
    return null;
  }
}

/**
 * What a guest reads from its 9p share: the testbed key it authorizes, its own SSH host key (made once, kept while
 * the testbed is up: a VM that `up` restarts presents the same key), the agent's settings and its token. The host key goes into the testbed's
 * known_hosts under the guest's address, replacing what was there: SSH checks it strictly from the first call.
 */
async function fillShare(state: TestbedState, h: TestbedHost, dir: string, bpf: BpfObjects | null): Promise<void> {
  const share = h.vm!.share;
  mkdirSync(share, { recursive: true, mode: 0o700 });
  writeFileSync(join(share, 'authorized_keys'), readFileSync(`${guestKey(dir)}.pub`));
  const hostKey = join(share, 'ssh_host_ed25519_key');
  if (!existsSync(hostKey)) await run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', `ironlab-${h.id}`, '-f', hostKey]);
  const [type, key] = readFileSync(`${hostKey}.pub`, 'utf8').trim().split(/\s+/);
  const known = join(dir, 'known_hosts');
  const others = existsSync(known)
    ? readFileSync(known, 'utf8')
        .split('\n')
        .filter((l) => l && l.split(' ')[0] !== h.address)
    : [];
  writeFileSync(known, [...others, `${h.address} ${type} ${key}`].join('\n') + '\n', { mode: 0o600 });
  copyFileSync(tokenFile(dir), join(share, 'token'));
  rmSync(join(share, 'bpf'), { recursive: true, force: true });
  if (bpf) {
    mkdirSync(join(share, 'bpf'));
    copyFileSync(bpf.acct, join(share, 'bpf', ACCT_OBJECT));
    copyFileSync(bpf.drop, join(share, 'bpf', DROP_OBJECT));
  }
  writeFileSync(
    join(share, 'agent.env'),
    `IRONLAB_HUB=ws://${state.hub.host}:${state.hub.port}\nIRONLAB_CONTAINER_BLOCK=${h.containerBlock}\nIRONLAB_IMAGE=${h.image?.tag ?? ''}\n` +
      (bpf ? `${PREBUILT_ENV}=${GUEST_BPF_DIR}\n` : ''),
  );
}

/** False once the guest's init said its agent failed, or QEMU is gone: nobody waits for that agent. */
export function guestAgentMayCome(h: TestbedHost): boolean {
  if (!qemuPid(h)) return false;
  try {
    return !readFileSync(h.vm!.console, 'utf8').includes('ironlab-guest: agent failed');
  } catch {
    return true;
  }
}

async function waitForSsh(h: TestbedHost, dir: string): Promise<void> {
  const deadline = Date.now() + BOOT_TIMEOUT_MS;
  for (;;) {
    if (!qemuPid(h)) throw new Error(`QEMU exited (console: ${consoleTail(h)})`);
    if (
      readFileSync(h.vm!.console, 'utf8').includes('ironlab-guest: ready') &&
      (await guestRun(h, ['true'], 20_000, dir).then(
        () => true,
        () => false,
      ))
    )
      return;
    if (Date.now() > deadline) throw new Error(`no SSH within ${BOOT_TIMEOUT_MS / 1000} s (console: ${consoleTail(h)})`);
    await sleep(1000);
  }
}

export function consoleTail(h: TestbedHost): string {
  try {
    return readFileSync(h.vm!.console, 'utf8').trim().split('\n').slice(-3).join(' / ');
  } catch {
    return 'none';
  }
}

/** Run argv in a guest (each argument quoted for its shell by testbed/ssh.ts). */
export function guestRun(h: TestbedHost, argv: string[], timeoutMs = 120_000, dir = testbedDir()): Promise<string> {
  return sshRun(guestSsh(h, dir), argv, { timeoutMs });
}

export interface GuestStatus {
  running: boolean;
  /** Its QEMU threads' host cores, read now (testbed/qemu-pinning.ts describePinning). */
  hostCores: string | null;
  kernel: string | null;
  ironVersion: string | null;
  ironEnabled: string | null;
  /** The agent's status file in the guest, and whether its process still runs. */
  agent: AgentStatus | null;
  agentRunning: boolean;
  dockerd: 'running' | 'not answering' | 'n/a';
  /** The workload image's id in the guest's engine. */
  image: string | null;
}

/** What `status` shows for a guest, asked in one SSH call (each costs seconds under TCG). */
export async function guestStatus(h: TestbedHost, dir = testbedDir()): Promise<GuestStatus> {
  const none: GuestStatus = {
    running: false,
    hostCores: null,
    kernel: null,
    ironVersion: null,
    ironEnabled: null,
    agent: null,
    agentRunning: false,
    dockerd: 'n/a',
    image: null,
  };
  const pid = qemuPid(h);
  if (!pid) return none;
  const script = [
    'uname -r',
    'cat /proc/sys/kernel/iron_version 2>/dev/null || echo none',
    'cat /proc/sys/kernel/iron_enabled 2>/dev/null || echo -',
    'docker image inspect --format "{{.Id}}" "$1" 2>/dev/null || { docker version >/dev/null 2>&1 && echo no-image || echo no-dockerd; }',
    'tr -d "\\n" < "$2" 2>/dev/null; echo',
    'pid=$(sed -n "s/.*\\"pid\\":\\([0-9]*\\).*/\\1/p" "$2" 2>/dev/null); tr "\\0" " " < /proc/${pid:-0}/cmdline 2>/dev/null; echo',
  ].join('; ');
  const out = await guestRun(h, ['sh', '-c', script, 'sh', h.image?.tag ?? 'none', h.agent.statusFile], 90_000, dir).catch(() => '');
  await closeSsh(guestSsh(h, dir), dir);
  const [kernel, ironVersion, ironEnabled, image, agentJson, cmdline] = out.split('\n');
  let agent: AgentStatus | null = null;
  try {
    agent = agentJson ? (JSON.parse(agentJson) as AgentStatus) : null;
  } catch {
    agent = null;
  }
  return {
    running: true,
    hostCores: describePinning(qemuThreads(pid)),
    kernel: kernel || null,
    ironVersion: ironVersion || null,
    ironEnabled: ironEnabled || null,
    agent,
    agentRunning: !!cmdline?.includes('lab-agent.ts'),
    dockerd: !image ? 'n/a' : image === 'no-dockerd' ? 'not answering' : 'running',
    image: image?.startsWith('sha256:') ? image : null,
  };
}

/** QEMUs (by pid file, checked), then taps (ours by name), then the bridge when no other lab uses it. */
export async function qemuLabDown(state: TestbedState | null, dir = testbedDir()): Promise<string[]> {
  const removed: string[] = [];
  for (const h of state?.hosts ?? []) {
    const pid = qemuPid(h);
    if (pid) {
      await closeSsh(guestSsh(h, dir), dir);
      await terminate(pid, h.vm!.pidFile, 10_000);
      removed.push(`vm ${h.id} (pid ${pid})`);
    }
    rmSync(hostDir(h.id, dir), { recursive: true, force: true });
  }
  const links = (await run(['ip', '-o', 'link', 'show']))
    .split('\n')
    .map((l) => l.split(': ')[1]?.split('@')[0])
    .filter((n): n is string => !!n && OUR_TAP.test(n));
  for (const tap of links) if (await succeeds(['ip', 'link', 'del', tap])) removed.push(`tap ${tap}`);
  return removed;
}
