#!/bin/sh
# The QEMU lab's two caches, built (or reused) side by side: the IRON kernel (testbed/kernel-build.ts: make -j,
# CPU-bound) and the guest root filesystem (testbed/guest-rootfs.ts: debootstrap, mostly download and unpack).
# .ci/run starts this in the background at nice 19 and SCHED_IDLE right after npm ci, so the build takes only the
# CPU the other suites leave, and the kernel suite (last in npm test) waits for it. Non-zero when either failed.
set -u
cd "$(dirname "$0")/.."
npx tsx testbed/guest-rootfs.ts &
rootfs_pid=$!
npx tsx testbed/kernel-build.ts
kernel=$?
wait "$rootfs_pid"
rootfs=$?
echo "qemu-lab-images: kernel exit $kernel, guest rootfs exit $rootfs"
[ "$kernel" = 0 ] && [ "$rootfs" = 0 ]
