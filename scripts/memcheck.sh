#!/usr/bin/env bash
# Valgrind memcheck on a short training run: `actgrad train --epochs 2
# --no-progress` under `valgrind --leak-check=full --error-exitcode=1`,
# then the leak summary. Exits with valgrind's status: 0 when it found no
# memory error and no definite or indirect leak, 1 otherwise.
#
#   scripts/memcheck.sh                      # build/portable/tools/actgrad
#   ACTGRAD=build/release/tools/actgrad scripts/memcheck.sh
#
# Valgrind 3.19 (Debian 12) cannot decode AVX-512 instructions, and the
# release preset compiles with -march=native, which on an AVX-512 machine
# makes the release binary die under valgrind with SIGILL ("unhandled
# instruction bytes: 0x62 ..."). So by default this builds the CLI with the
# `portable` preset (x86-64-v3: AVX2, no AVX-512) into build/portable and
# checks that binary: the same sources, the ISA valgrind can run. ACTGRAD
# names another binary; JOBS sets the build parallelism (2).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
JOBS="${JOBS:-2}"

if ! command -v valgrind > /dev/null; then
  echo "memcheck: valgrind is not installed (apt-get install valgrind)" >&2
  exit 2
fi
if [ -z "${ACTGRAD:-}" ]; then
  [ -f build/portable/build.ninja ] || cmake --preset portable >&2
  cmake --build build/portable --target actgrad_cli -j "$JOBS" >&2
  ACTGRAD=build/portable/tools/actgrad
fi

LOG="$(mktemp "${TMPDIR:-/tmp}/actgrad-memcheck.XXXXXX")"
trap 'rm -f "$LOG"' EXIT
status=0
valgrind --leak-check=full --error-exitcode=1 --log-file="$LOG" \
  "$ACTGRAD" train --epochs 2 --no-progress --data "$ROOT/data/breast_cancer.csv" || status=$?
echo "memcheck: valgrind --leak-check=full --error-exitcode=1 $ACTGRAD train --epochs 2 --no-progress"
grep -E "Illegal|unhandled instruction|Invalid|uninitialised|ERROR SUMMARY|in use at exit|total heap usage|definitely lost|indirectly lost|possibly lost|still reachable|suppressed:" "$LOG" |
  sed 's/^==[0-9]*== *//'
if [ "$status" -ne 0 ]; then
  echo "memcheck: FAILED (exit status $status); the full valgrind log follows" >&2
  cat "$LOG" >&2
fi
exit "$status"
