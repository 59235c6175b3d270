#!/usr/bin/env bash
# Source me: creates and fills the project's virtual environment on first use.
#
#   . local/env.sh            # runtime dependencies
#   BLASR_EXTRAS=test . local/env.sh
#
# torch is installed on its own first, as the CPU build given by BLASR_TORCH
# (default torch==2.13.0), so that the "torch>=2.1" of pyproject.toml is already
# satisfied and pip never pulls a CUDA build onto a CPU machine. Set BLASR_TORCH
# to another requirement (e.g. a CUDA build) on a GPU machine. The package is
# installed in editable mode and reinstalled whenever pyproject.toml changes.

blasr_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
blasr_venv=${BLASR_VENV:-$blasr_root/.venv}
blasr_extras=${BLASR_EXTRAS:-}

blasr_log() { echo "[blasr $(date +%H:%M:%S)] $*" >&2; }

if [ ! -x "$blasr_venv/bin/python" ]; then
  blasr_log "creating the virtual environment $blasr_venv"
  python3 -m venv "$blasr_venv" || { blasr_log "error: python3 -m venv failed (install python3-venv)"; return 1 2>/dev/null || exit 1; }
fi

if ! "$blasr_venv/bin/python" -c "import torch" 2>/dev/null; then
  blasr_log "installing ${BLASR_TORCH:-torch==2.13.0}"
  "$blasr_venv/bin/python" -m pip install -q "${BLASR_TORCH:-torch==2.13.0}" \
    || { blasr_log "error: could not install torch; set BLASR_TORCH to a requirement your index has"; return 1 2>/dev/null || exit 1; }
fi

blasr_stamp="$blasr_venv/.blasr-installed${blasr_extras:+-$blasr_extras}"
blasr_want=$(cat "$blasr_root/pyproject.toml" | cksum)
if [ ! -f "$blasr_stamp" ] || [ "$(cat "$blasr_stamp")" != "$blasr_want" ]; then
  blasr_log "installing blasr${blasr_extras:+[$blasr_extras]} (editable)"
  "$blasr_venv/bin/python" -m pip install -q -e "$blasr_root${blasr_extras:+[$blasr_extras]}" \
    || { blasr_log "error: pip install of blasr failed"; return 1 2>/dev/null || exit 1; }
  echo "$blasr_want" > "$blasr_stamp"
fi

export PATH="$blasr_venv/bin:$PATH"
export VIRTUAL_ENV="$blasr_venv"
