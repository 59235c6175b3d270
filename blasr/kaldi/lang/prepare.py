"""Kaldi's lang directory (``data/lang``) from a lexicon and a phone set, without Kaldi.

:func:`prepare_lang` does what ``utils/prepare_lang.sh`` does with its default
options, in Python:

* ``phones.txt``: ``<eps>``, the silence phones, the non-silence phones, then
  the disambiguation symbols ``#0 .. #N``; ``words.txt``: ``<eps>``, the
  lexicon's words in C-locale order, then ``#0``, ``<s>``, ``</s>``;
* ``topo``: ``utils/gen_topo.pl`` (3-state left-to-right non-silence phones,
  5-state silence with its fully connected middle states);
* ``L.fst``: ``utils/lang/make_lexicon_fst.py`` with optional silence
  (``sil_prob`` 0.5: between words, at the start and at the end), arcs sorted by
  output label; ``L_disambig.fst``: the same from the lexicon with
  ``utils/add_lex_disambig.pl``'s ``#1, #2, ...`` after homophones and prefixes
  of other pronunciations, ``#N`` after the optional silence and ``#0:#0``
  self-loops (``fstaddselfloops``) so that G's back-off symbol passes through;
* ``phones/``: ``silence``, ``nonsilence``, ``optional_silence``,
  ``context_indep``, ``disambig`` (``.txt``, ``.int``, ``.csl``), ``sets``,
  ``roots``, ``extra_questions``, ``wdisambig*``, ``align_lexicon`` (``word
  word phones``, ``<eps> <eps> SIL`` for the optional silence: word times from
  the lexicon) and with ``position_dependent_phones`` ``word_boundary``;
* ``oov.txt`` / ``oov.int`` when an OOV word is given;
* ``G.fst`` when a language model or grammar is given (:mod:`blasr.kaldi.lang.grammar`).

Position-dependent phones (``_B``, ``_I``, ``_E``, ``_S``) are optional here
(Kaldi's default is to use them). The directory gets a ``.completed`` marker
holding the digest of every input: a second call with the same inputs reads it
back instead of rebuilding. :func:`blasr.kaldi.lang.lang_dir.load_lang` reads a lang directory, ours or
Kaldi's.

Every lexicon problem is an error naming the file and line (or the entry): a
phone missing from the phone set, a reserved word (``<eps>``, ``<s>``,
``</s>``, ``#0``), an empty pronunciation, a pronunciation probability outside
(0, 1], a duplicate entry.

The command line is ``python -m blasr.prepare_lang`` (:mod:`blasr.prepare_lang`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import kaldifst

from blasr.kaldi.formats.model import HmmState, HmmTopology, write_topology
from blasr.kaldi.formats.symbols import SymbolTable, write_symbol_table
from blasr.kaldi.lang import grammar
from blasr.kaldi.lang.lang_dir import MARKER, Lang, align_lexicon_lines, load_lang
from blasr.kaldi.lang.lexicon import (
    BOS,
    EOS,
    EPS,
    POSITION_SUFFIXES,
    WORD_DISAMBIG,
    LangError,
    LexiconEntry,
    LexiconLike,
    add_lex_disambig,
    check_lexicon,
    lexicon_entries,
    make_lexicon_fst,
    phone_variants,
    position_dependent,
    read_lexicon,
)

logger = logging.getLogger("blasr")



# -- topology (utils/gen_topo.pl) -------------------------------------------------------------


def make_topology(
    nonsilence_phones: Sequence[int],
    silence_phones: Sequence[int],
    num_nonsil_states: int = 3,
    num_sil_states: int = 5,
) -> HmmTopology:
    """Kaldi's ``utils/gen_topo.pl``.

    Non-silence phones: ``num_nonsil_states`` left-to-right states, each with
    self-loop 0.75 and forward 0.25. Silence phones: state 0 goes to states
    ``0 .. S-2``, the middle states to ``1 .. S-1``, each with probability
    ``1 / (S - 1)``; the last emitting state has self-loop 0.75 and exit 0.25.
    """
    if not 1 <= num_nonsil_states <= 100:
        raise LangError(f"unexpected number of non-silence states {num_nonsil_states} (gen_topo.pl allows 1..100)")
    if not 3 <= num_sil_states <= 100:
        raise LangError(f"unexpected number of silence states {num_sil_states} (gen_topo.pl allows 3..100)")
    nonsil = [HmmState(s, s, [(s, 0.75), (s + 1, 0.25)]) for s in range(num_nonsil_states)]
    nonsil.append(HmmState())
    entries, phone_to_entry = [nonsil], {p: 0 for p in nonsilence_phones}
    if silence_phones:
        n = num_sil_states
        prob = 1.0 / (n - 1)
        sil = [HmmState(0, 0, [(d, prob) for d in range(n - 1)])]
        sil += [HmmState(s, s, [(d, prob) for d in range(1, n)]) for s in range(1, n - 1)]
        sil += [HmmState(n - 1, n - 1, [(n - 1, 0.75), (n, 0.25)]), HmmState()]
        entries.append(sil)
        phone_to_entry.update({p: 1 for p in silence_phones})
    if not nonsilence_phones:
        entries, phone_to_entry = entries[1:], {p: 0 for p in silence_phones}
    topology = HmmTopology(entries, phone_to_entry)
    topology.check("gen_topo")
    return topology


# -- the lang directory -----------------------------------------------------------------------


def _ids(table: SymbolTable, symbols: Iterable[str]) -> list[int]:
    return [table.id(s) for s in symbols]


def _write_lines(path: Path, lines: Iterable[str]) -> None:
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")


def _write_phone_list(phones_dir: Path, name: str, symbols: Sequence[str], table: SymbolTable) -> None:
    ids = _ids(table, symbols)
    _write_lines(phones_dir / f"{name}.txt", symbols)
    _write_lines(phones_dir / f"{name}.int", (str(i) for i in ids))
    (phones_dir / f"{name}.csl").write_text(":".join(str(i) for i in ids) + "\n")


def _phone_sets(spec: Sequence[str | Sequence[str]] | None) -> list[list[str]]:
    # One set per line, as silence_phones.txt / nonsilence_phones.txt: a phone or several sharing a tree root.
    sets = []
    for item in spec or ():
        phones = item.split() if isinstance(item, str) else [str(p) for p in item]
        if phones:
            sets.append(phones)
    return sets


@dataclass
class DictDir:
    """Kaldi's ``data/local/dict``: the inputs of ``prepare_lang.sh``."""

    lexicon: list[LexiconEntry]
    silence_phones: list[list[str]]
    nonsilence_phones: list[list[str]]
    optional_silence: str | None
    extra_questions: list[list[str]]


