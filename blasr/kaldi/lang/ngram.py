"""N-gram language models from text, in ARPA format: kaldingram (Kneser-Ney as SRILM computes it).

* :func:`train_arpa` counts the n-grams of a text (one sentence a line,
  ``<s>`` / ``</s>`` added) and writes the back-off, interpolation-free
  Kneser-Ney model that SRILM's ``ngram-count -order N -kn-modify-counts-at-end
  -ukndiscount -gt1min 0 ... -gtNmin 0`` writes (kaldingram's ``train``);
  optionally entropy-pruned afterwards (``ngram -prune THRESHOLD``, kaldingram's
  ``prune``).
* :func:`perplexity` is ``ngram -ppl`` on held-out sentences (kaldingram's
  ``ppl``): ``ppl`` counts one ``</s>`` per sentence, ``ppl1`` does not.

G.fst is made from the ARPA file by :mod:`blasr.kaldi.lang.grammar`
(``python -m blasr.format_lm``). The command line is ``python -m blasr.train_lm``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from kaldingram import ppl as kaldingram_ppl
from kaldingram import prune as kaldingram_prune
from kaldingram import train as kaldingram_train

from blasr.kaldi.lang.lexicon import LangError

logger = logging.getLogger("blasr")


@dataclass
class LmInfo:
    """What :func:`train_arpa` made: the n-gram counts per order, before and after pruning."""

    path: Path
    order: int
    sentences: int
    words: int
    ngrams: list[int]
    ngrams_before_pruning: list[int] = field(default_factory=list)
    prune_threshold: float | None = None


def _ngram_counts(arpa: Path) -> list[int]:
    counts = []
    with open(arpa, encoding="utf-8") as f:
        for line in f:
            if line.startswith("ngram "):
                counts.append(int(line.split("=")[1]))
            elif line.startswith("\\1-grams"):
                break
    return counts


def train_arpa(text: str | os.PathLike, arpa: str | os.PathLike, order: int = 3,
               prune_threshold: float | None = None) -> LmInfo:
    """Train a Kneser-Ney ``order``-gram on ``text`` (one sentence a line) into ``arpa``; with
    ``prune_threshold``, entropy-prune it (relative perplexity change, SRILM's ``-prune``)."""
    text, arpa = Path(text), Path(arpa)
    if not 1 <= order <= 5:
        raise LangError(f"n-gram order {order}: kaldingram trains orders 1..5")
    if not text.is_file():
        raise LangError(f"{text}: no such file (the LM training text)")
    lines = [line.split() for line in text.read_text(encoding="utf-8").splitlines()]
    lines = [words for words in lines if words]
    if not lines:
        raise LangError(f"{text}: no sentence to train on")
    arpa.parent.mkdir(parents=True, exist_ok=True)
    tmp = arpa.with_name(arpa.name + ".tmp")
    counts = kaldingram_train.NgramCounts(order)
    for words in lines:
        counts.add_raw_counts_from_line(" ".join(words))
    counts.cal_discounting_constants()
    counts.cal_f()
    counts.cal_bow()
    with open(tmp, "w", encoding="utf-8") as f:
        counts.print_as_arpa(fout=f)
    info = LmInfo(path=arpa, order=order, sentences=len(lines), words=sum(len(w) for w in lines),
                  ngrams=_ngram_counts(tmp))
    if prune_threshold is not None and prune_threshold > 0:
        parser = kaldingram_prune.ArpaParser()
        model = parser.loadf(tmp, encoding="utf-8")[0]
        kaldingram_prune.prune(model, prune_threshold, 1)
        parser.dumpf(model, tmp, encoding="utf-8")
        info.ngrams_before_pruning, info.ngrams = info.ngrams, _ngram_counts(tmp)
        info.prune_threshold = prune_threshold
    os.replace(tmp, arpa)
    logger.info("%s: %d-gram Kneser-Ney LM of %d sentences (%d words): n-grams %s%s", arpa, order, info.sentences,
                info.words, info.ngrams,
                f" after pruning at {prune_threshold:g} (before: {info.ngrams_before_pruning})"
                if info.prune_threshold else "")
    return info


def perplexity(arpa: str | os.PathLike, sentences: Iterable[str]) -> dict:
    """SRILM's ``ngram -ppl`` numbers of ``arpa`` on ``sentences`` (strings of words): ``num_sentences``,
    ``num_words``, ``num_oov``, ``num_zeroprobs``, ``logprob`` (base 10), ``ppl``, ``ppl1``."""
    model = kaldingram_prune.ArpaParser().loadf(Path(arpa), encoding="utf-8")[0]
    return kaldingram_ppl.compute_ppl(model, list(sentences))
