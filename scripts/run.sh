#!/usr/bin/env bash
# `make run`: Pushgate on config.yaml with a local mosquitto, on a fresh Debian 12 machine.
set -euo pipefail
cd "$(dirname "$0")/.."
config=${CONFIG:-config.yaml}

scripts/install-deps.sh

if (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; then
  echo "using the MQTT broker already listening on 127.0.0.1:1883"
else
  mkdir -p .run/mosquitto
  mosquitto -c scripts/mosquitto.conf > .run/mosquitto.log 2>&1 &
  broker=$!
  trap 'kill "$broker" 2>/dev/null || true' EXIT
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null && break; sleep 0.1; done
  echo "started mosquitto on 127.0.0.1:1883 (pid $broker, log .run/mosquitto.log)"
fi

swift build -c release --product pushgate
"$(swift build -c release --show-bin-path)/pushgate" serve --config "$config"
