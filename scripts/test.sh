#!/usr/bin/env bash
# `make test`: the whole suite on a fresh Debian 12 machine with the Swift toolchain:
# Swift unit and integration tests (real mosquitto), then the Python interop tests.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
scripts/python-env.sh

swift build --build-tests
swift test --skip-build
.venv/bin/python -m pytest -q Tests/interop
