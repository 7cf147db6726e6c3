#!/usr/bin/env bash
# `make test`: the whole suite on a fresh Debian 12 machine with the Swift toolchain:
# Swift unit and integration tests (real mosquitto, real PostgreSQL), then the Python interop
# tests. One throwaway PostgreSQL server serves the run (each test makes its own database);
# tests that stop PostgreSQL start their own.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh --test
scripts/python-env.sh

# PostgreSQL runs as the postgres user, which needs to reach its directory: not under /root.
pg_dir=$(mktemp -d /tmp/pushgate-test-pg.XXXXXX)
chmod 755 "$pg_dir"
trap 'scripts/postgres.sh stop "$pg_dir/server" || true; rm -rf "$pg_dir"' EXIT
export PUSHGATE_TEST_POSTGRES_URL=$(scripts/postgres.sh start "$pg_dir/server")
# The PostgreSQL tests are skipped without a server; here they must run.
export PUSHGATE_TEST_REQUIRE_POSTGRES=1

swift build --build-tests
# The attack tests hold the server to latency and memory targets: they run the release build.
swift build -c release --product pushgate
export PUSHGATE_RELEASE_BIN="$(swift build -c release --show-bin-path)/pushgate"
swift test --skip-build
# Allocations per operation of the hot units, held to their limits (deterministic, unlike time).
scripts/allocations.sh --check
.venv/bin/python -m pytest -q Tests/interop
# A bounded fuzzing run of every parser of untrusted bytes (make soak runs them longer).
scripts/fuzz.sh 15
