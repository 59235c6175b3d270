"""Pronunciation lexicons the Kaldi way: reading, checking, disambiguation symbols, the lexicon FST L.

* :func:`read_lexicon` reads ``lexicon.txt`` / ``lexiconp.txt``;
  :func:`check_lexicon` refuses what ``validate_dict_dir.pl`` and
  ``add_lex_disambig.pl`` refuse, naming the file and line;
* :func:`add_lex_disambig` is ``utils/add_lex_disambig.pl``;
* :func:`position_dependent` gives the ``_B/_I/_E/_S`` phones of ``prepare_lang.sh``;
* :func:`make_lexicon_fst` is ``utils/lang/make_lexicon_fst.py`` (optional
  silence, pronunciation probabilities, the silence disambiguation symbol).

:mod:`blasr.kaldi.lang.lang_dir` puts them together into a lang directory.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence, Union

import kaldifst

from blasr.kaldi.formats.symbols import SymbolTable
from blasr.utils.errors import BlasrError

EPS = "<eps>"
BOS, EOS = "<s>", "</s>"
WORD_DISAMBIG = "#0"
RESERVED_WORDS = (EPS, BOS, EOS, WORD_DISAMBIG)
POSITION_SUFFIXES = ("_B", "_E", "_I", "_S")  # begin, end, internal, singleton (prepare_lang.sh's order)


class LangError(BlasrError, ValueError):
    """A lexicon, phone set or lang directory that cannot make a Kaldi lang directory (the message says where)."""


# -- lexicon ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LexiconEntry:
    """One pronunciation: ``word prob phone phone ...`` (``lexiconp.txt``); ``where`` names its source line."""

    word: str
    prob: float
    phones: tuple[str, ...]
    where: str = field(default="", compare=False)

    def line(self) -> str:
        return f"{self.word}\t{self.prob:g}\t{' '.join(self.phones)}"


LexiconLike = Union[str, os.PathLike, Iterable[Union[LexiconEntry, Sequence[Any]]]]


def read_lexicon(path: str | os.PathLike, pron_probs: bool | None = None) -> list[LexiconEntry]:
    """``lexicon.txt`` (``word phone ...``) or ``lexiconp.txt`` (``word prob phone ...``).

    ``pron_probs=None`` decides by the file name (``lexiconp*`` has
    probabilities), as ``prepare_lang.sh`` picks between the two files.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if pron_probs is None:
        pron_probs = path.name.startswith("lexiconp")
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        where = f"{path}:{number}"
        if pron_probs:
            if len(fields) < 2:
                raise LangError(f"{where}: expected 'word prob phone ...', found {line.strip()!r}")
            try:
                prob = float(fields[1])
            except ValueError:
                raise LangError(f"{where}: pronunciation probability {fields[1]!r} is not a number") from None
            entries.append(LexiconEntry(fields[0], prob, tuple(fields[2:]), where))
        else:
            entries.append(LexiconEntry(fields[0], 1.0, tuple(fields[1:]), where))
    if not entries:
        raise LangError(f"{path}: the lexicon is empty")
    return entries


def lexicon_entries(lexicon: LexiconLike) -> list[LexiconEntry]:
    """Entries from a lexicon file, or from ``(word, phones)`` / ``(word, prob, phones)`` items.

    ``phones`` may be a sequence or a space-separated string.
    """
    if isinstance(lexicon, (str, os.PathLike)):
        return read_lexicon(lexicon)
    entries = []
    for index, item in enumerate(lexicon):
        if isinstance(item, LexiconEntry):
            entries.append(item)
            continue
        where = f"lexicon entry {index}"
        if len(item) == 2:
            word, phones, prob = item[0], item[1], 1.0
        elif len(item) == 3:
            word, prob, phones = item
        else:
            raise LangError(f"{where}: expected (word, phones) or (word, prob, phones), found {item!r}")
        phones = phones.split() if isinstance(phones, str) else list(phones)
        entries.append(LexiconEntry(str(word), float(prob), tuple(str(p) for p in phones), where))
    if not entries:
        raise LangError("the lexicon is empty")
    return entries


def check_lexicon(entries: Sequence[LexiconEntry], phones: Iterable[str] | None = None) -> None:
    """The checks of ``validate_dict_dir.pl`` / ``add_lex_disambig.pl`` that matter for the FSTs.

    With ``phones`` given, every phone of every pronunciation must be in it.
    """
    known = None if phones is None else set(phones)
    seen: dict[tuple[str, tuple[str, ...]], str] = {}
    for entry in entries:
        where = entry.where or f"word {entry.word!r}"
        if entry.word in RESERVED_WORDS or (entry.word.startswith("#") and entry.word[1:].isdigit()):
            raise LangError(f"{where}: {entry.word!r} is reserved (<eps>, <s>, </s> and #N are added by prepare_lang)")
        if not entry.phones:
            raise LangError(f"{where}: word {entry.word!r} has an empty pronunciation (Kaldi refuses it)")
        if not 0.0 < entry.prob <= 1.0:
            raise LangError(f"{where}: word {entry.word!r}: pronunciation probability {entry.prob} is not in (0, 1]")
        key = (entry.word, entry.phones)
        if key in seen:
            raise LangError(f"{where}: duplicate pronunciation of {entry.word!r} (first at {seen[key]})")
        seen[key] = where
        if known is not None:
            for phone in entry.phones:
                if phone not in known:
                    raise LangError(
                        f"{where}: word {entry.word!r}: phone {phone!r} is not in the phone set "
                        "(add it to the silence or non-silence phones)"
                    )


