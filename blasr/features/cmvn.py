"""Mean/variance normalisation of static features, as Kaldi's ``apply-cmvn --norm-vars``.

Statistics over a set of frames (one utterance, one speaker or one
conversation side) are the count ``n``, ``sum x`` and ``sum x^2`` per bin, in
float64 like Kaldi's ``cmvn.scp`` matrices. Normalisation::

    mean = sum / n,   var = max(sum_sq / n - mean^2, 1e-20),   y = (x - mean) / sqrt(var)

(without ``norm_vars`` only the mean is removed). The paper normalises per
utterance; per speaker or per side is an option, with statistics collected
once over the stored features (:func:`compute_cmvn_table`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from blasr.utils.errors import MissingKeyError

NORMALIZATIONS = ("utterance", "speaker", "side", "none")

# Kaldi's apply-cmvn floors the variance at 1e-20 (and warns) rather than dividing by zero.
_VAR_FLOOR = 1.0e-20


@dataclass
class CmvnStats:
    """Count, per-bin sum and sum of squares of a set of ``(T, F)`` frames (float64)."""

    count: float
    sum: np.ndarray
    sum_sq: np.ndarray

    @classmethod
    def from_features(cls, feats: np.ndarray) -> CmvnStats:
        feats = np.asarray(feats, dtype=np.float64)
        return cls(float(feats.shape[0]), feats.sum(axis=0), np.square(feats).sum(axis=0))

    def as_dict(self) -> dict:
        """JSON-ready (float64 values, written exactly)."""
        return dict(count=self.count, sum=self.sum.tolist(), sum_sq=self.sum_sq.tolist())

    @classmethod
    def from_dict(cls, data: dict) -> CmvnStats:
        """Read :meth:`as_dict` back; ``ValueError`` for anything else."""
        try:
            stats = cls(float(data["count"]), np.asarray(data["sum"], dtype=np.float64),
                        np.asarray(data["sum_sq"], dtype=np.float64))
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"not CMVN statistics (count, sum, sum_sq): {error}") from None
        if stats.sum.ndim != 1 or stats.sum.shape != stats.sum_sq.shape or stats.count <= 0:
            raise ValueError(f"not CMVN statistics: count {stats.count}, sum {stats.sum.shape}, "
                             f"sum_sq {stats.sum_sq.shape}")
        return stats

    def add(self, other: CmvnStats) -> None:
        if other.sum.shape != self.sum.shape:
            raise ValueError(f"cannot add statistics of dimension {other.sum.shape} to {self.sum.shape}")
        self.count += other.count
        self.sum = self.sum + other.sum
        self.sum_sq = self.sum_sq + other.sum_sq

    def mean_and_scale(self, norm_vars: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """``(mean, 1 / std)`` per bin; ``1 / std = 1`` when ``norm_vars`` is false."""
        if self.count <= 0:
            raise ValueError("cannot normalise with statistics of zero frames")
        mean = self.sum / self.count
        if not norm_vars:
            return mean, np.ones_like(mean)
        var = np.maximum(self.sum_sq / self.count - mean * mean, _VAR_FLOOR)
        return mean, 1.0 / np.sqrt(var)


def apply_cmvn(feats: np.ndarray, stats: CmvnStats, norm_vars: bool = True) -> np.ndarray:
    """``(x - mean) * scale`` for ``(T, F)`` features; float32 out."""
    mean, scale = stats.mean_and_scale(norm_vars)
    # Kaldi: feats * scale + offset with offset = -mean * scale, in float.
    return (np.asarray(feats, dtype=np.float32) * scale.astype(np.float32)
            + (-mean * scale).astype(np.float32))


def utterance_cmvn(feats: np.ndarray, norm_vars: bool = True) -> np.ndarray:
    """Normalise ``(T, F)`` features with their own statistics (the paper's setting)."""
    return apply_cmvn(feats, CmvnStats.from_features(feats), norm_vars)


def group_key(cut, group: str) -> str:
    """The statistics key of a cut: its speaker, or its conversation side (recording + channel)."""
    if group == "side":
        return f"{cut.recording_id}-{cut.channel}"
    if group == "speaker":
        speakers = {s.speaker for s in cut.supervisions if s.speaker is not None}
        if len(speakers) != 1:
            raise ValueError(
                f"cut {cut.id} has speakers {sorted(speakers) or 'none'}; per-speaker normalisation "
                "needs exactly one (give utt2spk, or use normalization='side' or 'utterance')"
            )
        return speakers.pop()
    raise ValueError(f"unknown statistics group {group!r}; choose 'speaker' or 'side'")


@dataclass
class CmvnTable:
    """Statistics per speaker or per conversation side (Kaldi's ``cmvn.scp`` keyed by ``spk2utt``)."""

    group: str
    stats: dict[str, CmvnStats] = field(default_factory=dict)

    def add(self, key: str, feats: np.ndarray) -> None:
        new = CmvnStats.from_features(feats)
        if key in self.stats:
            self.stats[key].add(new)
        else:
            self.stats[key] = new

    def for_cut(self, cut) -> CmvnStats:
        key = group_key(cut, self.group)
        if key not in self.stats:
            raise MissingKeyError(
                f"no {self.group} statistics for cut {cut.id} ({self.group} {key!r}); "
                "leave --cmvn out to compute them over this manifest, or give a table computed over it"
            )
        return self.stats[key]

    def total(self) -> CmvnStats:
        """The statistics of every group together (global statistics, e.g. for streaming)."""
        if not self.stats:
            raise ValueError(f"no {self.group} statistics to add up")
        groups = list(self.stats.values())
        total = CmvnStats(groups[0].count, groups[0].sum.copy(), groups[0].sum_sq.copy())
        for group in groups[1:]:
            total.add(group)
        return total

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        keys = sorted(self.stats)
        with open(path, "wb") as f:
            np.savez(
                f,
                group=np.array(self.group),
                keys=np.array(keys, dtype=str),
                count=np.array([self.stats[k].count for k in keys], dtype=np.float64),
                sum=np.stack([self.stats[k].sum for k in keys]) if keys else np.zeros((0, 0)),
                sum_sq=np.stack([self.stats[k].sum_sq for k in keys]) if keys else np.zeros((0, 0)),
            )
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> CmvnTable:
        with np.load(path, allow_pickle=False) as data:
            table = cls(str(data["group"]))
            for i, key in enumerate(data["keys"].tolist()):
                table.stats[key] = CmvnStats(float(data["count"][i]), data["sum"][i], data["sum_sq"][i])
        return table


def compute_cmvn_table(
    cuts: Iterable, group: str, load: Callable | None = None
) -> CmvnTable:
    """Accumulate per-``group`` statistics over the stored static features of ``cuts`` (streamed).

    ``load(cut) -> (T, F)`` defaults to ``cut.features.load()``, the full stored matrix.
    """
    if group not in ("speaker", "side"):
        raise ValueError(f"statistics group must be 'speaker' or 'side', got {group!r}")
    load = load or (lambda cut: cut.features.load())
    table = CmvnTable(group)
    for cut in cuts:
        table.add(group_key(cut, group), load(cut))
    return table
