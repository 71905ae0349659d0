// The QEMU lab guests' Docker data root, with the workload image already in it: an ext4 image made here, once per
// image tag, and attached to each guest as a second disk (snapshot=on, like the root filesystem) that its init
// mounts on /var/lib/docker. A `docker load` inside a TCG guest (checksums and untar of ~190 MB, emulated) took
// more than 8 minutes; here it takes seconds: a throwaway dockerd of this machine (bookworm's docker.io, the same
// version as the guest's) with its data root in scratch loads the cached archive (testbed/host-image.ts), stops,
// and the data root becomes the image (`mkfs.ext4 -d`). Nothing is pulled. The throwaway dockerd has no network
// (no bridge, no iptables) and its own socket and pid file under the scratch directory, its exec root in /run.
import { createReadStream, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { findImage, imageTag } from '../workloads/image.ts';
import { sweepDeadScratch } from './cache-scratch.ts';
import { run } from './exec.ts';
import { guestCacheDir } from './guest-rootfs.ts';
import { dockerOf, mountsUnder, startDockerd } from './host-dockerd.ts';
import { pidsWith, terminate } from './processes.ts';
import type { Say } from './steps.ts';

/** Room for the image and what a campaign's containers write (into the VM's overlay, not this file). */
const SIZE_MIB = 2048;

/** The cached disk for the current workload image, made first when missing. `archive`: its `docker save`. */
export async function ensureGuestDockerDisk(archive: string, say: Say): Promise<string> {
  const tag = imageTag();
  const disk = join(guestCacheDir(), `docker-${tag.replace(':', '-')}.ext4`);
  if (existsSync(disk)) return disk;
  mkdirSync(guestCacheDir(), { recursive: true });
  for (const name of sweepDeadScratch(guestCacheDir())) say(`guest cache: removed ${name}, left by a build that was killed`);
  const tree = `${disk}.tree.${process.pid}`;
  rmSync(tree, { recursive: true, force: true });
  const root = join(tree, 'data');
  // Short: containerd's sockets live under the exec root, and a unix socket's path has 107 bytes at most.
  const exec = `/run/ironlab-dd.${process.pid}`;
  const engine = { dataRoot: root, execRoot: exec, socket: join(tree, 'd.sock'), pidFile: join(tree, 'd.pid') };
  const t0 = Date.now();
  say(`guest docker disk ${tag}: loading ${archive} into a throwaway dockerd`);
  try {
    await startDockerd(engine, join(tree, 'dockerd.log'), { flags: ['--storage-driver=overlay2'], waitMs: 60_000 });
    const docker = dockerOf(engine);
    const stream = await docker.loadImage(createReadStream(archive));
    await new Promise<void>((resolve, reject) =>
      docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve())),
    );
    if (!(await findImage(docker))) throw new Error(`loaded ${archive} but ${tag} is not there`);
    await stopEngine(root);
    for (const m of mountsUnder([tree])) await run(['umount', '-l', m]);
    const tmp = `${disk}.${process.pid}.tmp`;
    await run(['mkfs.ext4', '-q', '-F', '-L', 'ironlab-docker', '-d', root, tmp, `${SIZE_MIB}M`], { timeoutMs: 600_000 });
    renameSync(tmp, disk);
    say(`guest docker disk ${tag}: made in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    return disk;
  } finally {
    await stopEngine(root);
    for (const m of mountsUnder([tree, exec])) await run(['umount', '-l', m]).catch(() => undefined);
    rmSync(tree, { recursive: true, force: true });
    rmSync(exec, { recursive: true, force: true });
  }
}

/** The throwaway dockerd, found by its data root on its command line (also when it never answered). */
async function stopEngine(root: string): Promise<void> {
  for (const pid of pidsWith(root)) await terminate(pid, root, 30_000);
}
