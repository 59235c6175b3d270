#!/usr/bin/env bash
# Installs blasr with its test dependencies into .venv (first use), and espeak-ng, flite,
# OpenFst's tools and Slurm where it can (apt-get), and runs the test suite. Extra arguments go to pytest (e.g. -k registry, -m "not slow").
set -euo pipefail
cd "$(dirname "$0")/.."
BLASR_EXTRAS=test . local/env.sh
# the digits recipe's smoke test synthesizes speech with espeak-ng; without it that test is skipped
bash local/install_espeak.sh || echo "[blasr] espeak-ng unavailable: tests/recipes/test_digits_recipe.py will be skipped" >&2
# its held-out test set (test_other) is spoken by flite; without it the flite tests are skipped and the smoke test
# runs without test_other
bash local/install_flite.sh || echo "[blasr] flite unavailable: the flite tests will be skipped" >&2
# OpenFst's fstconvert cross-checks blasr's own const -> vector FST conversion; without it that test is skipped
bash local/install_deb.sh libfst-tools fstconvert || echo "[blasr] fstconvert unavailable: its cross-check in tests/kaldi/formats/test_fst.py will be skipped" >&2
# shellcheck finds unquoted expansions in the recipes (tests/recipes/test_recipe_checks.py); without it that check is skipped
bash local/install_deb.sh shellcheck shellcheck || echo "[blasr] shellcheck unavailable: the recipes' quoting check will be skipped" >&2
# a single-node Slurm (slurm-wlm, munge; about 25 s of apt-get) runs the Slurm launcher's tests, which start and stop
# its daemons themselves (tests/launch/slurm_cluster.py); without it, or not as root, those tests are skipped
bash local/install_slurm.sh || echo "[blasr] Slurm unavailable: the tests on a single-node Slurm will be skipped" >&2
exec python -m pytest "$@"
