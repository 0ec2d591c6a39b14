#!/usr/bin/env bash
# Installs the Debian packages actgrad needs (only those missing), then
# configures and builds with the "release" preset. Sourced by run.sh and
# test.sh; safe to run again.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# libdnnl-dev: float32 matrix products (ops/gemm.h); Debian's oneDNN CMake
# package also asks for the OpenCL headers (ocl-icd-opencl-dev).
# libopenmpi-dev, openmpi-bin: data-parallel training (dist/).
# rapidjson-dev: JSON in and out (io/json.h).
# graphviz: tests/profile_graph_test.cc renders the profiler's graph with dot to prove it renders.
PACKAGES=(cmake g++ ninja-build pkg-config libabsl-dev libboost-graph-dev libopenblas-dev
          libcli11-dev libeigen3-dev libgtest-dev libgmock-dev libbenchmark-dev
          libopenmpi-dev openmpi-bin libdnnl-dev ocl-icd-opencl-dev rapidjson-dev graphviz)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
missing=()
for p in "${PACKAGES[@]}"; do installed "$p" || missing+=("$p"); done
if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing ${missing[*]}" >&2
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    --no-install-recommends "${missing[@]}" >&2
fi

cd "$ROOT"
cmake --preset release >&2
cmake --build --preset release >&2
