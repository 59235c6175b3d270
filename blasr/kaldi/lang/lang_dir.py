"""A Kaldi lang directory (``data/lang``) read back: :class:`Lang` and :func:`load_lang`.

:func:`load_lang` reads a lang directory, ours (:mod:`blasr.kaldi.lang.prepare`)
or Kaldi's (``utils/prepare_lang.sh``); ``G.fst`` is added by
:mod:`blasr.kaldi.lang.grammar` (Kaldi's ``format_lm.sh``).
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from blasr.kaldi.formats.fst import read_fst
from blasr.kaldi.formats.model import HmmTopology, read_topology
from blasr.kaldi.formats.symbols import SymbolTable, read_symbol_table
from blasr.kaldi.lang.lexicon import EPS, RESERVED_WORDS, WORD_DISAMBIG, LangError
from blasr.utils.errors import MissingKeyError

logger = logging.getLogger("blasr")

MARKER = ".completed"
WORD_BOUNDARY_KINDS = ("begin", "end", "internal", "singleton", "nonword")  # Kaldi's WordBoundaryInfo


@dataclass
class Lang:
    """A lang directory, read back (:func:`load_lang`) or just written (:func:`prepare_lang`).

    Phone lists are ids in ``phones``; ``disambig`` are the phone ids of
    ``#0 .. #N`` (``phones/disambig.int``), ``word_disambig`` the word id of
    ``#0``.
    """

    lang_dir: Path
    phones: SymbolTable
    words: SymbolTable
    topology: HmmTopology
    silence: list[int]
    nonsilence: list[int]
    optional_silence: int | None
    disambig: list[int]
    oov: str | None = None

    @property
    def word_disambig(self) -> int:
        return self.words.id(WORD_DISAMBIG)

    @property
    def L_path(self) -> Path:  # noqa: N802  (Kaldi's file name)
        return self.lang_dir / "L.fst"

    @property
    def L_disambig_path(self) -> Path:  # noqa: N802
        return self.lang_dir / "L_disambig.fst"

    @property
    def G_path(self) -> Path:  # noqa: N802
        return self.lang_dir / "G.fst"

    def read_fst(self, name: str) -> Any:
        """``L.fst``, ``L_disambig.fst`` or ``G.fst`` as a ``kaldifst.StdVectorFst``."""
        path = self.lang_dir / name
        if not path.is_file():
            hint = " (no grammar yet: see blasr.kaldi.lang.grammar)" if name == "G.fst" else ""
            raise FileNotFoundError(f"{path}: no such file{hint}")
        return read_fst(path)

    @property
    def real_words(self) -> list[str]:
        """The vocabulary: every word but ``<eps>``, ``#0``, ``<s>`` and ``</s>``."""
        return [w for w, _ in self.words if w not in RESERVED_WORDS and not (w.startswith("#") and w[1:].isdigit())]

    @functools.cached_property
    def word_boundary(self) -> dict[int, str]:
        """``phones/word_boundary.int`` (:func:`read_word_boundary`): phone id -> ``begin``, ``end``,
        ``internal``, ``singleton`` or ``nonword``. Only position-dependent lang directories have it
        (``prepare_lang(..., position_dependent_phones=True)``, Kaldi's default)."""
        path = self.lang_dir / "phones" / "word_boundary.int"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file (the lang has no position-dependent phones: prepare it "
                                    "with python -m blasr.prepare_lang --position-dependent-phones true: word times)")
        return read_word_boundary(path, self.phones)

    def word_ids(self, transcript: Sequence[str], utterance: str = "", map_oov: bool = False) -> list[int]:
        """Word ids of a transcript; an unknown word is an error naming it (or maps to ``oov`` with ``map_oov``)."""
        ids = []
        for word in transcript:
            if word in self.words and word not in RESERVED_WORDS:
                ids.append(self.words.id(word))
            elif map_oov and self.oov is not None:
                ids.append(self.words.id(self.oov))
            else:
                where = f"utterance {utterance!r}: " if utterance else ""
                hint = (f"; map it to the OOV word {self.oov!r}" if self.oov
                        else "; give the lang an OOV word (python -m blasr.prepare_lang --oov WORD)")
                raise MissingKeyError(f"{where}word {word!r} is not in {self.lang_dir / 'words.txt'}{hint}")
        return ids


def _read_int_list(path: Path) -> list[int]:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        return [int(x) for x in path.read_text().replace(":", " ").split()]
    except ValueError:
        raise LangError(f"{path}: expected integers") from None


