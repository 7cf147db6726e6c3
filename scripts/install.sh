#!/usr/bin/env bash
# `make install`: the release binary (Swift standard library linked in statically, so the host
# needs no Swift toolchain; it needs zlib1g only), the systemd unit, an example config (never overwriting one), the
# docs, and a `pushgate` system user. DESTDIR stages everything under a folder instead (packaging,
# tests); PREFIX defaults to /usr/local.
#   sudo make install && sudo systemctl enable --now pushgate
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=${PREFIX:-/usr/local}
dest=${DESTDIR:-}

if [ -n "${PUSHGATE_BIN:-}" ]; then
  bin=$PUSHGATE_BIN            # a binary built already (the tests stage their debug build)
else
  scripts/install-deps.sh
  swift build -c release --product pushgate --static-swift-stdlib
  bin="$(swift build -c release --static-swift-stdlib --show-bin-path)/pushgate"
fi

# Stripped: the symbols the release build keeps for debugging are most of its size.
install -D -m 0755 "$bin" "$dest$prefix/bin/pushgate"
strip "$dest$prefix/bin/pushgate" 2>/dev/null || true
sed "s|/usr/local|$prefix|g" deploy/systemd/pushgate.service | install -D -m 0644 /dev/stdin "$dest/etc/systemd/system/pushgate.service"
if [ ! -e "$dest/etc/pushgate/pushgate.yaml" ]; then
  install -D -m 0640 deploy/pushgate.yaml "$dest/etc/pushgate/pushgate.yaml"
  echo "wrote $dest/etc/pushgate/pushgate.yaml: set server.public_url and mqtt.url"
fi
for doc in README.md docs/*.md; do install -D -m 0644 "$doc" "$dest$prefix/share/doc/pushgate/$(basename "$doc")"; done
install -D -m 0644 deploy/grafana/pushgate-dashboard.json "$dest$prefix/share/doc/pushgate/pushgate-dashboard.json"
install -D -m 0644 deploy/prometheus/pushgate-alerts.yml "$dest$prefix/share/doc/pushgate/pushgate-alerts.yml"

if [ -z "$dest" ]; then
  getent group pushgate >/dev/null || groupadd --system pushgate
  getent passwd pushgate >/dev/null || useradd --system --gid pushgate --home-dir /var/lib/pushgate --shell /usr/sbin/nologin pushgate
  chgrp pushgate /etc/pushgate/pushgate.yaml
  if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
  echo "installed: systemctl enable --now pushgate"
fi
