#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests: Debian's binaries, a data directory of its own, a free
# port on 127.0.0.1, trust authentication for the `postgres` role on loopback only.
#   scripts/postgres.sh start DIR   prints the server's URL (postgres://postgres@127.0.0.1:PORT/postgres)
#   scripts/postgres.sh stop DIR
# PostgreSQL refuses to run as root; as root the server runs as the `postgres` user (Debian's
# package creates it), which then owns DIR.
set -euo pipefail

command=${1:?start or stop}
dir=$(realpath -m "${2:?data directory}")
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bin/pg_ctl" ] || { echo "PostgreSQL is not installed (scripts/install-deps.sh --test)" >&2; exit 1; }

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$command" in
start)
  mkdir -p "$dir"
  [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$dir"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --no-sync -E UTF8 >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
  fi
  # A restart keeps its port (tests stop and start the server under running instances).
  if [ -f "$dir/port" ]; then port=$(cat "$dir/port"); else
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  fi
  # fsync stays on: the tests kill -9 and expect what was answered 201 to be there.
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c max_connections=300" >/dev/null \
    || { cat "$dir/server.log" >&2; exit 1; }
  echo "$port" >"$dir/port"
  echo "postgres://postgres@127.0.0.1:$port/postgres"
  ;;
stop)
  [ -f "$dir/data/postmaster.pid" ] || exit 0
  as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
  ;;
*)
  echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
