#!/usr/bin/env bash
# Sets up (installs what is missing, builds) and runs the main job: training
# a network on the bundled breast-cancer data with the article's defaults.
# Arguments go to `actgrad train`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup.sh"
exec "$ROOT/build/release/tools/actgrad" train "$@"