def read_dict_dir(dict_dir: str | os.PathLike) -> DictDir:
    """``lexiconp.txt`` (or ``lexicon.txt``), ``silence_phones.txt``, ``nonsilence_phones.txt``,
    ``optional_silence.txt`` and ``extra_questions.txt`` (the last optional) of a dict directory."""
    dict_dir = Path(dict_dir)
    lexicon_path = dict_dir / "lexiconp.txt"
    if not lexicon_path.is_file():
        lexicon_path = dict_dir / "lexicon.txt"
    for required in (lexicon_path, dict_dir / "silence_phones.txt", dict_dir / "nonsilence_phones.txt"):
        if not required.is_file():
            raise FileNotFoundError(f"{required}: no such file (a Kaldi dict directory needs it)")

    def sets(name: str) -> list[list[str]]:
        path = dict_dir / name
        if not path.is_file():
            return []
        return [line.split() for line in path.read_text(encoding="utf-8").splitlines() if line.split()]

    optional = sets("optional_silence.txt")
    if len(optional) > 1 or (optional and len(optional[0]) != 1):
        raise LangError(f"{dict_dir / 'optional_silence.txt'}: expected a single phone")
    return DictDir(
        read_lexicon(lexicon_path),
        sets("silence_phones.txt"),
        sets("nonsilence_phones.txt"),
        optional[0][0] if optional else None,
        sets("extra_questions.txt"),
    )


def _digest(**inputs: Any) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()


