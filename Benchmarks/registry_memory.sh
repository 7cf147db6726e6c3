#!/usr/bin/env bash
# Resident memory per subscription, restart-to-ready time and the time until the index is read in
# (pushes are served from the database until then) for a registry of N subscriptions:
# a fresh mosquitto and Pushgate (the given binary) on free 127.0.0.1 ports in a temporary
# directory; RSS after /readyz with an empty registry, then with N subscriptions made by
# `pushgate admin create-subscriptions` (--with-sets: each in a set, as POST /subscribe makes them;
# --restricted: also restricted to one application server key, as a web-push library's are).
#
#   Benchmarks/registry_memory.sh BINARY N [--with-sets [--restricted]]
set -euo pipefail
binary=$(realpath "$1") count=$2 flag=${3:-}
# A fixed P-256 public key (any valid point would do: nothing is pushed to these subscriptions).
[ "${4:-}" = "--restricted" ] && flag="$flag --restricted-to BM1yV-15UAIB6AjWRbmBIG8qPfigjJeGoh19Pt22mkBmcx4yGv0plqpzc5ZC6W-f4Yl9XGFduOERAV-rLKKI8ic"
dir=$(mktemp -d)
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port) broker_port=$(free_port)
printf 'listener %s 127.0.0.1\nallow_anonymous true\n' "$broker_port" > "$dir/mosquitto.conf"
mosquitto -c "$dir/mosquitto.conf" > /dev/null 2>&1 &
broker=$!
server=
cleanup() { [ -n "$server" ] && kill "$server" 2> /dev/null; kill "$broker" 2> /dev/null; rm -rf "$dir"; }
trap cleanup EXIT
cat > "$dir/pushgate.yaml" << YAML
server:
  listen: "127.0.0.1:$port"
  public_url: "http://127.0.0.1:$port"
mqtt:
  url: "mqtt://127.0.0.1:$broker_port"
  client_id: "registry-memory"
storage:
  path: "$dir/registry.sqlite"
logging:
  level: "warning"
YAML
# Starts the server, waits for /readyz; sets $seconds (spawn to ready), $filled (spawn to the index
# read in: /readyz says "registry":"ready") and $rss (KiB, 1 s after that).
measure() {
  local started=$(date +%s.%N)
  "$binary" serve --config "$dir/pushgate.yaml" >> "$dir/pushgate.log" 2>&1 &
  server=$!
  until curl -sf "http://127.0.0.1:$port/readyz" > /dev/null; do
    kill -0 "$server" 2> /dev/null || { cat "$dir/pushgate.log" >&2; exit 1; }
    sleep 0.02
  done
  seconds=$(echo "$(date +%s.%N) - $started" | bc)
  until curl -sf "http://127.0.0.1:$port/readyz" | grep -q '"registry":"ready"'; do
    kill -0 "$server" 2> /dev/null || { cat "$dir/pushgate.log" >&2; exit 1; }
    sleep 0.05
  done
  filled=$(echo "$(date +%s.%N) - $started" | bc)
  sleep 1
  rss=$(awk '/VmRSS/ { print $2 }' "/proc/$server/status")
  kill "$server"; wait "$server" 2> /dev/null || true; server=
}
measure
empty=$rss
"$binary" admin create-subscriptions --config "$dir/pushgate.yaml" --count "$count" --output /dev/null $flag
measure
echo "$count subscriptions${flag:+ (${flag%% --restricted-to *}${4:+ $4})}: ready in ${seconds} s, index in after ${filled} s; ${rss} KiB resident = $(( (rss - empty) * 1024 / count )) bytes per subscription"
