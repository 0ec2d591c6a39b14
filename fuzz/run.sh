#!/usr/bin/env bash
# Builds the libFuzzer targets with the `fuzz` preset (clang++-14, ASan +
# UBSan) and fuzzes each for SECONDS (default 120), starting from a scratch
# copy of its seed corpus so that fuzz/corpus/ is never written to. Prints
# how many executions each target ran and whether it found anything; exits 1
# when one did (the crashing input is then under $WORK/artifacts/).
#
#   fuzz/run.sh                 # csv, safetensors and graph, 120 s each
#   fuzz/run.sh 60 csv          # one target, one minute
#
# WORK names the scratch directory (default: a fresh one under /tmp, kept);
# JOBS the build parallelism (2).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SECONDS_EACH="${1:-120}"
shift || true
TARGETS=("$@")
((${#TARGETS[@]})) || TARGETS=(csv safetensors graph)
WORK="${WORK:-$(mktemp -d /tmp/actgrad-fuzz.XXXXXX)}"
JOBS="${JOBS:-2}"

[ -f build/fuzz/build.ninja ] || cmake --preset fuzz >&2
cmake --build --preset fuzz -j "$JOBS" >&2

found=0
for t in "${TARGETS[@]}"; do
  mkdir -p "$WORK/corpus/$t" "$WORK/artifacts"
  cp -n fuzz/corpus/"$t"/* "$WORK/corpus/$t/" 2>/dev/null || true
  log="$WORK/$t.log"
  status=0
  max_len=4096
  [ "$t" = graph ] && max_len=512  # a program needs a few dozen bytes
  "build/fuzz/fuzz/${t}_fuzzer" -max_total_time="$SECONDS_EACH" -max_len="$max_len" -timeout=30 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$WORK/artifacts/$t-" \
    "$WORK/corpus/$t" > "$log" 2>&1 || status=$?
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
  if [ "$status" -eq 0 ]; then
    echo "fuzz: $t: ${execs:-?} executions in ${SECONDS_EACH} s, no finding"
  else
    found=1
    echo "fuzz: $t: FOUND a failure after ${execs:-?} executions (exit $status); log $log"
    grep -E "SUMMARY|check failed|ERROR: libFuzzer|Test unit written" "$log" | head -5
  fi
done
echo "fuzz: scratch corpora and logs in $WORK"
exit "$found"
