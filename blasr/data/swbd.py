"""Switchboard-1 (+ Fisher) training data, Hub5'00 (eval2000), RT-02/03 and the ms98 lexicon, the Kaldi way.

Stage 0 of ``recipes/swbd/run.sh``. lhotse's recipes read the LDC corpora
(:func:`lhotse.recipes.prepare_switchboard`, ``prepare_fisher_english``,
``prepare_eval2000``; RT is :mod:`blasr.data.rt`); this module turns their
manifests into what Kaldi's ``egs/swbd/s5c`` makes, so that a Kaldi
experiment's alignments join and its scores compare:

* utterance ids ``sw02001-A_000098-001156`` (:mod:`blasr.data.kaldi_ids`;
  lhotse's own ids such as ``sw2001A-ms98-a-0002`` are replaced), one cut per
  conversation side and utterance at 8 kHz (:mod:`blasr.data.conversations`);
* Kaldi's text normalisation (:mod:`blasr.data.text_norm`); utterances left
  without words are dropped (``[silence]``-only segments), and counted;
* ``train_dev``: the first ``train_dev_size`` (4000) Switchboard utterances in
  id order; ``train_nodup``: the rest (plus Fisher) with at most about
  ``max_duplicates`` (300) copies of any transcript, exactly as
  ``utils/subset_data_dir.sh --first/--last`` and ``utils/data/remove_dup_utts.sh 300``;
* eval2000 segmented by the stm (``hub5e00.english.000405.stm``) as
  ``local/eval2000_data_prep.sh`` (ids from the stm times, segments extended by
  0.1 s, ``IGNORE_TIME_SEGMENT_IN_SCORING`` left out), with the stm and glm
  copied for scoring; without the stm, lhotse's segments of the LDC ``.txt``
  transcripts;
* ``dict/``: Kaldi's dict directory from ``sw-ms98-dict.text``, as
  ``local/swbd1_prepare_dict.sh`` (silence phones ``sil spn nsn lau``; words
  ``!sil``, ``[vocalized-noise]``, ``[noise]``, ``[laughter]``, ``<unk>``
  added; words mapped with ``swbd1_map_words.pl``; ``i ay`` added). Not done:
  Kaldi's ``dict.patch`` (a few corrected entries), ``MSU_single_letter.txt``
  and the acronym mapping.

Expected inputs (directories are searched, so the unpacking layout may vary):

=========================  ==============================================================
``swbd_dir``               LDC97S62: ``**/sw0NNNN.sph`` (2-channel, 8 kHz)
``swbd_transcripts``       ``swb_ms98_transcriptions/NN/NNNN/swNNNN[AB]-ms98-a-trans.text``
                           and ``sw-ms98-dict.text`` (the ISIP release)
``fisher_dir``             holds LDC2004S13 and/or LDC2005S13 (``fe_03_p1_sph*/audio/NNN/*.sph``)
``fisher_transcripts``     holds LDC2004T19 and/or LDC2005T19 (``data/trans/NNN/*.txt``,
                           ``doc/*_calldata.tbl``)
``eval2000_dir``           LDC2002S09: ``hub5e_00/english/{sw,en}_NNNN.sph`` (or ``english/``)
``eval2000_transcripts``   LDC2002T43: ``[2000_hub5_eng_eval_tr/]reference/english/*.txt``,
                           ``reference/hub5e00.english.000405.stm``, ``reference/en20000405_hub5.glm``
=========================  ==============================================================

Output (``out_dir``): ``train/`` (everything), ``train_dev/``, ``train_nodup/``,
``eval2000/`` (+ ``stm``, ``glm``), ``rt03/``, ``rt02/``, ``dict/``; each data set
as :func:`blasr.data.conversations.write_part` writes it, with a
``.completed`` marker: the same call again reuses it.

The command line is ``python -m blasr.prepare_swbd`` (:mod:`blasr.prepare_swbd`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Sequence

from lhotse import RecordingSet
from lhotse.recipes import prepare_eval2000 as lhotse_prepare_eval2000
from lhotse.recipes import prepare_fisher_english, prepare_switchboard
from lhotse.utils import fastcopy

from blasr.data.conversations import (
    Segment,
    completed,
    extend_segments,
    load_part,
    read_stm,
    resource_recordings,
    write_part,
    write_stm,
)
from blasr.data.kaldi_ids import ROUND, TRUNCATE, centiseconds, utterance_id
from blasr.data.rt import prepare_rt
from blasr.data.sphere import sphere_info_backend
from blasr.data.text_norm import (
    LAUGHTER,
    NOISE,
    VOCALIZED_NOISE,
    map_swbd_word,
    normalize_fisher_words,
    normalize_swbd_words,
    plain_reference,
)
from blasr.utils.errors import BlasrError

logger = logging.getLogger("blasr")

FORMAT_VERSION = 2  # 2: recordings read without sph2pipe decode through blasr.data.sphere.write_wav
TRAIN_DEV_SIZE = 4000
MAX_DUPLICATES = 300
EVAL2000_STM = "hub5e00.english.000405.stm"
EVAL2000_GLM = "en20000405_hub5.glm"
MS98_DICT = "sw-ms98-dict.text"
SILENCE_PHONES = ("sil", "spn", "nsn", "lau")
EXTRA_WORDS = (("!sil", "sil"), (VOCALIZED_NOISE, "spn"), (NOISE, "nsn"), (LAUGHTER, "lau"), ("<unk>", "spn"))
OOV = "<unk>"


class CorpusError(BlasrError, RuntimeError):
    """An input corpus is missing or not in the expected layout; the message names what is missing."""


def _require_dir(path: str | os.PathLike | None, what: str) -> Path:
    if path is None or not Path(path).is_dir():
        raise CorpusError(f"{what}: {path} is not a directory")
    return Path(path)


# -- Switchboard-1 ----------------------------------------------------------------------------------


def switchboard_segments(audio_dir, transcripts_dir) -> tuple[dict, list[Segment], dict]:
    """Recordings, Kaldi-normalised segments and counts of Switchboard-1 via lhotse's recipe."""


    audio_dir = _require_dir(audio_dir, "Switchboard audio (LDC97S62, --swbd-dir)")
    transcripts_dir = _require_dir(transcripts_dir, "Switchboard ms98 transcripts (--swbd-transcripts)")
    if not any(transcripts_dir.rglob("*trans.text")):
        raise CorpusError(f"{transcripts_dir}: no *-ms98-a-trans.text files (swb_ms98_transcriptions/NN/NNNN/)")
    try:
        with sphere_info_backend():
            manifests = prepare_switchboard(audio_dir, transcripts_dir, omit_silence=False, absolute_paths=True)
    except KeyError as error:
        name = error.args[0]
        raise CorpusError(f"{audio_dir}: audio {name[:-1]} has no transcript {name}-ms98-a-trans.text "
                          f"under {transcripts_dir}") from None
    recordings = {r.id: r for r in resource_recordings(manifests["recordings"])}
    segments, counts = [], {"silence_only": 0, "segments": 0}
    for supervision in manifests["supervisions"]:
        counts["segments"] += 1
        words = normalize_swbd_words(supervision.text.split())
        if not words:
            counts["silence_only"] += 1  # Kaldi: awk '{if (NF > 1) print}'
            continue
        # swbd1_data_prep.sh: name=substr($1,1,6), "sw" -> "sw0", side=substr($1,7,1), times rounded
        name = supervision.id[:6].replace("sw", "sw0", 1)
        side = supervision.id[6]
        start = supervision.start
        end = round(supervision.start + supervision.duration, 6)  # lhotse stores the duration; ms98 has 6 digits
        kaldi_id = utterance_id(name, side, start, end, ROUND)
        # Kaldi's segments file: the id's centiseconds / 100
        segments.append(Segment(kaldi_id, supervision.recording_id, side,
                                centiseconds(start) / 100, centiseconds(end) / 100, words))
    return recordings, segments, counts


