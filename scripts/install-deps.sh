#!/usr/bin/env bash
# Installs the Debian packages Pushgate builds, runs and tests with, only those missing.
# Needs root (or sudo) the first time; a no-op once everything is there. `--test` adds what only
# the tests need (PostgreSQL, for the multi-instance tests; `make run` stays on SQLite).
set -euo pipefail

packages=(mosquitto mosquitto-clients libmosquitto-dev zlib1g-dev nghttp2-client curl openssl ca-certificates)
if [ "${1:-}" = "--test" ]; then packages+=(postgresql util-linux systemd binutils libssl-dev gcc make); fi
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
# Python's venv module comes from python3-venv on Debian's own Python.
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then missing+=(python3-venv); fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
