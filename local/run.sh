#!/usr/bin/env bash
# The main job on the embedded default: bootstraps .venv, then runs the profiler,
# which prints the paper's Table 3 (params, FLOPs) counted from the real models.
# Extra arguments go to `python -m blasr.profile`.
set -euo pipefail
cd "$(dirname "$0")/.."
. local/env.sh
exec python -m blasr.profile "$@"