def split_train_dev(segments: Sequence[Segment], train_dev_size: int) -> tuple[list[Segment], list[Segment]]:
    """``(train_dev, train_nodev)``: the first ``train_dev_size`` utterances in Kaldi id order, and the rest."""
    ordered = sorted(segments, key=lambda s: s.id)
    return ordered[:train_dev_size], ordered[train_dev_size:]


def remove_duplicate_utterances(segments: Sequence[Segment], max_count: int) -> list[Segment]:
    """``utils/data/remove_dup_utts.sh max_count``: of a transcript occurring ``n >= max_count`` times, each
    copy is kept with probability ``max_count / n`` drawn from Kaldi's own deterministic generator
    (``k = (k + 103349) % 71147``), so the same utterances as Kaldi's are kept; rarer transcripts all stay."""
    ordered = sorted(segments, key=lambda s: s.id)
    counts: dict[str, int] = {}
    for segment in ordered:
        text = " ".join(segment.words)
        counts[text] = counts.get(text, 0) + 1
    kept, k = [], 0
    for segment in ordered:
        n = counts[" ".join(segment.words)]
        if n < max_count:
            kept.append(segment)
            continue
        k = (k + 103349) % 71147  # evaluated only when n >= max_count, as Perl's short-circuit ||
        if k / 71147 < max_count / n:
            kept.append(segment)
    return kept


