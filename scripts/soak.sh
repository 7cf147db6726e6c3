#!/usr/bin/env bash
# `make soak`: the long runs of the fault-and-attack suite against the release build (a table of
# each attack with its targets; non-zero if one is missed), then every fuzz target for 5 minutes.
#   SOAK_SECONDS=30 FUZZ_SECONDS=300 scripts/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test
scripts/python-env.sh
swift build -c release --product pushgate
status=0
.venv/bin/python Tests/soak/soak.py --binary "$(swift build -c release --show-bin-path)/pushgate" \
  --seconds "${SOAK_SECONDS:-30}" || status=1
scripts/fuzz.sh "${FUZZ_SECONDS:-300}" || status=1
exit $status
