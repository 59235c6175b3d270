"""Decode a directory's worth of score matrices and score it, as Kaldi's ``steps/decode.sh`` + ``score.sh``.

:func:`decode_and_score` reads per-utterance log-likelihood matrices (the
export's ``loglikes.scp``, any Kaldi ``ark:``/``scp:`` rspecifier), decodes them
on an HCLG graph and writes into ``out_dir``:

* ``text``            1-best words per utterance (Kaldi ``text`` format);
* ``wer``             the ``compute-wer`` line, when references are given;
* ``per_utt``         Kaldi's ``wer_per_utt_details.pl`` lines;
* ``wer_LMWT_WIP``    one line per setting, and ``best_wer``, with ``sweep=True``;
* ``lat.N.gz``        with ``lattices=True``: the lattices, one archive per job (``N`` = 1..nj,
                      contiguous shares of the utterances, as ``steps/decode.sh``): each utterance is
                      decoded once and the sweep rescores them; ``gunzip -c lat.1.gz | lattice-copy
                      ark:- ...`` reads them;
* ``ctm``             word times of the 1-best at the chosen setting (``utt 1 start dur word``, or
                      ``file channel ...`` with a ``segments`` file), when the graph directory has
                      ``phones/word_boundary.int`` (a lang with position-dependent phones);
* ``failed``          utterances that could not be decoded (also counted in the summary).

Split across a launcher (``python -m blasr.decode --cmd``): job J decodes share J under every setting into
``out_dir/splitN/J/`` (:func:`write_job_decodings`: per setting a Kaldi ``text``, the word-ids, transition-ids
and pdfs as Kaldi int-vector archives, the scores and times) and writes ``lat.J.gz`` itself; the driver reads
the parts back (:func:`read_job_decodings`) and scores and writes as one process does.

:func:`read_best_setting` reads back the LM weight and penalty a sweep chose (``best_wer``).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from blasr.kaldi.decoding.decode import (
    DecodeOptions,
    Decoding,
    Hypothesis,
    Matrices,
    decode_many,
    job_share,
    sweep,
    sweep_grid,
)
from blasr.kaldi.formats.io import read_int_vectors, write_int_vectors
from blasr.kaldi.formats.lattice import write_lattices
from blasr.kaldi.formats.model import TransitionModel, as_transition_model
from blasr.kaldi.formats.symbols import read_symbol_table
from blasr.kaldi.lang.lang_dir import read_word_boundary
from blasr.kaldi.scoring.ctm import WordAlignmentError, word_alignment, write_ctm
from blasr.kaldi.scoring.wer import ErrorCounts, per_utterance_details, read_text, score, write_text
from blasr.utils.files import atomic_write_text
from blasr.utils.jobs import contiguous_shares

logger = logging.getLogger("blasr")


@dataclass
class DecodeResult:
    decoding: Decoding
    counts: ErrorCounts | None  # None without references
    setting: tuple[float, float] | None  # (LM weight, WIP) chosen by a sweep
    lattices: list[Path]  # lat.N.gz (none when decoded without lattices)
    ctm: Path | None  # None without word boundaries


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
    lattices: bool = False,
    segments: str | os.PathLike | None = None,
    job: int | None = None,
    from_jobs: bool = False,
) -> DecodeResult | None:
    """Decode ``loglikes`` on ``graph`` (HCLG.fst or its directory) with ``model``'s transition model.

    With ``sweep_lm_weights`` (needs ``refs``), every LM weight x penalty is
    decoded and the best setting is kept, as ``score.sh``; else ``options`` are used. Every setting is a
    search of its own (kaldi-hmm-gmm's lattice-faster decoder); with ``lattices=True`` each utterance is
    decoded once into a lattice instead (``options``' acoustic scale and beams, kaldi-decoder's lattice
    decoder), the sweep rescores the lattices and they are written as ``lat.N.gz``.
    ``num_jobs`` processes share the utterances (the graph must then be a file; job J logs to
    ``out_dir/log/decode.J.log``). ``segments`` maps the CTM's
    utterances to recordings (``convert_ctm.pl``).

    With ``job`` J (a launcher's job) only share J of ``num_jobs`` is decoded, under every setting, into
    ``out_dir/splitN/J/`` and ``out_dir/lat.J.gz``, and None is returned; with ``from_jobs`` the jobs' parts
    are read back (then removed) instead of decoding: the same outputs as one process writes.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    options = options or DecodeOptions()
    references = read_text(refs) if refs is not None else None
    sweep_options = dict(acoustic_scale=options.acoustic_scale, beam=options.beam,
                         lattice_beam=options.lattice_beam, max_active=options.max_active)
    if sweep_lm_weights:
        _, settings, lattice_options = sweep_grid(sweep_lm_weights, sweep_penalties, **sweep_options)
    else:
        settings, lattice_options = [options], DecodeOptions(**{**vars(options), "word_insertion_penalty": 0.0})
    split = out / f"split{num_jobs}"
    if job is not None:
        share = job_share(loglikes, job, num_jobs)
        decoded = (decode_many(share, graph, model, words, settings, 1, lattice_options, lattices) if len(share)
                   else [Decoding() for _ in settings])
        write_job_decodings(decoded, split / str(job))
        if lattices:
            _write_lattices(decoded[0], out, 1, out / f"lat.{job}.gz")
        return None
    decoded = read_job_decodings(split, num_jobs, len(settings)) if from_jobs else None
    setting = None
    if sweep_lm_weights:
        if references is None:
            raise ValueError("a sweep needs reference transcripts (refs)")
        result = sweep(loglikes, references, graph, model, words, lm_weights=sweep_lm_weights,
                       word_insertion_penalties=sweep_penalties, ignore=ignore, num_jobs=num_jobs,
                       rescore=lattices, log_dir=out / "log", decoded=decoded, **sweep_options)
        lines = result.kaldi_lines()
        for line in lines:
            name = line.rsplit(" ", 1)[1]
            (out / name).write_text(line + "\n")
        decoding, setting = result.decodings[result.best], result.best
        (out / "best_wer").write_text(result.best_counts.kaldi_line(str(out / f"wer_{setting[0]:g}_{setting[1]:g}")) + "\n")
    else:
        (decoding,) = decoded or decode_many(loglikes, graph, model, words, [options], num_jobs, lattice_options,
                                             lattices, out / "log")
        logger.info("%s", decoding.summary())
    decoding.write_text(out / "text")
    transition_model = as_transition_model(model)
    if from_jobs:  # the jobs wrote lat.J.gz
        lattice_files = [out / f"lat.{j}.gz" for j in range(1, num_jobs + 1)] if lattices else []
    else:
        lattice_files = _write_lattices(decoding, out, num_jobs) if lattices else []
    ctm = _write_ctm(decoding, graph, transition_model, out / "ctm", segments, words)
    (out / "failed").write_text("".join(f"{utt}\n" for utt in decoding.failed))  # each pass logged its summary
    counts = None
    if references is not None:
        scored = score(references, decoding.hyps, ignore)
        counts = scored.total
        (out / "wer").write_text(counts.kaldi_line() + "\n")
        (out / "per_utt").write_text("\n".join(per_utterance_details(scored)) + "\n")
        if scored.missing:
            logger.warning("%d reference utterances have no hypothesis (scored as deletions)", len(scored.missing))
    return DecodeResult(decoding, counts, setting, lattice_files, ctm)


def read_best_setting(decode_dir: str | os.PathLike) -> tuple[float, float]:
    """(LM weight, penalty) that a sweep chose: the ``wer_LMWT_WIP`` name in ``DIR/best_wer``."""
    path = Path(decode_dir) / "best_wer"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file (decode that set with --sweep first)")
    name = path.read_text().split()[-1].rsplit("/", 1)[-1]
    try:
        _, lm_weight, penalty = name.split("_")
        return float(lm_weight), float(penalty)
    except ValueError:
        raise ValueError(f"{path}: expected a line ending in wer_LMWT_WIP, got {name!r}") from None


def remove_lattices(out_dir: str | os.PathLike) -> None:
    """Remove ``out_dir``'s ``lat.N.gz`` of an earlier decoding (before a launcher's jobs write theirs)."""
    for old in Path(out_dir).glob("lat.*.gz"):
        old.unlink()


def write_job_decodings(decoded: Sequence[Decoding], part: Path) -> None:
    """A job's decodings, one per setting I, into ``part``: ``text.I`` (Kaldi text), ``word_ids.I.gz``,
    ``tids.I.gz``, ``pdfs.I.gz`` (Kaldi int-vector archives) and ``decoded.I.json`` (every utterance in order:
    its score, frames, seconds and partial flag, or null when it failed)."""
    part.mkdir(parents=True, exist_ok=True)
    for index, decoding in enumerate(decoded):
        hypotheses = decoding.hypotheses
        write_text(decoding.hyps, part / f"text.{index}")
        for name in ("word_ids", "tids", "pdfs"):
            write_int_vectors({utt: getattr(h, name) for utt, h in hypotheses.items()}, part / f"{name}.{index}.gz")
        rows = [[utt, [h.score, h.num_frames, h.seconds, h.partial]] for utt, h in hypotheses.items()]
        atomic_write_text(part / f"decoded.{index}.json", json.dumps(
            {"hypotheses": rows, "failed": decoding.failed}) + "\n")


def read_job_decodings(split: Path, num_jobs: int, num_settings: int) -> list[Decoding]:
    """The decodings :func:`write_job_decodings` wrote for jobs 1..``num_jobs`` under ``split``, each setting's
    jobs joined in job order (the shares are contiguous: the utterance order of one process); ``split`` removed."""
    decoded = [Decoding() for _ in range(num_settings)]
    for job in range(1, num_jobs + 1):
        part = split / str(job)
        if not (part / f"decoded.{num_settings - 1}.json").is_file():
            raise FileNotFoundError(f"job {job} of {num_jobs} left no decodings in {part}: see its log "
                                    f"({split.parent / 'log' / f'decode.{job}.log'}) and run again")
        for index, decoding in enumerate(decoded):
            texts = read_text(part / f"text.{index}")
            arrays = {name: read_int_vectors(part / f"{name}.{index}.gz") for name in ("word_ids", "tids", "pdfs")}
            saved = json.loads((part / f"decoded.{index}.json").read_text())
            for utt, (score_, num_frames, seconds, partial) in saved["hypotheses"]:
                decoding.add(Hypothesis(utt, texts.get(utt, []), arrays["word_ids"][utt].tolist(),
                                        arrays["pdfs"][utt], score_, num_frames, seconds, partial,
                                        arrays["tids"][utt]), utt)
            decoding.failed += saved["failed"]
    shutil.rmtree(split)
    return decoded


def _write_lattices(decoding: Decoding, out: Path, num_jobs: int, path: Path | None = None) -> list[Path]:
    """``lat.N.gz``: the utterances in contiguous shares, one archive per job (the old ones removed); with
    ``path``, all of them into that one file (a launcher's job J: ``lat.J.gz``)."""
    utterances = [utt for utt, h in decoding.hypotheses.items() if h.lattice is not None]
    if path is not None:
        write_lattices(path, {utt: decoding.hypotheses[utt].lattice for utt in utterances})
        return [path]
    remove_lattices(out)
    paths = []
    for job, share in enumerate(contiguous_shares(utterances, max(1, min(num_jobs, len(utterances)))), 1):
        path = out / f"lat.{job}.gz"
        write_lattices(path, {utt: decoding.hypotheses[utt].lattice for utt in share})
        paths.append(path)
    logger.info("wrote %d lattices to %s", len(utterances), ", ".join(p.name for p in paths))
    return paths


def _write_ctm(decoding: Decoding, graph: str | os.PathLike, transition_model: TransitionModel, path: Path,
               segments: str | os.PathLike | None, words: str | os.PathLike | None) -> Path | None:
    """The CTM of the hypotheses (their transition-ids and words), if the graph's lang has word boundaries."""
    graph_dir = Path(graph) if Path(graph).is_dir() else Path(graph).parent
    boundary_file = graph_dir / "phones" / "word_boundary.int"
    if not boundary_file.is_file():
        logger.info("no CTM: %s has no phones/word_boundary.int (a lang without position-dependent phones)",
                    graph_dir)
        return None
    boundary = read_word_boundary(boundary_file)
    spans, failed = {}, []
    for utt, hypothesis in decoding.hypotheses.items():
        try:
            spans[utt] = word_alignment(hypothesis.tids, hypothesis.word_ids, transition_model, boundary,
                                        utterance=utt)
        except WordAlignmentError as error:
            logger.warning("%s", error)
            failed.append(utt)
    write_ctm(path, spans, read_symbol_table(words or graph_dir / "words.txt"), segments=segments)
    logger.info("wrote %s (%d utterances%s)", path, len(spans),
                f"; {len(failed)} could not be word-aligned and are left out" if failed else "")
    return path