# -- Fisher -----------------------------------------------------------------------------------------

FISHER_AUDIO = ("LDC2004S13", "LDC2005S13")
FISHER_TRANSCRIPTS = ("LDC2004T19", "LDC2005T19")


def fisher_segments(audio_dir, transcripts_dir, work_dir: Path) -> tuple[dict, list[Segment], dict]:
    """Recordings and Kaldi-normalised segments of Fisher English via lhotse's recipe (ids as Kaldi's
    ``fisher_data_prep.sh``: ``fe_03_00001-A-000098-001156``, truncated centiseconds)."""


    audio_dir = _require_dir(audio_dir, "Fisher audio (--fisher-dir)")
    transcripts_dir = _require_dir(transcripts_dir, "Fisher transcripts (--fisher-transcripts)")
    shim = work_dir / "fisher_corpus"
    shutil.rmtree(shim, ignore_errors=True)
    shim.mkdir(parents=True)
    audio = [name for name in FISHER_AUDIO if (audio_dir / name).is_dir()]
    transcripts = [name for name in FISHER_TRANSCRIPTS if (transcripts_dir / name).is_dir()]
    if not audio or not transcripts:
        raise CorpusError(f"Fisher: expected {' and/or '.join(FISHER_AUDIO)} in {audio_dir} and "
                          f"{' and/or '.join(FISHER_TRANSCRIPTS)} in {transcripts_dir}")
    for name in audio:
        (shim / name).symlink_to((audio_dir / name).resolve())
    for name in transcripts:
        (shim / name).symlink_to((transcripts_dir / name).resolve())
    with sphere_info_backend():
        manifests = prepare_fisher_english(shim, work_dir / "fisher_lhotse", audio_dirs=audio,
                                           transcript_dirs=transcripts, absolute_paths=True)
    recordings = {r.id: r for r in resource_recordings(manifests["recordings"])}
    segments, counts = [], {"segments": 0, "uncertain": 0}
    for supervision in manifests["supervisions"]:
        counts["segments"] += 1
        words = normalize_fisher_words(supervision.text.split())
        if not words:
            counts["uncertain"] += words is None
            continue
        side = "AB"[supervision.channel]
        start, end = supervision.start, round(supervision.start + supervision.duration, 3)
        kaldi_id = utterance_id(supervision.recording_id, side, start, end, TRUNCATE, separator="-")
        segments.append(Segment(kaldi_id, supervision.recording_id, side, centiseconds(start, TRUNCATE) / 100,
                                centiseconds(end, TRUNCATE) / 100, words))
    return recordings, segments, counts


# -- Hub5'00 (eval2000) -----------------------------------------------------------------------------


def _eval2000_reference_dir(transcripts_dir: Path) -> Path:
    if (transcripts_dir / "2000_hub5_eng_eval_tr").is_dir():  # as eval2000_data_prep.sh
        transcripts_dir = transcripts_dir / "2000_hub5_eng_eval_tr"
    reference = transcripts_dir / "reference"
    if not reference.is_dir():
        raise CorpusError(f"eval2000 transcripts (LDC2002T43, --eval2000-transcripts): {reference} does not exist")
    return reference


def _eval2000_audio_dir(audio_dir: Path) -> Path:
    for candidate in (audio_dir / "hub5e_00" / "english", audio_dir / "english",
                      audio_dir / "LDC2002S09" / "hub5e_00" / "english"):
        if candidate.is_dir():
            return candidate
    raise CorpusError(f"eval2000 audio (LDC2002S09, --eval2000-dir): no hub5e_00/english/ or english/ in {audio_dir}")


