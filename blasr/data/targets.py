"""Frame-level targets (pdf-ids) attached to cuts, checked frame by frame against the features.

Input: per-utterance int vectors from Kaldi (``ali-to-pdf final.mdl
"ark:gunzip -c ali.*.gz|" ark:pdf.ark``), given as a Kaldi rspecifier
(``ark:pdf.ark``, ``scp:pdf.scp``, ``ark,t:pdf.txt``, ``ark:cmd |``), a
mapping or an iterable of ``(utterance id, vector)``.

Check per cut, ``T_feat = cut.features.num_frames`` (Kaldi-exact) against ``T_ali``:

* equal: kept as is;
* ``|T_ali - T_feat| <= max_mismatch`` (2): trimmed (extra targets dropped
  from the end) or padded (the last target repeated, as the edge frames of the
  features are), and counted;
* larger: the cut is rejected with a message naming it (usually features
  computed with snip_edges = false, or another frame shift);
* no alignment for the cut: rejected.

Storage: targets go to ``targets.ark`` (Kaldi int32 vectors) + ``targets.scp``
and each kept cut gets a ``targets`` custom field, a lhotse TemporalArray in
the ``kaldi_ark`` storage (:mod:`blasr.data.storage`); the stage ends with a
summary of everything trimmed, padded or rejected.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
from lhotse import CutSet

from blasr.data.storage import KaldiArkWriter
from blasr.features.extract import feature_frames, open_cuts
from blasr.features.report import StageReport
from blasr.kaldi.formats.ark import ArkWriter, ScriptMatrices, read_matrices
from blasr.utils.files import atomic_write_text

MANIFEST = "cuts.jsonl.gz"
NUM_PDFS = "num_pdfs"  # the class count, one integer, beside the targets (Kaldi's graph dirs have one too)
IGNORE_INDEX = -100  # torch.nn.functional.cross_entropy's default ignore_index


def attach_targets(
    cuts,
    alignments,
    output_dir: str | os.PathLike,
    max_mismatch: int = 2,
    *,
    num_pdfs: int,
) -> tuple[Path, StageReport]:
    """Check and store per-frame targets for every cut; write the cuts that have them.

    Args:
        cuts: cuts with features (a CutSet or a manifest path, streamed).
        alignments: pdf-id vectors: a Kaldi rspecifier string, a mapping, or
            ``(utt, vector)`` pairs (streamed into a temporary archive first
            so that any order joins with the cuts).
        output_dir: gets ``targets.ark``, ``targets.scp``, ``cuts.jsonl.gz``,
            ``num_pdfs`` and ``targets.report.json``.
        max_mismatch: the largest frame-count difference fixed instead of rejected.
        num_pdfs: the class count (the tree's pdfs, e.g. ``TransitionModel.num_pdfs``):
            pdf-ids must lie in ``[0, num_pdfs)``; written to ``output_dir/num_pdfs``,
            where training, export and decoding read it (:func:`read_num_pdfs`).

    Returns:
        ``(manifest path, report)``; ``report.stats`` counts frames trimmed and
        padded and alignments that matched no cut.
    """

    if num_pdfs < 1:
        raise ValueError(f"num_pdfs must be positive, got {num_pdfs}")
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    # num_pdfs is written last: its absence marks targets still being (or never completely) written
    (output_dir / NUM_PDFS).unlink(missing_ok=True)
    manifest = output_dir / MANIFEST
    report = StageReport("targets")
    trimmed = padded = 0
    with tempfile.TemporaryDirectory(dir=output_dir, prefix=".alignments.") as tmp:
        lookup = _random_access(alignments, Path(tmp))
        used = set()
        with KaldiArkWriter(output_dir / "targets") as storage, CutSet.open_writer(manifest) as writer:
            for cut in open_cuts(cuts):
                if cut.id not in lookup:
                    report.skip(cut.id, "no alignment: the alignments have no entry for this utterance")
                    continue
                used.add(cut.id)
                targets = np.asarray(lookup[cut.id]).reshape(-1)
                try:
                    targets, difference = check_targets(cut, targets, max_mismatch, num_pdfs)
                except ValueError as error:
                    report.skip(cut.id, str(error))
                    continue
                if difference > 0:
                    report.fix(cut.id, f"trimmed: {difference} extra target frame(s) dropped from the end")
                    trimmed += difference
                elif difference < 0:
                    report.fix(cut.id, f"padded: last target repeated {-difference} time(s)")
                    padded -= difference
                array = storage.store_targets(cut.id, targets, cut.features.frame_shift, cut.start)
                writer.write(cut.with_custom("targets", array))
                report.kept += 1
        unused = len(set(lookup.keys()) - used)
    report.stats.update(frames_trimmed=trimmed, frames_padded=padded, alignments_without_cut=unused)
    report.save(output_dir / "targets.report.json")
    report.log()
    if report.kept == 0:
        raise ValueError(f"no cut got targets in {output_dir}: {report.summary(3)}")
    atomic_write_text(output_dir / NUM_PDFS, f"{num_pdfs}\n")
    return manifest, report


def read_num_pdfs(targets: str | os.PathLike) -> int:
    """The class count of a targets directory (or of the manifest in it): its ``num_pdfs`` file.

    Raises FileNotFoundError naming the file and the step that writes it, or
    ValueError for a file that does not hold one positive integer.
    """
    path = Path(targets)
    path = (path if path.is_dir() else path.parent) / NUM_PDFS
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file; the class count is written beside the targets by "
                                "python -m blasr.targets (targets made otherwise: write the tree's num-pdfs there)")
    text = path.read_text().strip()
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{path}: expected one positive integer (the number of pdfs), found {text[:40]!r}")
    return int(text)


def check_targets(
    cut, targets: np.ndarray, max_mismatch: int = 2, num_pdfs: int | None = None
) -> tuple[np.ndarray, int]:
    """Match ``targets`` to the cut's feature frames: ``(int32 targets, T_ali - T_feat)``.

    Raises ValueError naming the cut for a mismatch above ``max_mismatch``,
    negative or out-of-range ids, or non-integer values.
    """
    if targets.size and not np.issubdtype(targets.dtype, np.integer):
        raise ValueError(f"bad targets: {cut.id} has {targets.dtype} values, expected integer pdf-ids")
    if targets.size == 0:
        raise ValueError(f"empty alignment: {cut.id} has 0 target frames")
    if targets.min() < 0 or (num_pdfs is not None and targets.max() >= num_pdfs):
        raise ValueError(
            f"bad targets: {cut.id} has pdf-ids in [{targets.min()}, {targets.max()}], "
            f"expected [0, {num_pdfs if num_pdfs is not None else 'inf'})"
        )
    num_frames = feature_frames(cut)
    difference = len(targets) - num_frames
    if abs(difference) > max_mismatch:
        raise ValueError(
            f"frame mismatch: {cut.id} has {len(targets)} target frames but {num_frames} feature frames "
            f"(differ by {abs(difference)} > {max_mismatch}); were the features computed with "
            "snip_edges=true and the alignment's frame shift?"
        )
    targets = targets.astype(np.int32)
    if difference > 0:
        return targets[:num_frames], difference
    if difference < 0:
        fill = np.full(-difference, targets[-1], dtype=np.int32)  # repeat the last target, like the edge frames
        return np.concatenate([targets, fill]), difference
    return targets, 0


def load_targets(cut) -> np.ndarray:
    """A cut's ``(T,)`` int64 targets (the full stored vector)."""
    array = cut.custom.get("targets") if cut.custom else None
    if array is None:
        raise ValueError(f"cut {cut.id} has no targets; run python -m blasr.targets on its manifest")
    return np.asarray(array.load(), dtype=np.int64)


def _random_access(alignments, tmp: Path) -> Mapping:
    """A lazy ``utt -> vector`` mapping; sequential sources are copied to a temporary archive."""

    if isinstance(alignments, Mapping):
        return alignments
    if isinstance(alignments, str) and alignments.split(":", 1)[0].split(",")[0] == "scp":
        return ScriptMatrices(alignments.split(":", 1)[1])
    pairs: Iterable
    if isinstance(alignments, str):
        if ":" not in alignments:
            raise ValueError(
                f"alignments {alignments!r}: expected a Kaldi rspecifier such as ark:pdf.ark or scp:pdf.scp"
            )
        pairs = read_matrices(alignments)
    else:
        pairs = alignments
    with ArkWriter(tmp / "alignments.ark", tmp / "alignments.scp") as copy:
        for key, vector in pairs:
            vector = np.asarray(vector).reshape(-1)
            if vector.size and not np.issubdtype(vector.dtype, np.integer):
                raise ValueError(f"alignment {key}: {vector.dtype} values, expected integer pdf-ids")
            copy.write(key, vector.astype(np.int32))
    return ScriptMatrices(copy.scp)
