#!/bin/sh
# PID 1 of an ironlab QEMU lab host (testbed/qemu-lab.ts). No init system: mount what the lab needs, cgroup v2
# with the cpu controller delegated (IRON finds a socket's owner through its cgroup v2), the lab address from
# the kernel command line (ironlab.addr=, ironlab.name=), the project (9p tag `ironlab`, read-only) and this
# host's testbed files (9p tag `host`: authorized_keys), then sshd. "ironlab-guest: ready" on the console says
# the host can be reached.
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /dev/shm
mount -t cgroup2 cgroup2 /sys/fs/cgroup
echo "+cpu +cpuset +memory +pids" > /sys/fs/cgroup/cgroup.subtree_control
for a in $(cat /proc/cmdline); do
  case "$a" in
    ironlab.addr=*) addr="${a#*=}" ;;
    ironlab.name=*) name="${a#*=}" ;;
  esac
done
hostname "${name:-ironlab-guest}"
ip link set lo up
ip link set eth0 up
[ -n "$addr" ] && ip addr add "$addr" dev eth0
mkdir -p /ironlab /ironlab-host
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144 ironlab /ironlab
mount -t 9p -o trans=virtio,version=9p2000.L,ro host /ironlab-host
mkdir -p /root/.ssh /run/sshd
cp /ironlab-host/authorized_keys /root/.ssh/authorized_keys 2>/dev/null
chmod 700 /root/.ssh; chmod 600 /root/.ssh/authorized_keys 2>/dev/null
ssh-keygen -A >/dev/null 2>&1
/usr/sbin/sshd -o PermitRootLogin=prohibit-password -o UseDNS=no
echo "ironlab-guest: ready $(uname -r) $(cat /proc/sys/kernel/iron_version 2>/dev/null || echo no-iron)" > /dev/ttyS0
# PID 1 must live; the shell's waits reap orphans.
while :; do sleep 3600; done