def prepare_eval2000(audio_dir, transcripts_dir, out_dir, work_dir: Path):
    """Hub5'00 cuts (see the module doc); returns the written :class:`~blasr.data.conversations.Part`."""


    english = _eval2000_audio_dir(_require_dir(audio_dir, "eval2000 audio (LDC2002S09, --eval2000-dir)"))
    reference = _eval2000_reference_dir(_require_dir(transcripts_dir, "eval2000 transcripts (--eval2000-transcripts)"))
    txt_dir = reference / "english"
    if not txt_dir.is_dir():
        raise CorpusError(f"eval2000: {txt_dir} (the LDC .txt transcripts lhotse reads) does not exist")
    # lhotse wants CORPUS/LDC2002S09/hub5e_00/english
    shim = work_dir / "eval2000_corpus"
    shutil.rmtree(shim, ignore_errors=True)
    (shim / "LDC2002S09" / "hub5e_00").mkdir(parents=True)
    (shim / "LDC2002S09" / "hub5e_00" / "english").symlink_to(english.resolve())
    with sphere_info_backend():
        manifests = lhotse_prepare_eval2000(shim, work_dir / "eval2000_lhotse", transcript_path=txt_dir,
                                            absolute_paths=True)
    recordings = {r.id: r for r in resource_recordings(_resolved(manifests["recordings"]))}
    stm_path = reference / EVAL2000_STM
    if not stm_path.is_file():
        stm_path = next(iter(sorted(reference.glob("*.stm"))), None)
    glm_path = reference / EVAL2000_GLM
    if not glm_path.is_file():
        glm_path = next(iter(sorted(reference.glob("*.glm"))), None)
    out_dir = Path(out_dir)
    segments = []
    if stm_path is not None:
        stm = read_stm(stm_path)
        for line in stm:
            if line.ignored:
                continue
            # eval2000_data_prep.sh: sprintf("%s_%06d-%06d", $1"-"$2, $4*100, $5*100), text from field 7 on
            kaldi_id = utterance_id(line.file, line.side, line.start, line.end, TRUNCATE)
            segments.append(Segment(kaldi_id, line.file, line.side, line.start, line.end, plain_reference(line.text)))
        source = f"stm {stm_path}"
    else:
        logger.warning("eval2000: no stm in %s; segments and references from the LDC .txt files (plain scoring)",
                       reference)
        for supervision in manifests["supervisions"]:
            side = "AB"[supervision.channel]
            end = round(supervision.start + supervision.duration, 6)
            kaldi_id = utterance_id(supervision.recording_id, side, supervision.start, end, TRUNCATE)
            segments.append(Segment(kaldi_id, supervision.recording_id, side, supervision.start, end,
                                    plain_reference(supervision.text)))
        source = f"LDC .txt {txt_dir}"
    empty = [s for s in segments if not s.words]
    segments = extend_segments(segments, 0.1)  # local/extend_segments.pl 0.1 (ids keep the stm times)
    part = write_part(out_dir, recordings, segments, "eval2000")
    part.extra.update(source=source, empty_references=len(empty))
    if stm_path is not None:
        write_stm(read_stm(stm_path), out_dir / "stm")
    if glm_path is not None:
        shutil.copyfile(glm_path, out_dir / "glm")
    return part


def _resolved(recordings):
    """The recordings with symlinked source paths (our lhotse shim) resolved to the real files."""

    fixed = []
    for recording in recordings:
        sources = [fastcopy(s, source=str(Path(s.source).resolve())) if s.type == "file" else s
                   for s in recording.sources]
        fixed.append(fastcopy(recording, sources=sources))
    return RecordingSet.from_recordings(fixed)


# -- the lexicon ------------------------------------------------------------------------------------


def prepare_dict(transcripts_dir, out_dir) -> Path:
    """Kaldi's ``data/local/dict`` from ``sw-ms98-dict.text`` (see the module doc); returns its directory."""
    transcripts_dir = _require_dir(transcripts_dir, "Switchboard ms98 transcripts (--swbd-transcripts)")
    found = sorted(transcripts_dir.rglob(MS98_DICT))
    if not found:
        raise CorpusError(f"{transcripts_dir}: no {MS98_DICT} (the ms98 lexicon, in swb_ms98_transcriptions/)")
    source = found[0]
    entries = set()
    for number, line in enumerate(source.read_text(encoding="latin-1").splitlines(), 1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        if len(fields) < 2:
            raise CorpusError(f"{source}:{number}: word {fields[0]!r} has no pronunciation")
        entries.add((fields[0], tuple(fields[1:])))
    phones = sorted({p for _, pron in entries for p in pron} - {"sil"})
    lexicon = {(map_swbd_word(word).lower(), " ".join(pron).lower()) for word, pron in entries}
    lexicon |= {(word, pron) for word, pron in EXTRA_WORDS} | {("i", "ay")}
    lexicon = {(w, p) for w, p in lexicon if w}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "lexicon.txt").write_text("".join(f"{w} {p}\n" for w, p in sorted(lexicon)), encoding="utf-8")
    (out_dir / "silence_phones.txt").write_text("".join(p + "\n" for p in SILENCE_PHONES))
    (out_dir / "nonsilence_phones.txt").write_text("".join(p + "\n" for p in phones if p not in SILENCE_PHONES))
    (out_dir / "optional_silence.txt").write_text("sil\n")
    (out_dir / "extra_questions.txt").write_text("")
    logger.info("dict %s: %d entries, %d non-silence phones from %s", out_dir, len(lexicon), len(phones), source)
    return out_dir