def add_lex_disambig(entries: Sequence[LexiconEntry]) -> tuple[list[LexiconEntry], int]:
    """Kaldi's ``utils/add_lex_disambig.pl``: ``#1, #2, ...`` after ambiguous pronunciations.

    A pronunciation gets a disambiguation symbol when another entry has the
    same phones (homophones get ``#1``, ``#2``, ... in lexicon order) or when it
    is a proper prefix of another pronunciation. Returns the new entries and
    the largest number used (0 when none was needed).
    """
    count: dict[tuple[str, ...], int] = {}
    prefixes: set[tuple[str, ...]] = set()
    for entry in entries:
        count[entry.phones] = count.get(entry.phones, 0) + 1
        for end in range(len(entry.phones)):
            prefixes.add(entry.phones[:end])
    last: dict[tuple[str, ...], int] = {}
    result, max_disambig = [], 0
    for entry in entries:
        if entry.phones not in prefixes and count[entry.phones] == 1:
            result.append(entry)
            continue
        number = last.get(entry.phones, 0) + 1
        last[entry.phones] = number
        max_disambig = max(max_disambig, number)
        result.append(LexiconEntry(entry.word, entry.prob, entry.phones + (f"#{number}",), entry.where))
    return result, max_disambig


def position_dependent(entries: Sequence[LexiconEntry]) -> list[LexiconEntry]:
    """Word-position-dependent phones as ``prepare_lang.sh``: ``p_S`` alone, else ``p_B p_I ... p_E``."""
    result = []
    for entry in entries:
        phones = entry.phones
        if len(phones) == 1:
            marked = (phones[0] + "_S",)
        else:
            marked = (phones[0] + "_B",) + tuple(p + "_I" for p in phones[1:-1]) + (phones[-1] + "_E",)
        result.append(LexiconEntry(entry.word, entry.prob, marked, entry.where))
    return result


def phone_variants(phone: str, silence: bool, position_dependent_phones: bool) -> list[str]:
    """The phones ``phone`` stands for (prepare_lang.sh's phone map): ``AA_B AA_E AA_I AA_S``; silence keeps
    its plain form too (``SIL SIL_B ...``), for the optional silence between words."""
    if not position_dependent_phones:
        return [phone]
    return ([phone] if silence else []) + [phone + suffix for suffix in POSITION_SUFFIXES]


# -- L.fst (utils/lang/make_lexicon_fst.py) ----------------------------------------------------


def make_lexicon_fst(
    entries: Sequence[LexiconEntry],
    phones: SymbolTable,
    words: SymbolTable,
    sil_prob: float = 0.5,
    sil_phone: str | None = None,
    sil_disambig: str | None = None,
) -> Any:
    """The lexicon transducer (phones in, words out) of Kaldi's ``make_lexicon_fst.py``.

    With ``sil_prob > 0`` (Kaldi's ``write_fst_with_silence``): state 0 is the
    start, 1 the loop state (the only final state) where words begin and end,
    2 the state after a word that is followed by the optional silence. Costs:
    ``-log(1 - sil_prob)`` for no silence, ``-log(sil_prob)`` for silence, at the
    start and after every word; ``-log(prob)`` of the pronunciation on its first
    arc. ``sil_disambig`` (for ``L_disambig.fst``) follows the silence phone.
    Arcs are sorted by output label, as ``prepare_lang.sh`` does.
    """

    def phone_id(phone: str, entry: LexiconEntry | None = None) -> int:
        if phone not in phones:
            what = f"{entry.where or repr(entry.word)}: " if entry else ""
            raise LangError(f"{what}phone {phone!r} is not in the phone table")
        return phones.id(phone)

    fst = kaldifst.StdVectorFst()

    def arc(src: int, dst: int, ilabel: int, olabel: int, cost: float) -> None:
        fst.add_arc(src, kaldifst.StdArc(ilabel, olabel, cost, dst))

    if not 0.0 <= sil_prob < 1.0:
        raise LangError(f"sil_prob must be in [0, 1), got {sil_prob}")
    if sil_prob > 0.0:
        if sil_phone is None:
            raise LangError("sil_prob > 0 needs the optional-silence phone (sil_phone)")
        sil_cost, no_sil_cost = -math.log(sil_prob), -math.log(1.0 - sil_prob)
        start, loop, sil_state = (fst.add_state() for _ in range(3))
        arc(start, loop, 0, 0, no_sil_cost)
        arc(start, sil_state, 0, 0, sil_cost)
        if sil_disambig is None:
            arc(sil_state, loop, phone_id(sil_phone), 0, 0.0)
        else:
            disambig_state = fst.add_state()
            arc(sil_state, disambig_state, phone_id(sil_phone), 0, 0.0)
            arc(disambig_state, loop, phone_id(sil_disambig), 0, 0.0)
    else:
        start = loop = fst.add_state()
        sil_state, no_sil_cost, sil_cost = None, 0.0, 0.0
    fst.start = start
    for entry in entries:
        if entry.word not in words:
            raise LangError(f"{entry.where or 'lexicon'}: word {entry.word!r} is not in the word table")
        word, pron_cost = words.id(entry.word), -math.log(entry.prob)
        labels = [phone_id(p, entry) for p in entry.phones]
        state = loop
        for i, label in enumerate(labels[:-1]):
            following = fst.add_state()
            arc(state, following, label, word if i == 0 else 0, pron_cost if i == 0 else 0.0)
            state = following
        single = len(labels) == 1  # the word label and pronunciation cost go on the first arc
        arc(state, loop, labels[-1], word if single else 0, no_sil_cost + (pron_cost if single else 0.0))
        if sil_state is not None:
            arc(state, sil_state, labels[-1], word if single else 0, sil_cost + (pron_cost if single else 0.0))
    fst.set_final(loop, 0.0)
    kaldifst.arcsort(fst, sort_type="olabel")
    return fst
