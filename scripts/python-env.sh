#!/usr/bin/env bash
# Creates .venv with the Python ecosystem's own Web Push and MQTT libraries, which the interop
# tests and the Python examples use as independent peers.
set -euo pipefail
cd "$(dirname "$0")/.."
requirements=Tests/interop/requirements.txt
if [ ! -x .venv/bin/python ] || ! cmp -s "$requirements" .venv/.requirements; then
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -r "$requirements"
  cp "$requirements" .venv/.requirements
fi
