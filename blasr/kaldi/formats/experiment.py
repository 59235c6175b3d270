"""Import an existing Kaldi experiment: an alignment directory plus its lang directory.

A Kaldi alignment directory (Switchboard users typically have
``exp/tri4_ali_nodup``) holds ``final.mdl`` (transition model + GMMs),
``tree``, ``num_jobs`` and ``ali.1.gz .. ali.<num_jobs>.gz``; the lang
directory (``data/lang``) holds ``phones.txt``, ``words.txt`` and ``topo``.
:func:`load_kaldi_experiment` reads them all and converts the alignments to
pdf-ids (Kaldi's ``ali-to-pdf``): the frame targets of the hybrid model.

Consistency is checked, with errors naming the file: every ``ali.N.gz`` that
``num_jobs`` promises exists, no utterance appears twice, every transition-id is
in the model's range, the tree and GMMs have the model's number of pdfs, and
every phone of the model is in ``phones.txt``. Differences that Kaldi tolerates
(a lang ``topo`` that differs from the model's, a model that is not a GMM) are
listed in ``KaldiExperiment.notes``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from blasr.kaldi.formats.gmm import AmDiagGmm
from blasr.kaldi.formats.io import KaldiFormatError, KaldiReader, iter_int_vectors
from blasr.kaldi.formats.model import HmmTopology, TransitionModel, ali_to_pdf, read_topology
from blasr.kaldi.formats.symbols import SymbolTable, read_symbol_table
from blasr.kaldi.formats.tree import ContextDependency, read_tree


@dataclass
class KaldiExperiment:
    """What :func:`load_kaldi_experiment` read.

    ``pdf_alignments`` maps each utterance to its per-frame pdf-ids (int32,
    ``0 .. num_pdfs - 1``); ``transition_alignments`` holds the original
    transition-ids when asked for (``keep_transition_ids=True``), else None.
    """

    ali_dir: Path
    lang_dir: Path | None
    transition_model: TransitionModel
    acoustic_model: AmDiagGmm | None
    tree: ContextDependency | None
    pdf_alignments: dict[str, np.ndarray]
    transition_alignments: dict[str, np.ndarray] | None
    phones: SymbolTable | None
    words: SymbolTable | None
    num_jobs: int
    notes: list[str] = field(default_factory=list)

    @property
    def num_pdfs(self) -> int:
        return self.transition_model.num_pdfs

    @property
    def num_frames(self) -> int:
        return sum(len(a) for a in self.pdf_alignments.values())

    def pdf_counts(self) -> np.ndarray:
        """Frames per pdf-id over all alignments (raw counts; Kaldi's analyze-counts adds its own smoothing)."""
        if not self.pdf_alignments:
            return np.zeros(self.num_pdfs, dtype=np.int64)
        return np.bincount(np.concatenate(list(self.pdf_alignments.values())), minlength=self.num_pdfs)


def alignment_files(ali_dir: str | os.PathLike) -> tuple[list[Path], int]:
    """``ali.1.gz .. ali.<num_jobs>.gz`` of an alignment directory, and ``num_jobs``.

    Without a ``num_jobs`` file, every ``ali.<N>.gz`` present is used (N = 1, 2, ...
    without gaps).
    """
    ali_dir = Path(ali_dir)
    num_jobs_file = ali_dir / "num_jobs"
    present = {int(m.group(1)): p for p in ali_dir.glob("ali.*.gz") if (m := re.fullmatch(r"ali\.(\d+)\.gz", p.name))}
    if num_jobs_file.is_file():
        text = num_jobs_file.read_text().strip()
        if not text.isdigit() or int(text) < 1:
            raise KaldiFormatError(f"{num_jobs_file}: expected a positive integer, found {text!r}")
        num_jobs = int(text)
    else:
        num_jobs = max(present, default=0)
    if num_jobs == 0:
        raise FileNotFoundError(f"{ali_dir}: no alignments (ali.1.gz, ...) found")
    missing = [f"ali.{n}.gz" for n in range(1, num_jobs + 1) if n not in present]
    if missing:
        raise FileNotFoundError(f"{ali_dir}: num_jobs is {num_jobs} but {', '.join(missing)} missing")
    extra = sorted(n for n in present if n > num_jobs)
    if extra:
        raise KaldiFormatError(
            f"{ali_dir}: ali.{extra[0]}.gz is beyond num_jobs={num_jobs} (left over from another run?)"
        )
    return [present[n] for n in range(1, num_jobs + 1)], num_jobs


def _read_final_mdl(path: Path, load_gmm: bool, notes: list[str]) -> tuple[TransitionModel, AmDiagGmm | None]:
    reader = KaldiReader.open(path)
    transition_model = TransitionModel.read(reader)
    if not load_gmm:
        return transition_model, None
    at = reader.pos
    following = None if reader.at_end() else reader.read_token()
    reader.pos = at
    if following != "<DIMENSION>":
        notes.append(f"{path}: not a GMM model (found {following or 'the end of the file'} after the transition model)")
        return transition_model, None
    acoustic_model = AmDiagGmm.read(reader)
    if acoustic_model.num_pdfs != transition_model.num_pdfs:
        raise KaldiFormatError(
            f"{path}: the transition model has {transition_model.num_pdfs} pdfs, the GMMs {acoustic_model.num_pdfs}"
        )
    return transition_model, acoustic_model


def _same_topology(a: HmmTopology, b: HmmTopology) -> bool:
    def key(topology: HmmTopology):
        return {
            phone: [
                (s.forward_pdf_class, s.self_loop_pdf_class, [(d, round(float(p), 5)) for d, p in s.transitions])
                for s in topology.topology_for_phone(phone)
            ]
            for phone in topology.phones
        }

    return key(a) == key(b)


def load_kaldi_experiment(
    ali_dir: str | os.PathLike,
    lang_dir: str | os.PathLike | None = None,
    *,
    load_gmm: bool = True,
    keep_transition_ids: bool = False,
) -> KaldiExperiment:
    """Read a Kaldi alignment directory (and its lang directory) and convert the alignments to pdf-ids.

    ``ali_dir`` needs ``final.mdl`` and ``ali.*.gz``; ``tree`` and ``num_jobs``
    are read when present. ``lang_dir`` gives ``phones.txt``, ``words.txt`` and
    ``topo``; without it, ``ali_dir/phones.txt`` is used if Kaldi copied it there.
    """
    ali_dir = Path(ali_dir)
    lang_dir = Path(lang_dir) if lang_dir is not None else None
    if not ali_dir.is_dir():
        raise FileNotFoundError(f"{ali_dir}: not a directory")
    notes: list[str] = []

    model_path = ali_dir / "final.mdl"
    if not model_path.is_file():
        raise FileNotFoundError(f"{model_path}: no such file (an alignment directory has final.mdl)")
    transition_model, acoustic_model = _read_final_mdl(model_path, load_gmm, notes)

    tree = None
    if (ali_dir / "tree").is_file():
        tree = read_tree(ali_dir / "tree")
        if tree.num_pdfs != transition_model.num_pdfs:
            raise KaldiFormatError(
                f"{ali_dir / 'tree'}: the tree has {tree.num_pdfs} pdfs, {model_path} has {transition_model.num_pdfs}"
            )
    else:
        notes.append(f"{ali_dir}: no tree file")

    phones = words = None
    phones_path = lang_dir / "phones.txt" if lang_dir is not None else ali_dir / "phones.txt"
    if lang_dir is not None and not lang_dir.is_dir():
        raise FileNotFoundError(f"{lang_dir}: not a directory")
    if phones_path.is_file():
        phones = read_symbol_table(phones_path)
        unknown = [p for p in transition_model.phones if p not in phones]
        if unknown:
            raise KaldiFormatError(
                f"{phones_path}: phone ids {unknown[:10]} of {model_path} are missing (lang and model do not match?)"
            )
    elif lang_dir is not None:
        raise FileNotFoundError(f"{phones_path}: no such file")
    if lang_dir is not None:
        words_path = lang_dir / "words.txt"
        if not words_path.is_file():
            raise FileNotFoundError(f"{words_path}: no such file")
        words = read_symbol_table(words_path)
        topo_path = lang_dir / "topo"
        if topo_path.is_file() and not _same_topology(read_topology(topo_path), transition_model.topology):
            notes.append(f"{topo_path}: differs from the topology in {model_path}")

    files, num_jobs = alignment_files(ali_dir)
    pdf_alignments: dict[str, np.ndarray] = {}
    transition_alignments: dict[str, np.ndarray] | None = {} if keep_transition_ids else None
    origin: dict[str, Path] = {}
    for path in files:
        for utt, transition_ids in iter_int_vectors(path):
            if utt in pdf_alignments:
                raise KaldiFormatError(f"{path}: utterance {utt!r} appears again (first in {origin[utt]})")
            try:
                pdf_alignments[utt] = ali_to_pdf(transition_model, transition_ids, utt).astype(np.int32)
            except ValueError as error:
                raise KaldiFormatError(f"{path}: {error}") from None
            origin[utt] = path
            if transition_alignments is not None:
                transition_alignments[utt] = transition_ids

    return KaldiExperiment(
        ali_dir=ali_dir,
        lang_dir=lang_dir,
        transition_model=transition_model,
        acoustic_model=acoustic_model,
        tree=tree,
        pdf_alignments=pdf_alignments,
        transition_alignments=transition_alignments,
        phones=phones,
        words=words,
        num_jobs=num_jobs,
        notes=notes,
    )
