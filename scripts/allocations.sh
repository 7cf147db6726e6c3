#!/usr/bin/env bash
# Heap allocations per operation of the push path's hot units (Benchmarks/Allocations), counted
# by ordo-one/malloc-interposer preloaded into the release build. Deterministic, so `make test`
# runs it with --check: a unit over its limit in Benchmarks/Allocations/limits.json fails.
#
#   scripts/allocations.sh [--check] [--json FILE]
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product pushgate-allocations >/dev/null
bin="$(swift build -c release --show-bin-path)"
# Fixed hashing: dictionary layouts, and so their allocations, are the same every run.
SWIFT_DETERMINISTIC_HASHING=1 LD_PRELOAD="$bin/libMallocInterposerSwift.so" "$bin/pushgate-allocations" "$@"
