"""Class priors of a hybrid acoustic model, as Kaldi computes and applies them.

* :func:`count_targets` counts the training targets per class (pdf-id), and
  :func:`analyze_counts` adds 0.5 to every count, as Kaldi's ``analyze-counts``
  does ("a half-frame ... to avoid zero-counts which would cause problems in
  decoding"; docs/conventions.md, Kaldi conventions).
* :func:`write_counts` / :func:`read_counts`: Kaldi's text vector format,
  ``" [ 10.5 3.5 0.5 ]\\n"``, doubles at 7 significant digits (Kaldi's
  ``InitKaldiOutputStream``), the file ``nnet-forward --class-frame-counts``
  reads.
* :func:`log_priors` is nnet1's ``PdfPrior`` (``src/nnet/nnet-pdf-prior.cc``):
  ``log(count / total + 1e-20)`` in double precision, classes whose relative
  frequency is below ``prior_floor`` (1e-10) set to ``sqrt(FLT_MAX)`` so that
  subtracting it disables them, then rounded to float32.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from blasr.data.targets import IGNORE_INDEX, load_targets
from blasr.features.extract import open_cuts
from blasr.utils.errors import BlasrError

FLT_MAX = float(np.finfo(np.float32).max)
PRIOR_FLOOR = 1e-10  # nnet1's --prior-floor default


class ClassCountError(BlasrError, ValueError):
    """A target lies outside the model's classes: the targets and the model disagree on the class count."""


def count_targets(cuts, num_classes: int | None = None) -> np.ndarray:
    """Frames per class over every cut's targets: ``(K,)`` int64, ``K = num_classes`` or largest id + 1.

    Ignored positions (``IGNORE_INDEX``) are not counted; any other id outside
    ``[0, num_classes)`` raises :class:`ClassCountError` naming the cut, its
    target file, the frame and the id (the loss would fail on it mid-epoch).
    """
    counts = np.zeros(num_classes or 0, dtype=np.int64)
    seen = False
    for cut in open_cuts(cuts):
        targets = load_targets(cut)
        seen = True
        used = targets != IGNORE_INDEX
        limit = num_classes if num_classes is not None else np.iinfo(np.int64).max
        bad = used & ((targets < 0) | (targets >= limit))
        if bad.any():
            frame = int(np.argmax(bad))
            raise ClassCountError(
                f"cut {cut.id} has target {targets[frame]} at frame {frame} (targets in "
                f"{cut.custom['targets'].array.storage_path}); pdf-ids must lie in [0, {num_classes or 'inf'}) "
                f"(or be {IGNORE_INDEX}, an ignored frame)")
        targets = targets[used]
        if not len(targets):
            continue
        top = int(targets.max())
        if top >= len(counts):
            counts = np.pad(counts, (0, top + 1 - len(counts)))
        counts += np.bincount(targets, minlength=len(counts))
    if not seen:
        raise ValueError(f"the manifest {cuts} has no cuts")
    return counts


def analyze_counts(counts: np.ndarray) -> np.ndarray:
    """Kaldi's ``analyze-counts`` output: the counts as float64 with 0.5 added to each."""
    return np.asarray(counts, dtype=np.float64) + 0.5


def format_counts(counts: np.ndarray) -> str:
    """Kaldi's text ``Vector<double>``: ``" [ c0 c1 ... ]\\n"`` with 7 significant digits."""
    return " [ " + "".join(f"{float(c):.7g} " for c in np.asarray(counts, dtype=np.float64)) + "]\n"


def parse_counts(text: str, name: str = "<counts>") -> np.ndarray:
    """The values of a Kaldi text vector (``[ 1 2 3 ]``) as float64."""
    words = text.split()
    if len(words) < 2 or words[0] != "[" or words[-1] != "]":
        raise ValueError(f"{name}: expected a Kaldi text vector '[ c0 c1 ... ]' (analyze-counts output)")
    try:
        values = np.array([float(w) for w in words[1:-1]], dtype=np.float64)
    except ValueError as error:
        raise ValueError(f"{name}: {error}") from None
    if not len(values) or not np.all(np.isfinite(values)) or values.min() < 0:
        raise ValueError(f"{name}: class counts must be finite, non-negative and not empty")
    return values


def write_counts(counts: np.ndarray, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(format_counts(counts))
    return path


def read_counts(path: str | os.PathLike) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"class counts {path} do not exist")
    return parse_counts(path.read_text(), str(path))


def log_priors(counts: np.ndarray, prior_floor: float = PRIOR_FLOOR) -> np.ndarray:
    """nnet1's ``PdfPrior``: float32 ``(K,)`` log-priors; classes under the floor get ``sqrt(FLT_MAX)``."""
    counts = np.asarray(counts, dtype=np.float64)
    relative = counts / counts.sum()
    log_prior = np.log(relative + 1e-20)
    log_prior[relative < prior_floor] = np.sqrt(FLT_MAX)
    return log_prior.astype(np.float32)
