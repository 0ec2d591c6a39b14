#!/usr/bin/env bash
# The soak test: builds fuzz/soak_main.cc (target actgrad_soak) with the
# release preset and runs 100,000 SGD steps of the default 30-64-32-1
# network on data/breast_cancer.csv in one process, printing resident memory
# after steps 1, 1k, 10k, 50k and 100k. Exits 0 when RSS stayed flat (grew
# at most 1 MiB between step 1k and the last step), 1 when it grew.
#
#   scripts/soak.sh              # 100,000 steps
#   scripts/soak.sh --steps N    # another count (at least 1000)
#
# BUILD_DIR overrides the build directory (default build/release, configured
# with the release preset when missing); JOBS the build parallelism (2).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BUILD_DIR="${BUILD_DIR:-build/release}"
JOBS="${JOBS:-2}"

if [ ! -f "$BUILD_DIR/build.ninja" ] && [ ! -f "$BUILD_DIR/Makefile" ]; then
  if [ "$BUILD_DIR" = build/release ]; then
    cmake --preset release >&2
  else
    echo "soak: $BUILD_DIR is not a configured build directory" >&2
    exit 2
  fi
fi
cmake --build "$BUILD_DIR" --target actgrad_soak -j "$JOBS" >&2
exec "$BUILD_DIR/fuzz/actgrad_soak" "$ROOT/data/breast_cancer.csv" "$@"