# -- everything -------------------------------------------------------------------------------------


def prepare(
    out_dir: str | os.PathLike,
    swbd_dir=None,
    swbd_transcripts=None,
    eval2000_dir=None,
    eval2000_transcripts=None,
    rt03_dir=None,
    rt02_dir=None,
    fisher_dir=None,
    fisher_transcripts=None,
    train_dev_size: int = TRAIN_DEV_SIZE,
    max_duplicates: int = MAX_DUPLICATES,
    overwrite: bool = False,
) -> dict:
    """Every data set the inputs allow (see the module doc); returns ``{name: Part}``.

    A set whose ``.completed`` marker holds the same settings is loaded, not rebuilt.
    """

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    parts = {}
    paths = {k: str(Path(v).resolve()) if v else None for k, v in dict(
        swbd_dir=swbd_dir, swbd_transcripts=swbd_transcripts, fisher_dir=fisher_dir,
        fisher_transcripts=fisher_transcripts).items()}
    with tempfile.TemporaryDirectory(prefix=".lhotse.", dir=out_dir) as work:
        work_dir = Path(work)
        if swbd_dir is not None or swbd_transcripts is not None:
            settings = dict(version=FORMAT_VERSION, train_dev_size=train_dev_size, max_duplicates=max_duplicates,
                            **paths)
            names = ("train", "train_dev", "train_nodup")
            if not overwrite and all(completed(out_dir / n, settings) for n in names):
                logger.info("training sets in %s are complete with these settings; not rebuilding", out_dir)
                parts.update({n: load_part(out_dir / n) for n in names})
            else:
                parts.update(_prepare_training(out_dir, work_dir, settings))
            prepare_dict(swbd_transcripts, out_dir / "dict")
        elif fisher_dir is not None:
            raise CorpusError("Fisher is added to Switchboard: give --swbd-dir and --swbd-transcripts too")
        tests = [("eval2000", (eval2000_dir, eval2000_transcripts)), ("rt03", (rt03_dir,)), ("rt02", (rt02_dir,))]
        for name, inputs in tests:
            if all(i is None for i in inputs):
                continue
            settings = dict(version=FORMAT_VERSION, inputs=[str(Path(i).resolve()) if i else None for i in inputs])
            if not overwrite and completed(out_dir / name, settings):
                logger.info("%s in %s is complete with these settings; not rebuilding", name, out_dir / name)
                parts[name] = load_part(out_dir / name)
                continue
            if name == "eval2000":
                part = prepare_eval2000(eval2000_dir, eval2000_transcripts, out_dir / name, work_dir)
            else:
                part = prepare_rt(inputs[0], out_dir / name, name)
            (part.directory / ".completed").write_text(json.dumps(settings, sort_keys=True) + "\n")
            parts[name] = part
    return parts


def _prepare_training(out_dir: Path, work_dir: Path, settings: dict) -> dict:
    recordings, segments, counts = switchboard_segments(settings["swbd_dir"], settings["swbd_transcripts"])
    logger.info("Switchboard: %d segments, %d utterances (%d [silence]-only dropped)", counts["segments"],
                len(segments), counts["silence_only"])
    train_dev, train_nodev = split_train_dev(segments, settings["train_dev_size"])
    all_segments = list(segments)
    if settings["fisher_dir"] is not None:
        fisher_recordings, fisher, fisher_counts = fisher_segments(settings["fisher_dir"],
                                                                   settings["fisher_transcripts"], work_dir)
        logger.info("Fisher: %d segments, %d utterances (%d with '((' dropped)", fisher_counts["segments"],
                    len(fisher), fisher_counts["uncertain"])
        recordings.update(fisher_recordings)
        train_nodev += fisher
        all_segments += fisher
    train_nodup = remove_duplicate_utterances(train_nodev, settings["max_duplicates"])
    logger.info("train_dev: %d utterances; train_nodup: %d of %d (at most ~%d copies of a transcript)",
                len(train_dev), len(train_nodup), len(train_nodev), settings["max_duplicates"])
    parts = {}
    for name, part_segments in (("train", all_segments), ("train_dev", train_dev), ("train_nodup", train_nodup)):
        parts[name] = write_part(out_dir / name, recordings, part_segments, name, settings)
    parts["train"].extra.update(counts)
    return parts


def part_lines(parts: dict) -> list[str]:
    """One line per prepared set: utterances, hours, skipped, where."""
    return [f"{name}: {len(part.cuts)} utterances, {part.report.stats.get('hours', 0):.2f} h, "
            f"{part.report.num_skipped} skipped -> {part.directory}" for name, part in parts.items()]
