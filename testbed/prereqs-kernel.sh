#!/bin/sh
# Prerequisites of the QEMU lab (`ironlab testbed up --kernel iron`, test/lab/iron-kernel.test.ts) on a fresh
# Debian machine, as root. Idempotent: installs only what is missing.
#   - linux-source-6.1 (the tarball in /usr/src the IRON patches apply to) and what building it needs (dwarves:
#     pahole, for the kernel's BTF);
#   - qemu-system-x86 (TCG without /dev/kvm), e2fsprogs (mkfs.ext4 -d), debootstrap, openssh-client, iperf3,
#     util-linux (taskset: `up` pins the emulator threads, testbed/qemu-pinning.ts).
set -eu

if [ "$(id -u)" != 0 ]; then echo "testbed/prereqs-kernel.sh: run as root" >&2; exit 2; fi

missing=""
for pkg in linux-source-6.1 build-essential bc bison flex libelf-dev libssl-dev xz-utils cpio git dwarves qemu-system-x86 e2fsprogs debootstrap openssh-client iperf3 util-linux; do
  dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null | grep -q '^ii' || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  echo "testbed/prereqs-kernel.sh: installing$missing"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
fi
