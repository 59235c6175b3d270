"""Decode a directory's worth of score matrices and score it, as Kaldi's ``steps/decode.sh`` + ``score.sh``.

:func:`decode_and_score` reads per-utterance log-likelihood matrices (the
export's ``loglikes.scp``, any Kaldi ``ark:``/``scp:`` rspecifier), decodes them
on an HCLG graph and writes into ``out_dir``:

* ``text``            1-best words per utterance (Kaldi ``text`` format);
* ``wer``             the ``compute-wer`` line, when references are given;
* ``per_utt``         Kaldi's ``wer_per_utt_details.pl`` lines;
* ``wer_LMWT_WIP``    one line per setting, and ``best_wer``, with ``sweep=True``;
* ``failed``          utterances that could not be decoded (also counted in the summary).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from blasr.kaldi.decoding.decode import DecodeOptions, Decoding, Matrices, decode_many, sweep
from blasr.kaldi.scoring.wer import ErrorCounts, per_utterance_details, read_text, score

logger = logging.getLogger("blasr")


@dataclass
class DecodeResult:
    decoding: Decoding
    counts: ErrorCounts | None  # None without references
    setting: tuple[float, float] | None  # (LM weight, WIP) chosen by a sweep


def decode_and_score(
    loglikes: Matrices,
    graph: str | os.PathLike,
    model: str | os.PathLike,
    out_dir: str | os.PathLike,
    refs: str | os.PathLike | None = None,
    words: str | os.PathLike | None = None,
    options: DecodeOptions | None = None,
    sweep_lm_weights: Sequence[float] | None = None,
    sweep_penalties: Sequence[float] = (0.0, 0.5, 1.0),
    ignore: Iterable[str] = (),
    num_jobs: int = 1,
) -> DecodeResult:
    """Decode ``loglikes`` on ``graph`` (HCLG.fst or its directory) with ``model``'s transition model.

    With ``sweep_lm_weights`` (needs ``refs``), every LM weight x penalty is
    decoded and the best setting is kept, as ``score.sh``; else ``options`` are used.
    ``num_jobs`` processes share the utterances (the graph must then be a file).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    options = options or DecodeOptions()
    references = read_text(refs) if refs is not None else None
    setting = None
    if sweep_lm_weights:
        if references is None:
            raise ValueError("a sweep needs reference transcripts (refs)")
        result = sweep(loglikes, references, graph, model, words, lm_weights=sweep_lm_weights,
                       word_insertion_penalties=sweep_penalties, ignore=ignore,
                       num_jobs=num_jobs, beam=options.beam, lattice_beam=options.lattice_beam,
                       max_active=options.max_active)
        lines = result.kaldi_lines()
        for line in lines:
            name = line.rsplit(" ", 1)[1]
            (out / name).write_text(line + "\n")
        decoding, setting = result.decodings[result.best], result.best
        (out / "best_wer").write_text(result.best_counts.kaldi_line(str(out / f"wer_{setting[0]:g}_{setting[1]:g}")) + "\n")
    else:
        (decoding,) = decode_many(loglikes, graph, model, words, [options], num_jobs)
        logger.info("%s", decoding.summary())
    decoding.write_text(out / "text")
    (out / "failed").write_text("".join(f"{utt}\n" for utt in decoding.failed))  # each pass logged its summary
    counts = None
    if references is not None:
        scored = score(references, decoding.hyps, ignore)
        counts = scored.total
        (out / "wer").write_text(counts.kaldi_line() + "\n")
        (out / "per_utt").write_text("\n".join(per_utterance_details(scored)) + "\n")
        if scored.missing:
            logger.warning("%d reference utterances have no hypothesis (scored as deletions)", len(scored.missing))
    return DecodeResult(decoding, counts, setting)
