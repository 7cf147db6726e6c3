#!/usr/bin/env bash
# The whole benchmark (Benchmarks/bench.py says what it measures): builds the release binaries
# and the C tools, then runs everything against a fresh mosquitto and Pushgate on free
# 127.0.0.1 ports. Results: .run/bench/results.md and results.json.
#
#   scripts/bench.sh [bench.py options]     e.g. --skip-scale, --count 20000
#   --skip-cluster    leave out Benchmarks/cluster.py (several instances on PostgreSQL)
#   --cluster-only    run only Benchmarks/cluster.py
set -euo pipefail
cd "$(dirname "$0")/.."
cluster=yes single=yes
args=()
for arg in "$@"; do
  case "$arg" in
    --skip-cluster) cluster=no ;;
    --cluster-only) single=no ;;
    *) args+=("$arg") ;;
  esac
done
scripts/install-deps.sh --test
scripts/python-env.sh
mkdir -p .run/bench
gcc -O2 -Wall -o .run/bench/mqtt_ceiling Benchmarks/c/mqtt_ceiling.c -lmosquitto
gcc -O2 -Wall -o .run/bench/mqtt_fleet Benchmarks/c/mqtt_fleet.c -lmosquitto
swift build -c release --product pushgate >/dev/null
swift build -c release --product pushgate-mqtt-bench >/dev/null
swift build -c release --product pushgate-http-floor >/dev/null
# (Also builds ordo-one/malloc-interposer's library, preloaded for the allocation count.)
swift build -c release --product pushgate-allocations >/dev/null
bin="$(swift build -c release --show-bin-path)"
# 1,000 fleet connections and the broker's side of them need descriptors.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$single" = yes ]; then
  .venv/bin/python Benchmarks/bench.py --pushgate "$bin/pushgate" --bridge-bench "$bin/pushgate-mqtt-bench" \
    --http-floor "$bin/pushgate-http-floor" \
    --ceiling .run/bench/mqtt_ceiling --fleet-tool .run/bench/mqtt_fleet --work .run/bench \
    --interposer "$bin/libMallocInterposerSwift.so" ${args[@]+"${args[@]}"}
fi
if [ "$cluster" = yes ]; then
  .venv/bin/python Benchmarks/cluster.py --pushgate "$bin/pushgate" --ceiling .run/bench/mqtt_ceiling --work .run/bench
fi
