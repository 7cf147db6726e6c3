#!/usr/bin/env bash
# Fuzzes the parsers that take untrusted bytes (Fuzz/PushgateFuzz) with libFuzzer, each target
# for SECONDS (default 30), starting from the seed corpus in Fuzz/corpus/<target>. New inputs go
# to .run/fuzz/corpus/<target>, crashes to .run/fuzz/<target>/; any crash fails the run.
#   scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(push-headers content-coding vapid list-document config mqtt-packets)

# A build of its own (instrumented for libFuzzer), beside the normal one.
swift build --build-path .build-fuzz --product pushgate-fuzz -Xswiftc -sanitize=fuzzer -Xswiftc -DFUZZING
binary=.build-fuzz/debug/pushgate-fuzz

status=0
for target in "${targets[@]}"; do
  mkdir -p ".run/fuzz/corpus/$target" ".run/fuzz/$target"
  echo "fuzz: $target for ${seconds} s"
  if ! PUSHGATE_FUZZ_TARGET=$target "$binary" ".run/fuzz/corpus/$target" "Fuzz/corpus/$target" \
      -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix=".run/fuzz/$target/" -print_final_stats=1 > ".run/fuzz/$target.log" 2>&1; then
    echo "fuzz: $target FAILED — see .run/fuzz/$target.log and .run/fuzz/$target/"
    tail -30 ".run/fuzz/$target.log"
    status=1
  else
    grep -E "stat::number_of_executed_units|stat::new_units_added" ".run/fuzz/$target.log" | tr '\n' ' '
    echo
  fi
done
exit $status