def prepare_lang(
    lexicon: LexiconLike | DictDir,
    lang_dir: str | os.PathLike,
    *,
    silence_phones: Sequence[str | Sequence[str]] | None = None,
    nonsilence_phones: Sequence[str | Sequence[str]] | None = None,
    optional_silence: str | None = None,
    oov: str | None = None,
    sil_prob: float = 0.5,
    position_dependent_phones: bool = False,
    num_nonsil_states: int = 3,
    num_sil_states: int = 5,
    extra_questions: Sequence[Sequence[str]] = (),
    arpa: str | os.PathLike | None = None,
    sentences: Sequence[Sequence[str]] | None = None,
    word_loop: bool = False,
    unknown_lm_words: str = "error",
    overwrite: bool = False,
) -> Lang:
    """Write a Kaldi lang directory; returns it as :class:`Lang`.

    Args:
        lexicon: a lexicon file (``lexicon.txt`` / ``lexiconp.txt``), entries
            (``(word, phones)`` or ``(word, prob, phones)``), a Kaldi dict
            directory path (then the phone lists come from it), or a :class:`DictDir`.
        lang_dir: the output directory (created).
        silence_phones: the silence phones; an item that is a list (or a
            string with spaces) is a set sharing one tree root, as a line of
            ``silence_phones.txt``. Required unless ``lexicon`` is a dict directory.
        nonsilence_phones: the same for the others; by default every lexicon
            phone that is not silence, one set each, sorted.
        optional_silence: the phone of the optional silence in ``L.fst``
            (default: the first silence phone).
        oov: the word that stands for unknown words (``oov.txt``); must be in
            the lexicon. None: no ``oov.txt``.
        sil_prob: probability of the optional silence (Kaldi's default 0.5; 0: none).
        position_dependent_phones: Kaldi's ``_B/_I/_E/_S`` phones (its default is true).
        num_nonsil_states, num_sil_states: HMM states (``gen_topo.pl``).
        extra_questions: phone sets for tree building (``phones/extra_questions.txt``).
        arpa, sentences, word_loop: at most one; writes ``G.fst`` from an ARPA
            file, from sentences (word-sequence acceptor), or a loop over every
            word (:mod:`blasr.kaldi.lang.grammar`).
        unknown_lm_words: ``"error"`` or ``"skip"`` (Kaldi's arpa2fst skips
            n-grams with words not in ``words.txt``; here they are counted and
            logged).
        overwrite: rebuild even if ``lang_dir`` holds a completed run with the same inputs.
    """
    if (arpa is not None) + (sentences is not None) + bool(word_loop) > 1:
        raise LangError("give at most one of arpa, sentences and word_loop")
    if isinstance(lexicon, (str, os.PathLike)) and Path(lexicon).is_dir():
        lexicon = read_dict_dir(lexicon)
    if isinstance(lexicon, DictDir):
        silence_phones = lexicon.silence_phones if silence_phones is None else silence_phones
        nonsilence_phones = lexicon.nonsilence_phones if nonsilence_phones is None else nonsilence_phones
        optional_silence = optional_silence or lexicon.optional_silence
        extra_questions = list(extra_questions) or lexicon.extra_questions
        entries = lexicon.lexicon
    else:
        entries = lexicon_entries(lexicon)
    silence_sets = _phone_sets(silence_phones)
    if not silence_sets:
        raise LangError("no silence phones: list them in the dict directory's silence_phones.txt (e.g. SIL); "
                        "Kaldi needs at least one")
    silence = [p for s in silence_sets for p in s]
    if nonsilence_phones is None:
        lexicon_phones = sorted({p for e in entries for p in e.phones} - set(silence))
        nonsilence_sets = [[p] for p in lexicon_phones]
    else:
        nonsilence_sets = _phone_sets(nonsilence_phones)
    nonsilence = [p for s in nonsilence_sets for p in s]
    _check_phone_set(silence, nonsilence, position_dependent_phones)
    check_lexicon(entries, silence + nonsilence)
    optional_silence = optional_silence or silence[0]
    if optional_silence not in silence:
        raise LangError(f"optional silence {optional_silence!r} is not one of the silence phones {silence}")
    if oov is not None and oov not in {e.word for e in entries}:
        raise LangError(f"OOV word {oov!r} is not in the lexicon; add an entry such as '{oov} {optional_silence}'")

    lang_dir = Path(lang_dir)
    digest = _digest(
        entries=[e.line() for e in entries],
        silence=silence_sets,
        nonsilence=nonsilence_sets,
        optional_silence=optional_silence,
        oov=oov,
        sil_prob=sil_prob,
        position_dependent_phones=position_dependent_phones,
        states=(num_nonsil_states, num_sil_states),
        extra_questions=[list(q) for q in extra_questions],
        arpa=_file_digest(arpa) if arpa is not None else None,
        sentences=[list(s) for s in sentences] if sentences is not None else None,
        word_loop=word_loop,
        unknown_lm_words=unknown_lm_words,
    )
    marker = lang_dir / MARKER
    if not overwrite and marker.is_file() and marker.read_text().strip() == digest:
        logger.info("lang directory %s is complete with these inputs; not rebuilding", lang_dir)
        return load_lang(lang_dir)
    if lang_dir.exists():
        marker.unlink(missing_ok=True)
        shutil.rmtree(lang_dir / "phones", ignore_errors=True)
        for stale in ("G.fst", "oov.txt", "oov.int"):
            (lang_dir / stale).unlink(missing_ok=True)
    (lang_dir / "phones").mkdir(parents=True, exist_ok=True)

    if position_dependent_phones:
        entries = position_dependent(entries)

    def expand(sets: list[list[str]], is_silence: bool) -> list[list[str]]:
        return [[v for p in s for v in phone_variants(p, is_silence, position_dependent_phones)] for s in sets]

    silence_expanded, nonsilence_expanded = expand(silence_sets, True), expand(nonsilence_sets, False)
    silence_list = [p for s in silence_expanded for p in s]
    nonsilence_list = [p for s in nonsilence_expanded for p in s]

    entries_disambig, max_disambig = add_lex_disambig(entries)
    num_disambig = max_disambig + 1  # one more for the optional silence in L_disambig.fst (prepare_lang.sh)
    disambig = [f"#{n}" for n in range(num_disambig + 1)]
    phones = SymbolTable.from_symbols([EPS] + silence_list + nonsilence_list + disambig, name="phones.txt")
    words = SymbolTable.from_symbols(
        [EPS] + sorted({e.word for e in entries}) + [WORD_DISAMBIG, BOS, EOS], name="words.txt"
    )
    write_symbol_table(phones, lang_dir / "phones.txt")
    write_symbol_table(words, lang_dir / "words.txt")
    if oov is not None:
        _write_lines(lang_dir / "oov.txt", [oov])
        _write_lines(lang_dir / "oov.int", [str(words.id(oov))])

    phones_dir = lang_dir / "phones"
    _write_phone_list(phones_dir, "silence", silence_list, phones)
    _write_phone_list(phones_dir, "nonsilence", nonsilence_list, phones)
    _write_phone_list(phones_dir, "optional_silence", [optional_silence], phones)
    _write_phone_list(phones_dir, "context_indep", silence_list, phones)
    _write_phone_list(phones_dir, "disambig", disambig, phones)
    sets = silence_expanded + nonsilence_expanded
    _write_lines(phones_dir / "sets.txt", (" ".join(s) for s in sets))
    _write_lines(phones_dir / "sets.int", (" ".join(map(str, _ids(phones, s))) for s in sets))
    # share_silence_phones=false: every set is its own "shared split" root.
    _write_lines(phones_dir / "roots.txt", ("shared split " + " ".join(s) for s in sets))
    _write_lines(phones_dir / "roots.int", ("shared split " + " ".join(map(str, _ids(phones, s))) for s in sets))
    questions = [
        [v for p in q for v in phone_variants(p, p in silence, position_dependent_phones)] for q in extra_questions
    ]
    if position_dependent_phones:  # questions about the word position (prepare_lang.sh)
        questions += [[p + suffix for p in nonsilence] for suffix in POSITION_SUFFIXES]
        questions += [[p + suffix for p in silence] for suffix in ("",) + POSITION_SUFFIXES]
    for question in questions:
        for phone in question:
            if phone not in phones:
                raise LangError(f"extra question phone {phone!r} is not in the phone set")
    _write_lines(phones_dir / "extra_questions.txt", (" ".join(q) for q in questions))
    _write_lines(phones_dir / "extra_questions.int", (" ".join(map(str, _ids(phones, q))) for q in questions))
    _write_lines(phones_dir / "wdisambig.txt", [WORD_DISAMBIG])
    _write_lines(phones_dir / "wdisambig_phones.int", [str(phones.id(WORD_DISAMBIG))])
    _write_lines(phones_dir / "wdisambig_words.int", [str(words.id(WORD_DISAMBIG))])
    # word times without position-dependent phones (lattice-align-words-lexicon, blasr.kaldi.scoring.ctm)
    align_text, align_int = align_lexicon_lines([(e.word, e.phones) for e in entries], [optional_silence],
                                                words, phones)
    _write_lines(phones_dir / "align_lexicon.txt", align_text)
    _write_lines(phones_dir / "align_lexicon.int", align_int)
    if position_dependent_phones:
        kinds = {"_I": "internal", "_B": "begin", "_S": "singleton", "_E": "end"}
        boundary = [(p, kinds.get(p[-2:], "nonword")) for p in silence_list + nonsilence_list]
        _write_lines(phones_dir / "word_boundary.txt", (f"{p} {k}" for p, k in boundary))
        _write_lines(phones_dir / "word_boundary.int", (f"{phones.id(p)} {k}" for p, k in boundary))

    topology = make_topology(
        _ids(phones, nonsilence_list), _ids(phones, silence_list), num_nonsil_states, num_sil_states
    )
    write_topology(topology, lang_dir / "topo")


    sil_phone = optional_silence if sil_prob > 0 else None
    lexicon_fst = make_lexicon_fst(entries, phones, words, sil_prob, sil_phone)
    lexicon_fst.write(str(lang_dir / "L.fst"))
    disambig_fst = make_lexicon_fst(entries_disambig, phones, words, sil_prob, sil_phone, f"#{num_disambig}")
    # fstaddselfloops phones/wdisambig_phones.int phones/wdisambig_words.int: G's #0 passes through L.
    kaldifst.add_self_loops(disambig_fst, [phones.id(WORD_DISAMBIG)], [words.id(WORD_DISAMBIG)])
    kaldifst.arcsort(disambig_fst, sort_type="olabel")
    disambig_fst.write(str(lang_dir / "L_disambig.fst"))

    lang = Lang(
        lang_dir,
        phones,
        words,
        topology,
        _ids(phones, silence_list),
        _ids(phones, nonsilence_list),
        phones.id(optional_silence),
        _ids(phones, disambig),
        oov,
    )
    if arpa is not None or sentences is not None or word_loop:
        if arpa is not None:
            g, _ = grammar.arpa_to_fst(arpa, words, unknown_words=unknown_lm_words, words_path=lang_dir / "words.txt")
        elif sentences is not None:
            g = grammar.sentences_fst(sentences, words)
        else:
            g = grammar.word_loop_fst(words)
        grammar.write_g(g, lang)
    marker.write_text(digest + "\n")
    logger.info(
        "lang directory %s: %d phones (%d silence), %d disambiguation symbols, %d words%s",
        lang_dir, len(silence_list) + len(nonsilence_list), len(silence_list), len(disambig),
        len(lang.real_words), ", G.fst" if lang.G_path.is_file() else "",
    )
    return lang


def _file_digest(path: str | os.PathLike) -> str:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_phone_set(silence: Sequence[str], nonsilence: Sequence[str], position_dependent_phones: bool) -> None:
    seen: set[str] = set()
    for phone in list(silence) + list(nonsilence):
        if phone in seen:
            both = phone in silence and phone in nonsilence
            kind = "both a silence and a non-silence phone" if both else "given twice"
            raise LangError(f"phone {phone!r} is {kind}")
        seen.add(phone)
        if phone == EPS or phone.startswith("#"):
            raise LangError(f"phone {phone!r} is reserved (<eps> and #N are added by prepare_lang)")
        if any(c.isspace() for c in phone) or not phone:
            raise LangError(f"phone {phone!r} is empty or holds whitespace")
    if position_dependent_phones:
        for phone in seen:
            if phone[-2:] in POSITION_SUFFIXES:
                raise LangError(
                    f"phone {phone!r} already ends in a word-position suffix; "
                    "prepare the lang with --position-dependent-phones false, or rename it"
                )
    if not nonsilence:
        raise LangError("no non-silence phones")
