#!/usr/bin/env bash
# Sets up (installs what is missing, builds) and runs the main job: the
# gradient check of every registered op.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup.sh"
exec "$ROOT/build/release/tools/actgrad" gradcheck "$@"
