"""G.fst: the grammar of a lang directory, from an ARPA language model or from simple grammars.

* :func:`arpa_to_fst` is Kaldi's ``utils/format_lm.sh`` step ``arpa2fst
  --disambig-symbol=#0 --read-symbol-table=words.txt`` through kaldilm's
  ``arpa2fst``: ``<s>`` and ``</s>`` become epsilons (``</s>`` probabilities are
  final weights), back-off arcs read ``#0``. kaldilm aborts the whole process
  on a malformed file, so the file is checked here first, following Kaldi's
  ``ArpaFileParser`` line by line: a bad line is an error naming the file, the
  line number and the line. What Kaldi skips with a warning (an n-gram whose
  (n-1)-gram prefix is missing, ``<s>``/``</s>`` in the wrong place) is counted
  in :class:`ArpaInfo` and logged; a word that is not in ``words.txt`` is an
  error unless ``unknown_words="skip"`` (Kaldi's behaviour, counted as well).
* :func:`word_loop_fst`: any sequence of the vocabulary, uniform probabilities.
* :func:`sentences_fst`: exactly the given word sequences (a prefix tree,
  deterministic and stochastic; each sentence weighted by how often it is given).
* :func:`write_g` checks a grammar against ``words.txt`` and writes ``G.fst``.
"""

from __future__ import annotations

import gzip
import logging
import math
import os
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import kaldifst
import kaldilm
import numpy as np

from blasr.kaldi.formats.fst import fst_arrays
from blasr.kaldi.formats.symbols import SymbolTable, write_symbol_table
from blasr.kaldi.lang.lang_dir import Lang, load_lang
from blasr.kaldi.lang.lexicon import BOS, EOS, EPS, RESERVED_WORDS, WORD_DISAMBIG, LangError

logger = logging.getLogger("blasr")


class ArpaError(LangError):
    """A malformed ARPA file (the message names the file and line)."""


@dataclass
class ArpaInfo:
    """What an ARPA file holds and what of it was left out of G (as Kaldi's arpa2fst would leave it out)."""

    path: Path
    ngram_counts: list[int]  # per order, from the \\data\\ section
    ngrams_read: list[int] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)  # reason -> number of n-grams
    unknown_words: Counter = field(default_factory=Counter)  # word -> occurrences

    @property
    def order(self) -> int:
        return len(self.ngram_counts)

    @property
    def num_skipped(self) -> int:
        return sum(self.skipped.values())


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def _is_disambig(word: str) -> bool:
    return word.startswith("#") and word[1:].isdigit()


