#!/bin/sh
# Prerequisites of the docker backend on a fresh Debian machine, as root. Idempotent: installs only what is
# missing, starts dockerd only if it is not running, builds the workload image only if its tag is absent.
# CI calls it before `npm test`; run it by hand once on a development machine.
set -eu
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then echo "testbed/prereqs.sh: run as root (sudo testbed/prereqs.sh)" >&2; exit 2; fi

missing=""
command -v dockerd >/dev/null 2>&1 || missing="$missing docker.io"
command -v debootstrap >/dev/null 2>&1 || missing="$missing debootstrap"
command -v tc >/dev/null 2>&1 || missing="$missing iproute2"
command -v nsenter >/dev/null 2>&1 || missing="$missing util-linux"
if [ -n "$missing" ]; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing
fi

if ! docker info >/dev/null 2>&1; then
  # No init system starts it on these machines: start it ourselves and wait for its socket.
  # Inherited descriptors closed: run under `flock LOCK testbed/prereqs.sh`, dockerd would otherwise keep the
  # lock's descriptor (fd 3+) open for its whole life and hold the machine's lock forever.
  nohup dockerd >/var/log/dockerd.log 2>&1 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
  i=0
  until docker info >/dev/null 2>&1; do
    i=$((i + 1))
    if [ "$i" -gt 60 ]; then echo "testbed/prereqs.sh: dockerd did not come up; see /var/log/dockerd.log" >&2; exit 1; fi
    sleep 0.5
  done
fi

npx tsx workloads/build-image.ts
