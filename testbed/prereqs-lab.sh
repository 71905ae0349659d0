#!/bin/sh
# Prerequisites of the lab suites (test/lab) and of `ironlab testbed up` on a fresh Debian machine, as root.
# Idempotent: installs only the Debian packages that are missing. Run after testbed/prereqs.sh, which starts
# the machine's dockerd and builds the workload image (the emulated lab saves it from there into its cache;
# the inventory suite's hosts use that dockerd).
#   - the lab hosts' packages, the same list `ironlab testbed up` checks (testbed/prerequisites.ts);
#   - openssh-server and openssh-client: the inventory suite runs an sshd inside each emulated host.
#   - munge, slurmctld, slurmd, slurm-client: `testbed up --slurm` (test/lab/slurm.test.ts) runs their daemons
#     itself, from its own state directory; nothing of theirs is started here.
set -eu

if [ "$(id -u)" != 0 ]; then echo "testbed/prereqs-lab.sh: run as root" >&2; exit 2; fi

missing=""
for pkg in docker.io iperf3 sysbench debootstrap iproute2 util-linux iptables bpftrace clang bpftool libbpf-dev openssh-server openssh-client munge slurmctld slurmd slurm-client; do
  dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null | grep -q '^ii' || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  echo "testbed/prereqs-lab.sh: installing$missing"
  apt-get update -q
  # No init system here: the packages' services (ssh) are not started, and need not be.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing
fi
# sshd's privilege separation directory (an init system would make it).
mkdir -p /run/sshd
