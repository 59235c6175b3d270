#!/usr/bin/env bash
# Installs blasr with its test dependencies into .venv (first use) and runs the
# test suite. Extra arguments go to pytest (e.g. -k registry, -m "not slow").
set -euo pipefail
cd "$(dirname "$0")/.."
BLASR_EXTRAS=test . local/env.sh
exec python -m pytest "$@"