def check_arpa(path: str | os.PathLike, words: SymbolTable, unknown_words: str = "error") -> ArpaInfo:
    """Check an ARPA file (plain or gzipped) as Kaldi's ``ArpaFileParser`` and ``ArpaLmCompiler`` would.

    Raises :class:`ArpaError` (file, line number, line) where Kaldi stops with
    an error, and for a word missing from ``words`` unless ``unknown_words`` is
    ``"skip"``. Counts what Kaldi skips with a warning.
    """
    if unknown_words not in ("error", "skip"):
        raise ValueError(f"unknown_words must be 'error' or 'skip', got {unknown_words!r}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    for symbol in (BOS, EOS):
        if symbol not in words:
            raise ArpaError(f"{words.name or 'the word table'}: no {symbol} (arpa2fst needs it)")
    opener = gzip.open if _is_gzip(path) else open
    with opener(path, "rt", encoding="utf-8", errors="surrogateescape") as f:
        lines = iter(enumerate(f, 1))
        return _check_arpa_lines(path, lines, words, unknown_words)


def _check_arpa_lines(path: Path, lines, words: SymbolTable, unknown_words: str) -> ArpaInfo:
    number, line = 0, ""

    def error(message: str) -> ArpaError:
        return ArpaError(f"{path}:{number}: {message} [{line.strip()}]" if number else f"{path}: {message}")

    def next_line() -> str | None:
        nonlocal number, line
        for number, line in lines:
            if line.strip():
                return line.rstrip(" \t\r\n")
        number, line = 0, ""
        return None

    # \data\ section: skip anything before it, then "ngram N=count" lines.
    while (text := next_line()) is not None and text != "\\data\\":
        pass
    if text is None:
        raise ArpaError(f"{path}: no \\data\\ line: not an ARPA file")
    counts: dict[int, int] = {}
    while (text := next_line()) is not None and not text.startswith("\\"):
        fields = text.replace("=", " = ", 1).split()
        if len(fields) == 4 and fields[0] == "ngram" and fields[2] == "=":
            try:
                order, count = int(fields[1]), int(fields[3])
            except ValueError:
                raise error("cannot parse the n-gram count") from None
            if order < 1 or order in counts or count < 0:
                raise error(f"bad or repeated n-gram order {order}")
            counts[order] = count
        else:
            raise error("uninterpretable line in the \\data\\ section (expected 'ngram N=count')")
    if not counts:
        raise error("the \\data\\ section is missing or empty")
    if sorted(counts) != list(range(1, len(counts) + 1)):
        raise error(f"the \\data\\ section lists orders {sorted(counts)}, not 1..{len(counts)}")
    highest = len(counts)
    info = ArpaInfo(path, [counts[o] for o in range(1, highest + 1)])
    histories: list[set[str]] = [{""}] + [set() for _ in range(highest)]  # n-gram histories with a G state
    has_bos = False
    for order in range(1, highest + 1):
        if text != f"\\{order}-grams:":
            raise error(f"expected \\{order}-grams:")
        read = 0
        expected_next = f"\\{order + 1}-grams:" if order < highest else "\\end\\"
        while (text := next_line()) is not None:
            if text.startswith("\\"):
                if text == expected_next:
                    break
                raise error(f"unexpected directive, expected {expected_next}")
            fields = text.split()
            if not order + 1 <= len(fields) <= order + 2 or (order == highest and len(fields) != order + 1):
                what = "a log-probability and the words" + ("" if order == highest else ", maybe a back-off weight")
                raise error(f"invalid {order}-gram line: expected {what}")
            read += 1
            if read > counts[order]:
                raise error(f"the \\data\\ section promises {counts[order]} {order}-grams, the file has more")
            for value in fields[:1] + fields[order + 1 :]:
                try:
                    float(value)
                except ValueError:
                    raise error(f"{value!r} is not a number") from None
            ngram = fields[1 : order + 1]
            unknown = [w for w in ngram if w not in words]
            for word in ngram:
                if word == EPS or _is_disambig(word):
                    raise error(f"word {word!r} is not allowed in an ARPA file")
            if unknown:
                if unknown_words == "error":
                    raise error(
                        f"word {unknown[0]!r} is not in {words.name or 'the word table'} "
                        "(add it to the lexicon, or pass unknown_words='skip' to leave such n-grams out as Kaldi does)"
                    )
                info.unknown_words.update(unknown)
                info.skipped["word not in words.txt"] += 1
                continue
            if any((i > 0 and w == BOS) or (i + 1 < order and w == EOS) for i, w in enumerate(ngram)):
                info.skipped["<s> or </s> misplaced"] += 1
                continue
            if " ".join(ngram[:-1]) not in histories[order - 1]:
                info.skipped["no (n-1)-gram prefix"] += 1
                continue
            if ngram[-1] != EOS:  # ArpaLmCompiler: a state for the n-gram (for the highest order: its tail)
                key = ngram if order < highest else ngram[1:]
                histories[len(key)].add(" ".join(key))
            has_bos |= order == 1 and ngram[0] == BOS
        info.ngrams_read.append(read)
    if text != "\\end\\":
        raise error("expected \\end\\ after the last n-gram section")
    if not has_bos:
        raise ArpaError(f"{path}: no <s> unigram: the grammar would have no start state")
    return info


def arpa_to_fst(
    arpa: str | os.PathLike,
    words: SymbolTable,
    unknown_words: str = "error",
    words_path: str | os.PathLike | None = None,
) -> tuple[Any, ArpaInfo]:
    """G as a ``kaldifst.StdVectorFst`` from an ARPA file (plain or gzipped); also the :class:`ArpaInfo`.

    ``words_path`` is the ``words.txt`` that ``words`` was read from (else a
    copy is written for kaldilm).
    """
    info = check_arpa(arpa, words, unknown_words)
    if info.num_skipped:
        unknown = ", ".join(w for w, _ in info.unknown_words.most_common(10))
        logger.warning(
            "%s: %d n-grams left out of G (%s)%s",
            arpa,
            info.num_skipped,
            ", ".join(f"{reason}: {n}" for reason, n in info.skipped.items()),
            f"; unknown words: {unknown}" if unknown else "",
        )

    with tempfile.TemporaryDirectory(prefix="blasr-g-") as tmp:
        source = Path(arpa)
        if _is_gzip(source):
            plain = Path(tmp) / "lm.arpa"
            with gzip.open(source, "rb") as f, open(plain, "wb") as out:
                shutil.copyfileobj(f, out)
            source = plain
        if words_path is None:
            words_path = write_symbol_table(words, Path(tmp) / "words.txt")
        output = Path(tmp) / "G.fst"
        kaldilm.arpa2fst(
            input_arpa=str(source),
            output_fst=str(output),
            disambig_symbol=WORD_DISAMBIG,
            read_symbol_table=str(words_path),
            max_arpa_warnings=0,  # counted and logged above
        )
        fst = kaldifst.StdVectorFst.read(str(output))
    if fst is None or fst.start < 0:
        raise ArpaError(f"{arpa}: arpa2fst produced no grammar")
    kaldifst.arcsort(fst, sort_type="ilabel")
    return fst, info


def _vocabulary_ids(words: SymbolTable, vocabulary: Iterable[str] | None) -> list[int]:
    if vocabulary is None:
        return [i for w, i in words if w not in RESERVED_WORDS and not _is_disambig(w)]
    ids = []
    for word in vocabulary:
        if word not in words or word in RESERVED_WORDS or _is_disambig(word):
            raise LangError(f"word {word!r} is not a word of {words.name or 'the word table'}")
        ids.append(words.id(word))
    return ids


def word_loop_fst(words: SymbolTable, vocabulary: Iterable[str] | None = None) -> Any:
    """One state, final, a loop arc per word: each word and the end have probability ``1 / (V + 1)``."""

    ids = sorted(set(_vocabulary_ids(words, vocabulary)))
    if not ids:
        raise LangError("the word loop needs at least one word")
    cost = math.log(len(ids) + 1)
    fst = kaldifst.StdVectorFst()
    fst.start = fst.add_state()
    for word in ids:
        fst.add_arc(0, kaldifst.StdArc(word, word, cost, 0))
    fst.set_final(0, cost)
    return fst


def sentences_fst(sentences: Sequence[Sequence[str]], words: SymbolTable) -> Any:
    """An acceptor of exactly these word sequences, as a prefix tree with probabilities from their counts.

    Deterministic and stochastic: at every state the arcs and the final
    weight are ``-log`` of the fraction of sentences going each way.
    """

    if not sentences:
        raise LangError("no sentences for the grammar")
    encoded = []
    for index, sentence in enumerate(sentences):
        sentence = sentence.split() if isinstance(sentence, str) else list(sentence)
        for word in sentence:
            if word not in words or word in RESERVED_WORDS or _is_disambig(word):
                raise LangError(f"sentence {index}: word {word!r} is not in {words.name or 'the word table'}")
        encoded.append(tuple(words.id(w) for w in sentence))
    # Count the sentences through each prefix (trie node) and ending there.
    through: Counter = Counter()
    ending: Counter = Counter(encoded)
    for sentence in encoded:
        for end in range(len(sentence) + 1):
            through[sentence[:end]] += 1
    fst = kaldifst.StdVectorFst()
    state_of: dict[tuple[int, ...], int] = {}
    for prefix in sorted(through, key=len):  # parents before children; the root () first
        state_of[prefix] = state = fst.add_state()
        if prefix:
            cost = -math.log(through[prefix] / through[prefix[:-1]])
            fst.add_arc(state_of[prefix[:-1]], kaldifst.StdArc(prefix[-1], prefix[-1], cost, state))
        if ending[prefix]:
            fst.set_final(state, -math.log(ending[prefix] / through[prefix]))
    fst.start = state_of[()]
    kaldifst.arcsort(fst, sort_type="ilabel")
    return fst


def check_g(g: Any, words: SymbolTable) -> None:
    """A grammar's labels must be words of ``words`` (``#0`` only as the input of a back-off arc)."""

    if g.start < 0:
        raise LangError("the grammar has no start state")
    arrays = fst_arrays(g)
    sources = arrays.source_states()
    ilabels, olabels = arrays.arcs["ilabel"], arrays.arcs["olabel"]
    known = np.array(sorted(i for _, i in words))
    table = words.name or "words.txt"
    for labels, side in ((ilabels, "input"), (olabels, "output")):
        bad = ~np.isin(labels, known)
        if bad.any():
            where = int(np.argmax(bad))
            raise LangError(f"grammar state {sources[where]}: {side} label {labels[where]} is not in {table}")
    for symbol in (BOS, EOS):
        if symbol in words and ((ilabels == words.id(symbol)) | (olabels == words.id(symbol))).any():
            raise LangError(f"{symbol} must not appear in G (it is epsilon there; arpa2fst removes it)")
    backoff = words.id(WORD_DISAMBIG) if WORD_DISAMBIG in words else -1
    if (olabels == backoff).any():
        raise LangError(f"{WORD_DISAMBIG} on the output side of the grammar (it only reads it on back-off arcs)")
    odd = (ilabels != olabels) & ~((ilabels == backoff) & (olabels == 0))
    if odd.any():
        where = int(np.argmax(odd))
        raise LangError(
            f"grammar state {sources[where]}: arc {ilabels[where]}:{olabels[where]} is neither an acceptor arc "
            f"nor a {WORD_DISAMBIG} back-off"
        )


def write_g(g: Any, lang: Lang | str | os.PathLike, check: bool = True) -> Path:
    """Check ``g`` against the lang directory's ``words.txt`` and write it as ``G.fst`` (arcs sorted by input)."""

    lang = lang if isinstance(lang, Lang) else load_lang(lang)
    if check:
        check_g(g, lang.words)
    g = g.copy()
    kaldifst.arcsort(g, sort_type="ilabel")
    g.write(str(lang.G_path))
    return lang.G_path


def format_lm(lang_dir: str | os.PathLike, arpa: str | os.PathLike, unknown_words: str = "error") -> ArpaInfo:
    """Kaldi's ``utils/format_lm.sh`` into an existing lang directory: ``G.fst`` from an ARPA file."""
    lang = load_lang(lang_dir)
    g, info = arpa_to_fst(arpa, lang.words, unknown_words, words_path=lang.lang_dir / "words.txt")
    write_g(g, lang, check=False)  # arpa2fst labels come from words.txt itself
    return info