def read_word_boundary(path: str | os.PathLike, phones: SymbolTable | None = None) -> dict[int, str]:
    """``phones/word_boundary.int`` (``<phone-id> <kind>`` a line, as ``prepare_lang.sh`` writes it):
    ``{phone id: kind}``, kind one of :data:`WORD_BOUNDARY_KINDS`; with ``phones``, every id must be in it."""
    path = Path(path)
    table: dict[int, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2 or not fields[0].isdigit() or fields[1] not in WORD_BOUNDARY_KINDS:
            raise LangError(f"{path}:{number}: expected '<phone-id> {'|'.join(WORD_BOUNDARY_KINDS)}', got {line!r}")
        phone = int(fields[0])
        if phones is not None and phone not in phones:
            raise LangError(f"{path}:{number}: phone id {phone} is not in phones.txt")
        if phone in table:
            raise LangError(f"{path}:{number}: phone id {phone} appears twice")
        table[phone] = fields[1]
    return table


def read_align_lexicon(path: str | os.PathLike) -> dict[int, list[tuple[int, ...]]]:
    """``phones/align_lexicon.int`` (``<word-id> <word-id> <phone-id>...`` a line, as ``prepare_lang.sh``
    writes it; word 0, ``<eps>``, is the optional silence between words): ``{word id: [pronunciations]}``."""
    path = Path(path)
    table: dict[int, list[tuple[int, ...]]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 3 or not all(f.isdigit() for f in fields) or fields[0] != fields[1]:
            raise LangError(f"{path}:{number}: expected '<word-id> <word-id> <phone-id>...', got {line!r}")
        table.setdefault(int(fields[0]), []).append(tuple(int(f) for f in fields[2:]))
    if not table:
        raise LangError(f"{path}: no pronunciations")
    return table


def align_lexicon_lines(entries: Sequence[tuple[str, Sequence[str]]], silence: Sequence[str],
                        words: SymbolTable, phones: SymbolTable) -> tuple[list[str], list[str]]:
    """The lines of ``phones/align_lexicon.txt`` and ``.int`` for ``(word, phones)`` entries: ``word word
    phones``, and ``<eps> <eps> phone`` for each phone of ``silence`` (``prepare_lang.sh``'s: the optional
    silence), sorted, duplicates dropped. A word or phone missing from the tables is a :class:`LangError`."""
    lines = {(EPS, EPS, phone) for phone in silence}
    lines |= {(word, word, *pronunciation) for word, pronunciation in entries}
    text, ints = [], []
    for line in sorted(lines):
        for symbol, table, kind in [(line[0], words, "word")] + [(p, phones, "phone") for p in line[2:]]:
            if symbol not in table:
                raise LangError(f"{kind} {symbol!r} of the lexicon entry {' '.join(line[1:])!r} is not in "
                                f"{table.name or kind + 's.txt'}")
        text.append(" ".join(line))
        ints.append(" ".join([str(words.id(line[0]))] * 2 + [str(phones.id(p)) for p in line[2:]]))
    return text, ints


def _phone_list(lang_dir: Path, name: str, phones: SymbolTable) -> list[int]:
    # Kaldi lang directories always have the .int and .csl forms; a .txt-only one is mapped.
    for suffix in (".int", ".csl"):
        if (lang_dir / "phones" / f"{name}{suffix}").is_file():
            ids = _read_int_list(lang_dir / "phones" / f"{name}{suffix}")
            for i in ids:
                if i not in phones:
                    raise LangError(f"{lang_dir / 'phones' / (name + suffix)}: phone id {i} is not in phones.txt")
            return ids
    text = lang_dir / "phones" / f"{name}.txt"
    if text.is_file():
        return [phones.id(p) for p in text.read_text(encoding="utf-8").split()]
    raise FileNotFoundError(f"{lang_dir / 'phones' / name}.int: no such file")


def load_lang(lang_dir: str | os.PathLike) -> Lang:
    """A lang directory written here or by Kaldi's ``prepare_lang.sh``."""
    lang_dir = Path(lang_dir)
    if not lang_dir.is_dir():
        raise FileNotFoundError(f"{lang_dir}: no such directory")
    phones = read_symbol_table(lang_dir / "phones.txt")
    words = read_symbol_table(lang_dir / "words.txt")
    topology = read_topology(lang_dir / "topo")
    silence = _phone_list(lang_dir, "silence", phones)
    nonsilence = _phone_list(lang_dir, "nonsilence", phones)
    disambig = _phone_list(lang_dir, "disambig", phones)
    try:
        optional = _phone_list(lang_dir, "optional_silence", phones)
    except FileNotFoundError:  # only needed for L.fst, which is already built
        optional = []
    if WORD_DISAMBIG not in words:
        raise LangError(f"{lang_dir / 'words.txt'}: no {WORD_DISAMBIG} (the back-off symbol of G.fst)")
    missing = sorted(set(silence + nonsilence) - set(topology.phones))
    if missing:
        raise LangError(f"{lang_dir / 'topo'}: phones {missing} have no topology entry")
    oov_path = lang_dir / "oov.txt"
    oov = oov_path.read_text(encoding="utf-8").split()[0] if oov_path.is_file() else None
    if oov is not None and oov not in words:
        raise LangError(f"{oov_path}: OOV word {oov!r} is not in words.txt")
    optional_silence = optional[0] if optional else None
    return Lang(lang_dir, phones, words, topology, silence, nonsilence, optional_silence, disambig, oov)
