"""What makes a run reproducible: its resolved configuration, code revision and RNG state.

* :func:`write_run_info` saves the resolved configuration with the git
  revision, library versions and command line into the experiment directory.
* :func:`rng_state` / :func:`set_rng_state` capture and restore the Python,
  NumPy, torch and CUDA generators as tensors and plain containers, so they
  can live in a ``weights_only`` checkpoint.

Domain-agnostic: every trainer uses it.
"""

from __future__ import annotations

import json
import os
import platform
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from blasr.version import __version__


def git_revision(path: str | os.PathLike | None = None) -> dict[str, Any]:
    """``{"commit": sha or None, "dirty": bool or None}`` of the checkout holding ``path``.

    ``path`` defaults to the blasr package, i.e. the code that is actually running.
    """
    where = Path(path) if path is not None else Path(__file__).resolve().parents[1]

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(where), *args], capture_output=True, text=True,
                                  timeout=10, check=True)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip()

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def describe_revision(path: str | os.PathLike | None = None) -> str:
    """:func:`git_revision` in one word: ``"1a2b3c4"``, ``"1a2b3c4-dirty"``, or ``"?"`` outside a checkout."""
    revision = git_revision(path)
    if revision["commit"] is None:
        return "?"
    return revision["commit"][:7] + ("-dirty" if revision["dirty"] else "")


def write_run_info(exp_dir: str | os.PathLike, config: dict[str, Any],
                   name: str = "config.json") -> Path:
    """Write ``{"config": ..., "git": ..., "versions": ..., "argv": ...}`` to ``exp_dir/name``."""
    path = Path(exp_dir) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    info = {
        "config": config,
        "git": git_revision(),
        "versions": {"blasr": __version__, "torch": torch.__version__,
                     "python": platform.python_version()},
        "argv": sys.argv,
    }
    path.write_text(json.dumps(info, indent=2, default=str) + "\n")
    return path


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) from one integer."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """Every global generator's state, as tensors and plain containers only."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured (CUDA states only when the device count matches)."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    numpy = state["numpy"]
    np.random.set_state((numpy["kind"], numpy["keys"].numpy().astype(np.uint32), numpy["pos"],
                         numpy["has_gauss"], numpy["gauss"]))
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda")
    if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
