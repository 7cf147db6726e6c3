#!/usr/bin/env bash
# Pushes/s through Pushgate end to end, beside the broker's own ceiling, in one run.
#
# Fresh mosquitto and Pushgate (release) on free 127.0.0.1 ports; one subscription; one QoS 1
# MQTT subscriber on its topic (Benchmarks/c/mqtt_ceiling.c). Then:
#   ceiling: the C libmosquitto publisher → broker → subscriber, 4096-byte QoS 1 messages;
#   push:    h2load (HTTP/2 h2c, many streams) POSTs 4096-byte aes128gcm bodies with TTL and a
#            VAPID header reused across requests, as web-push libraries do → Pushgate → broker →
#            the same subscriber.
# Prints delivered messages/s for both, their ratio, POST→201 latency percentiles (201 is sent
# once the broker acknowledged), and the count check (201s == messages delivered).
#
#   scripts/bench-push.sh [COUNT=50000] [CLIENTS=4] [STREAMS=64]
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-50000}
clients=${2:-4}
streams=${3:-64}
size=4096

scripts/install-deps.sh
scripts/python-env.sh
mkdir -p .run/bench
work=.run/bench
gcc -O2 -o "$work/mqtt_ceiling" Benchmarks/c/mqtt_ceiling.c -lmosquitto
swift build -c release --product pushgate >/dev/null
pushgate="$(swift build -c release --show-bin-path)/pushgate"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
broker_port=$(free_port)
http_port=$(free_port)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

cat > "$work/mosquitto.conf" <<CONF
listener $broker_port 127.0.0.1
allow_anonymous true
max_inflight_messages 65535
max_queued_messages 1000000
persistence false
CONF
mosquitto -c "$work/mosquitto.conf" > "$work/mosquitto.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$broker_port) 2>/dev/null && break; sleep 0.1; done

rm -f "$work/registry.sqlite"*
cat > "$work/pushgate.yaml" <<CONF
server:
  listen: "127.0.0.1:$http_port"
  public_url: "http://127.0.0.1:$http_port"
  max_concurrent_streams: 1000
mqtt:
  url: "mqtt://127.0.0.1:$broker_port"
  client_id: "pushgate-bench"
storage:
  path: "registry.sqlite"
logging:
  level: "warning"
CONF
"$pushgate" serve --config "$work/pushgate.yaml" > "$work/pushgate.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$http_port/readyz" >/dev/null && break; sleep 0.1; done

subscription=$(curl -sf -X POST "http://127.0.0.1:$http_port/subscribe")
endpoint=$(echo "$subscription" | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["endpoint"])')
filter=$(echo "$subscription" | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["mqtt_topic"])')
topic=${filter%/#}/normal

# A realistic body: an RFC 8291 message of 4096 bytes (86-byte header, 3993 bytes of plaintext),
# and one VAPID header for the whole run.
.venv/bin/python - "$work" "http://127.0.0.1:$http_port" <<'PY'
import base64, os, sys
import http_ece, py_vapid
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives import serialization
work, origin = sys.argv[1], sys.argv[2]
device = ec.generate_private_key(ec.SECP256R1())
body = http_ece.encrypt(os.urandom(3993), salt=os.urandom(16), private_key=ec.generate_private_key(ec.SECP256R1()),
                        dh=device.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint),
                        auth_secret=os.urandom(16), version="aes128gcm")
assert len(body) == 4096, len(body)
open(f"{work}/body.bin", "wb").write(body)
vapid = py_vapid.Vapid02(); vapid.generate_keys()
open(f"{work}/authorization.txt", "w").write(vapid.sign({"aud": origin, "sub": "mailto:bench@example.com"})["Authorization"])
PY

# Start the subscriber, wait until subscribed, run a publisher; prints delivered msgs/s.
deliver() {
  local out="$work/sub.out"
  "$work/mqtt_ceiling" sub 127.0.0.1 "$broker_port" "$filter" "$count" > "$out" &
  local sub=$!
  for _ in $(seq 100); do grep -q ready "$out" 2>/dev/null && break; sleep 0.05; done
  "$@" > "$work/publisher.out" 2>&1
  wait "$sub" || { echo "subscriber saw $(cat "$out")" >&2; return 1; }
  awk -v n="$count" '/received/ { printf "%.0f\n", n / $4 }' "$out"
}

ceiling=$(deliver "$work/mqtt_ceiling" pub 127.0.0.1 "$broker_port" "$topic" "$count" "$size" 1000)
rm -f "$work/h2load.log"
push=$(deliver h2load -n "$count" -c "$clients" -m "$streams" -d "$work/body.bin" \
  -H "TTL: 60" -H "Content-Encoding: aes128gcm" -H "Authorization: $(cat "$work/authorization.txt")" \
  --log-file="$work/h2load.log" "$endpoint")
created=$(awk '$2 == 201' "$work/h2load.log" | wc -l)
latency=$(awk '{ print $3 / 1000 }' "$work/h2load.log" | sort -n | awk '
  { v[NR] = $1 } END { printf "%.2f %.2f %.2f", v[int(NR * 0.5)], v[int(NR * 0.99)], v[int(NR * 0.999)] }')
read -r p50 p99 p999 <<< "$latency"
rss=$(ps -o rss= -p "${pids[1]}")

echo
echo "| path ($count × $size B, QoS 1, 1 subscriber) | delivered msg/s |"
echo "|---|---|"
echo "| broker ceiling: C libmosquitto publisher | $ceiling |"
echo "| Pushgate: h2load ($clients connections × $streams streams) → Pushgate → broker | $push |"
awk -v p="$push" -v c="$ceiling" 'BEGIN { printf "| **ratio push / ceiling** | **%.2f** |\n", p / c }'
echo
echo "POST→201 latency (ms): p50 $p50, p99 $p99, p99.9 $p999"
echo "count check: $created × 201, $count delivered $( [ "$created" -eq "$count" ] && echo '(equal)' || echo '(MISMATCH)')"
echo "pushgate resident memory after the run: $((rss / 1024)) MiB"
grep -E "requests:|finished in" "$work/publisher.out" | sed 's/^/h2load: /'
