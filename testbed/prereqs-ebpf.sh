#!/usr/bin/env bash
# Prerequisites of ironlab's eBPF enforcement and its tests (test/ebpf, test/bench/ebpf-bench.ts), for Debian
# bookworm as root. Idempotent: installs only what is missing, mounts only what is not mounted.
#   clang llvm           compile agents/enforcement/bpf/*.bpf.c at prepare time (clang -target bpf)
#   libbpf1 libbpf-dev   libbpf.so.1 (loaded from Node through koffi) and the bpf_helpers.h headers
#   linux-libc-dev       UAPI headers for the tc object (-I/usr/include/x86_64-linux-gnu)
#   bpftool              vmlinux.h from the kernel's BTF; prog stats for the bench
#   iproute2             tc (cls_bpf, pinned maps), ip netns, nsenter comes from util-linux
#   iperf3               bounded floods between test namespaces
#   bpftrace             optional: quick tracepoint checks by hand (not used by the suites)
set -euo pipefail

pkgs=(clang llvm libbpf1 libbpf-dev linux-libc-dev bpftool iproute2 iperf3 util-linux bpftrace)
need=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "== apt-get install ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# Filesystems the loader and tc need (a fresh VM may lack them).
mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf

# Kernel facts the eBPF mode depends on: say clearly when the kernel cannot do it.
[ -r /sys/kernel/btf/vmlinux ] || { echo "prereqs-ebpf: no BTF at /sys/kernel/btf/vmlinux (kernel without CONFIG_DEBUG_INFO_BTF)" >&2; exit 1; }
[ -e /sys/fs/cgroup/cpu/cpu.cfs_quota_us ] || echo "prereqs-ebpf: warning: no cgroup v1 cpu controller at /sys/fs/cgroup/cpu (charging tests will fail)" >&2

# The koffi npm package (FFI to libbpf) comes with `npm ci` (package.json).
echo "== eBPF prerequisites ready (clang $(clang --version | head -1 | grep -o '[0-9][0-9.]*' | head -1), bpftool $(bpftool version | head -1 | awk '{print $2}'))"
