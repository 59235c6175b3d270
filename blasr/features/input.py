"""From stored static log-mel to the network's input: normalise, add Δ/ΔΔ, lay out ``(3, F, T)``.

Order as in a Kaldi recipe (``apply-cmvn ... | add-deltas ...``): the statics
are normalised first, then Δ and ΔΔ are computed from the normalised statics,
so Δ/ΔΔ are scaled by the same ``1 / std`` and carry no offset.
"""

from __future__ import annotations

import numpy as np

from blasr.features.cmvn import NORMALIZATIONS, CmvnStats, apply_cmvn, utterance_cmvn
from blasr.features.deltas import add_deltas


def normalized_with_deltas(
    static: np.ndarray,
    normalization: str = "utterance",
    stats: CmvnStats | None = None,
    norm_vars: bool = True,
) -> np.ndarray:
    """``(T, F)`` static log-mel -> ``(3, T, F)`` float32 ``[static, Δ, ΔΔ]`` after normalisation.

    ``normalization``: ``utterance`` (statistics of ``static`` itself; the
    paper's setting), ``speaker`` or ``side`` (``stats`` of the group, from a
    :class:`~blasr.features.cmvn.CmvnTable`), or ``none``.
    """
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"unknown normalization {normalization!r}; choose one of {NORMALIZATIONS}")
    if normalization == "utterance":
        static = utterance_cmvn(static, norm_vars)
    elif normalization in ("speaker", "side"):
        if stats is None:
            raise ValueError(f"normalization={normalization!r} needs the group's CmvnStats")
        static = apply_cmvn(static, stats, norm_vars)
    return add_deltas(static, order=2, window=2)


def model_input(
    static: np.ndarray,
    normalization: str = "utterance",
    stats: CmvnStats | None = None,
    norm_vars: bool = True,
) -> np.ndarray:
    """``(T, F)`` static log-mel -> ``(3, F, T)`` float32 network input (channels static, Δ, ΔΔ).

    A model with 24 + 24 frames of context returns ``T - 48`` frames for it;
    :func:`replicate_edges` adds the context that scores every frame.
    """
    # (3, T, F) -> (3, F, T)
    return np.ascontiguousarray(normalized_with_deltas(static, normalization, stats, norm_vars).transpose(0, 2, 1))


def replicate_edges(x: np.ndarray, left: int = 24, right: int = 24, axis: int = -1) -> np.ndarray:
    """Pad ``x`` along ``axis`` by repeating its first frame ``left`` and its last ``right`` times.

    ``(3, F, T) -> (3, F, left + T + right)``: with 24 + 24 the model scores all
    ``T`` frames, each frame's window reading replicated edge frames beyond the
    utterance, as the window and chunk loaders do.
    """
    pad = [(0, 0)] * x.ndim
    pad[axis] = (left, right)
    return np.pad(x, pad, mode="edge")
