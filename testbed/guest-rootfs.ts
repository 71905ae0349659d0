// The QEMU lab host's root filesystem: Debian (debootstrap minbase, mirror from this machine's apt configuration)
// with what a lab host needs to be driven and measured (iperf3, sysbench, iproute2, sshd), to run containers
// (docker.io with its containerd and runc; iptables switched to its legacy variant, which the guest kernel's
// IP_NF_* tables serve: it has no nf_tables) and this machine's Node binary, made into an ext4 image with
// `mkfs.ext4 -d`. It is a cache like the workload image archive (keyed by the hash of its recipe, never changed by
// a guest: each VM boots it with snapshot=on, so writes go to QEMU's temporary overlay and vanish with the VM).
// PID 1 is a stub that mounts the project's 9p share and runs testbed/kernel/guest-init.sh from it: no init
// system, so a TCG guest is up in seconds, and a change to the init script needs no new image. The image carries
// no SSH host keys: each guest gets its own from the testbed (qemu-lab.ts).
//   npx tsx testbed/guest-rootfs.ts            build (or reuse) and print the image path
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { aptMirror } from '../workloads/image.ts';
import { run } from './exec.ts';
import type { Say } from './steps.ts';
import { sweepDeadScratch } from './cache-scratch.ts';

export const GUEST_RECIPE = {
  recipeVersion: 2,
  suite: 'bookworm',
  variant: 'minbase',
  packages: ['iperf3', 'sysbench', 'iproute2', 'openssh-server', 'libstdc++6', 'procps', 'docker.io', 'iptables'],
  /** Room for the workload image that each guest's dockerd loads (into the VM's throwaway overlay). */
  sizeMiB: 3072,
  /** PID 1 (as /sbin/ironlab-init): the real init is the project's, read from the share. */
  init: [
    '#!/bin/sh',
    'mount -t proc proc /proc',
    'mkdir -p /ironlab',
    'mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144 ironlab /ironlab',
    'exec /bin/sh /ironlab/testbed/kernel/guest-init.sh',
  ],
  /** Run in the tree after debootstrap: the legacy iptables, and no host keys of the image's own. */
  setup: [
    'update-alternatives --set iptables /usr/sbin/iptables-legacy',
    'update-alternatives --set ip6tables /usr/sbin/ip6tables-legacy',
    'rm -f /etc/ssh/ssh_host_*',
  ],
} as const;

export const guestCacheDir = () => process.env.IRONLAB_GUEST_CACHE ?? '/var/cache/ironlab/guest';
export function guestRootfsHash(): string {
  const h = createHash('sha256').update(JSON.stringify(GUEST_RECIPE)).update(process.version);
  return h.digest('hex').slice(0, 16);
}

/** The cached image, built first when missing. */
export async function ensureGuestRootfs(say: Say): Promise<string> {
  const hash = guestRootfsHash();
  const image = join(guestCacheDir(), hash, 'rootfs.ext4');
  if (existsSync(image)) return image;
  const dir = join(image, '..');
  for (const name of [...sweepDeadScratch(guestCacheDir()), ...sweepDeadScratch(dir)])
    say(`guest cache: removed ${name}, left by a build that was killed`);
  const tree = `${dir}.tree.${process.pid}`;
  rmSync(tree, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const t0 = Date.now();
  try {
    say(`guest rootfs ${hash}: debootstrap ${GUEST_RECIPE.suite} (${GUEST_RECIPE.packages.join(', ')})`);
    await run(
      [
        'debootstrap',
        `--variant=${GUEST_RECIPE.variant}`,
        `--include=${GUEST_RECIPE.packages.join(',')}`,
        GUEST_RECIPE.suite,
        tree,
        aptMirror(GUEST_RECIPE.suite),
      ],
      { timeoutMs: 1_800_000 },
    );
    for (const cmd of GUEST_RECIPE.setup) await run(['chroot', tree, 'sh', '-c', cmd], { timeoutMs: 60_000 });
    copyFileSync(process.execPath, join(tree, 'usr/local/bin/node'));
    writeFileSync(join(tree, 'sbin/ironlab-init'), GUEST_RECIPE.init.join('\n') + '\n');
    chmodSync(join(tree, 'sbin/ironlab-init'), 0o755);
    rmSync(join(tree, 'var/cache/apt/archives'), { recursive: true, force: true });
    mkdirSync(join(tree, 'var/cache/apt/archives/partial'), { recursive: true });
    writeFileSync(join(tree, 'etc/hostname'), 'ironlab-guest\n');
    const tmp = `${image}.${process.pid}.tmp`;
    await run(['mkfs.ext4', '-q', '-F', '-L', 'ironlab-root', '-d', tree, tmp, `${GUEST_RECIPE.sizeMiB}M`], { timeoutMs: 600_000 });
    renameSync(tmp, image);
    say(`guest rootfs ${hash}: built in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    return image;
  } finally {
    rmSync(tree, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const t0 = Date.now();
  const say = (l: string) => process.stderr.write(`  ${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s  ${l}\n`);
  ensureGuestRootfs(say).then(
    (image) => process.stdout.write(`${image}\n(wall ${((Date.now() - t0) / 1000).toFixed(1)} s)\n`),
    (err) => {
      process.stderr.write(`guest-rootfs: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
