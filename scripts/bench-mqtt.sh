#!/usr/bin/env bash
# MQTTBridge throughput against the broker's own ceiling, in one run on one machine.
#
# A fresh mosquitto on a free 127.0.0.1 port, one QoS 1 subscriber, 4096-byte QoS 1 messages.
# Ceiling: libmosquitto driven from C on one thread (Benchmarks/c/mqtt_ceiling.c).
# Bridge:  MQTTBridge from Swift (Benchmarks/MQTTBridgeBenchmark), many concurrent publishers;
#          and the same publishers on the bare connection under it (MQTTClientConnection).
# Rounds alternate C and Swift; the medians give the ratio. Messages/s are counted at the
# subscriber (delivered), and the publisher's own acked rate is shown beside.
#
#   scripts/bench-mqtt.sh [COUNT] [ROUNDS]      (defaults: 50000 messages, 3 rounds)
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-50000}
rounds=${2:-3}
size=4096
window=1000

scripts/install-deps.sh
mkdir -p .run
gcc -O2 -o .run/mqtt_ceiling Benchmarks/c/mqtt_ceiling.c -lmosquitto
swift build -c release --product pushgate-mqtt-bench >/dev/null
bench="$(swift build -c release --show-bin-path)/pushgate-mqtt-bench"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
conf=.run/bench-mosquitto.conf
cat > "$conf" <<CONF
listener $port 127.0.0.1
allow_anonymous true
max_inflight_messages 65535
max_queued_messages 1000000
persistence false
set_tcp_nodelay true
CONF
mosquitto -c "$conf" > .run/bench-mosquitto.log 2>&1 &
broker=$!
trap 'kill "$broker" 2>/dev/null || true; kill "${sub:-}" 2>/dev/null || true' EXIT
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done

# One measured run: start the subscriber, wait until it is subscribed, run the publisher.
# Prints "<delivered msgs/s> <acked msgs/s>".
measure() {
  local out=.run/bench-sub.out
  .run/mqtt_ceiling sub 127.0.0.1 "$port" bench/t "$count" > "$out" &
  sub=$!
  for _ in $(seq 100); do grep -q ready "$out" 2>/dev/null && break; sleep 0.05; done
  local pub
  pub=$("$@")
  wait "$sub"
  local delivered_s acked_s
  delivered_s=$(awk '/received/ {print $4}' "$out")
  acked_s=$(echo "$pub" | awk '/acked/ {print $4}')
  awk -v n="$count" -v d="$delivered_s" -v a="$acked_s" 'BEGIN { printf "%.0f %.0f\n", n/d, n/a }'
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

c_delivered=(); c_acked=(); s_delivered=(); s_acked=(); n_delivered=(); n_acked=()
for round in $(seq "$rounds"); do
  read -r d a < <(measure .run/mqtt_ceiling pub 127.0.0.1 "$port" bench/t "$count" "$size" "$window")
  c_delivered+=("$d"); c_acked+=("$a")
  read -r d a < <(measure "$bench" 127.0.0.1 "$port" bench/t "$count" "$size" "$window")
  s_delivered+=("$d"); s_acked+=("$a")
  read -r d a < <(measure "$bench" 127.0.0.1 "$port" bench/t "$count" "$size" "$window" single connection)
  n_delivered+=("$d"); n_acked+=("$a")
  echo "round $round: C ${c_delivered[-1]} msg/s delivered (${c_acked[-1]} acked); MQTTBridge ${s_delivered[-1]} delivered (${s_acked[-1]} acked); bare connection ${n_delivered[-1]} delivered (${n_acked[-1]} acked)"
done

cd_med=$(printf '%s\n' "${c_delivered[@]}" | median)
sd_med=$(printf '%s\n' "${s_delivered[@]}" | median)
ca_med=$(printf '%s\n' "${c_acked[@]}" | median)
sa_med=$(printf '%s\n' "${s_acked[@]}" | median)
nd_med=$(printf '%s\n' "${n_delivered[@]}" | median)
na_med=$(printf '%s\n' "${n_acked[@]}" | median)
echo
echo "| publisher ($count × $size B, QoS 1, 1 subscriber) | delivered msg/s (median of $rounds) | acked msg/s |"
echo "|---|---|---|"
echo "| C libmosquitto, one thread (ceiling) | $cd_med | $ca_med |"
echo "| MQTTBridge ($window concurrent publishers) | $sd_med | $sa_med |"
echo "| MQTTClientConnection, bare ($window concurrent publishers) | $nd_med | $na_med |"
awk -v s="$sd_med" -v c="$cd_med" 'BEGIN { printf "| **ratio MQTTBridge / ceiling** | **%.2f** | |\n", s / c }'
awk -v s="$nd_med" -v c="$cd_med" 'BEGIN { printf "| ratio bare connection / ceiling | %.2f | |\n", s / c }'
