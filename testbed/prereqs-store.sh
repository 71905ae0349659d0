#!/bin/sh
# Prerequisites of the store suites (test/store) on a fresh Debian machine, as root: Debian's PostgreSQL
# server, which the suites start as a throwaway cluster of their own (initdb in a temp dir, a unix socket in
# it, no TCP port; test/store/postgres-cluster.ts), run as the `postgres` user the package creates.
# Idempotent. No init system here: the package's own cluster is not started, and need not be. Ends by
# starting and stopping such a throwaway cluster, so a broken install fails here, naming the step.
set -eu

if [ "$(id -u)" != 0 ]; then echo "testbed/prereqs-store.sh: run as root" >&2; exit 2; fi

if ! dpkg-query -W -f='${db:Status-Abbrev}' postgresql 2>/dev/null | grep -q '^ii'; then
  echo "testbed/prereqs-store.sh: installing postgresql"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql
fi

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$bin/initdb" ] || { echo "testbed/prereqs-store.sh: no initdb under /usr/lib/postgresql/*/bin after installing postgresql" >&2; exit 2; }
id -u postgres >/dev/null 2>&1 || { echo "testbed/prereqs-store.sh: the postgresql package made no 'postgres' user" >&2; exit 2; }

dir=$(mktemp -d /tmp/ironlab-pg-check.XXXXXX)
trap 'runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
chown postgres: "$dir"
runuser -u postgres -- "$bin/initdb" -D "$dir/data" -U ironlab -A trust --no-sync --no-instructions >/dev/null
runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -o "-k $dir -c listen_addresses=" start >/dev/null \
  || { cat "$dir/server.log" >&2; echo "testbed/prereqs-store.sh: a throwaway cluster did not start" >&2; exit 2; }
runuser -u postgres -- "$bin/pg_isready" -h "$dir" -U ironlab >/dev/null
echo "testbed/prereqs-store.sh: PostgreSQL $("$bin/postgres" --version | awk '{print $3}') starts ($bin)"
