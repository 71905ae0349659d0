#!/bin/sh
# PID 1 of an ironlab QEMU lab host (testbed/qemu-lab.ts), run by the image's stub from the project share. No
# init system: mount what the lab needs, cgroup v2 with the cpu controller delegated (IRON finds a socket's owner
# through its cgroup v2), the lab address from the kernel command line (ironlab.addr=, ironlab.name=), the project
# (9p tag `ironlab`, read-only) and this host's testbed files (9p tag `host`: authorized_keys, this guest's own
# SSH host key, the agent's settings and token), then sshd. "ironlab-guest: ready" on the console says the host
# can be reached. Then, in the background, dockerd (flags as the emulated lab's engines: no default bridge, no
# iptables) on /var/lib/docker from the second disk, which already holds the workload image (never pulled), and
# the testbed's agent from the project share (testbed/lab-agent.ts), which dials the hub on the lab bridge;
# "ironlab-guest: agent started" or "ironlab-guest: agent failed: ..." on the console says how that went.
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
mountpoint -q /proc || mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /dev/shm
mount -t cgroup2 cgroup2 /sys/fs/cgroup
echo "+cpu +cpuset +memory +pids" > /sys/fs/cgroup/cgroup.subtree_control
mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
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
mountpoint -q /ironlab || mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144 ironlab /ironlab
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144 host /ironlab-host
mkdir -p /root/.ssh /run/sshd /run/ironlab
cp /ironlab-host/authorized_keys /root/.ssh/authorized_keys 2>/dev/null
chmod 700 /root/.ssh; chmod 600 /root/.ssh/authorized_keys 2>/dev/null
# This guest's own host key, made by the testbed (its known_hosts names it): never one baked into the image.
if [ -f /ironlab-host/ssh_host_ed25519_key ]; then
  install -m 600 /ironlab-host/ssh_host_ed25519_key /etc/ssh/ssh_host_ed25519_key
  hostkey=/etc/ssh/ssh_host_ed25519_key
else
  ssh-keygen -q -t ed25519 -N '' -f /run/ironlab/ssh_host_ed25519_key
  hostkey=/run/ironlab/ssh_host_ed25519_key
fi
/usr/sbin/sshd -o PermitRootLogin=prohibit-password -o UseDNS=no -o HostKey="$hostkey"
echo "ironlab-guest: ready $(uname -r) $(cat /proc/sys/kernel/iron_version 2>/dev/null || echo no-iron)" > /dev/ttyS0

# The agent's settings (IRONLAB_HUB, IRONLAB_CONTAINER_BLOCK), written by `testbed up`; without them, no engine.
if [ -f /ironlab-host/agent.env ]; then
  (
    fail() { echo "ironlab-guest: agent failed: $*" > /dev/ttyS0; exit 1; }
    . /ironlab-host/agent.env
    # The ebpf arm's objects, built by the testbed for this kernel (the guest has no clang): for the agent.
    [ -n "$IRONLAB_BPF_OBJECTS" ] && export IRONLAB_BPF_OBJECTS
    mkdir -p /var/lib/docker
    mount /dev/vdb /var/lib/docker || fail "no docker disk (/dev/vdb)"
    # containerd first, on its own: under TCG it can take longer to answer than dockerd waits for a managed one.
    containerd >/run/ironlab/containerd.log 2>&1 &
    waitfor() { # $1 seconds, $2 pid that must stay alive, $3... the test
      t=$1 p=$2; shift 2; end=$(($(date +%s) + t))
      until "$@" >/dev/null 2>&1; do
        kill -0 "$p" 2>/dev/null || return 1
        [ "$(date +%s)" -lt "$end" ] || return 1
        sleep 1
      done
    }
    waitfor 300 $! test -S /run/containerd/containerd.sock || fail "containerd did not start: $(tail -n 2 /run/ironlab/containerd.log)"
    dockerd --containerd=/run/containerd/containerd.sock --bridge=none --iptables=false --ip6tables=false >/run/ironlab/dockerd.log 2>&1 &
    waitfor 300 $! docker version || fail "dockerd did not answer: $(tail -n 2 /run/ironlab/dockerd.log)"
    docker image inspect "$IRONLAB_IMAGE" >/dev/null 2>&1 || fail "the docker disk has no $IRONLAB_IMAGE"
    cd /ironlab || fail "no project share"
    setsid node --import tsx testbed/lab-agent.ts --connect "$IRONLAB_HUB" --token-file /ironlab-host/token --backend docker \
      --host-id "$name" --status-file /run/ironlab/agent.json --nic eth0 --container-block "$IRONLAB_CONTAINER_BLOCK" \
      >>/run/ironlab/agent.log 2>&1 </dev/null &
    echo "ironlab-guest: agent started (pid $!)" > /dev/ttyS0
  ) &
fi
# PID 1 must live; the shell's waits reap orphans.
while :; do sleep 3600; done
