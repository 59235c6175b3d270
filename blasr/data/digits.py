"""A synthetic spoken-digits corpus made with espeak-ng (stage 0 of ``recipes/digits/run.sh``).

Each utterance is a string of 1..7 digit words (``zero oh one two ... nine``)
spoken by one espeak-ng voice, then post-processed (the steps every synthetic
corpus shares, :mod:`blasr.data.espeak`):

1. ``espeak-ng --stdout -v <voice>+<variant> -s <wpm> -p <pitch> "<words>"``
   gives 22050 Hz int16 speech; its own leading / trailing near-silence
   (``|x| < 16 / 32768``) is trimmed.
2. Resampled to ``sample_rate`` (16 kHz) with a Kaiser-windowed sinc
   polyphase filter (:func:`resample_poly`, as ``scipy.signal.resample_poly``),
   then scaled to a peak of ``peak_dbfs`` (uniform in -12..-3 dBFS: espeak-ng
   peaks anywhere from -8 to 0 dBFS, and noise on a full-scale peak would clip).
3. Padded with ``leading_silence`` / ``trailing_silence`` seconds of zeros
   (uniform in 0.1..0.5 s each) and white Gaussian noise added over the whole
   utterance at ``snr_db`` (uniform in 25..40 dB):
   ``noise_std = sqrt(mean(speech**2) / 10**(snr_db / 10))``, the speech power
   measured on the trimmed speech.
4. Written as mono int16 WAV (clipped to the int16 range).

Speakers and splits. A *speaker* is a (base voice, variant) pair, e.g.
``en-gb-scotland_m3`` for ``-v en-gb-scotland+m3``: the base voices are every
English espeak-ng voice that is not an MBROLA voice (``espeak-ng --voices=en``;
8 in espeak-ng 1.51), the variants ``m1..m7, f1..f5``. The dev and test
speakers are drawn from the seed and are never seen in training (the same base
voice may appear in training with another variant). Utterance ``i`` of a split
goes to speaker ``i mod S`` of that split's ``S`` speakers (in an order drawn
from the seed, so that a small corpus mixes voices); the utterance id is
``<speaker>-<i:05d>`` so that ids sort by speaker (Kaldi's convention).

Determinism. Everything random about utterance ``i`` of split ``k`` (words,
speed, pitch, silences, level, SNR, the noise) comes from
``numpy.random.default_rng([seed, k, i])``, so the same seed gives
byte-identical files whatever ``num_jobs`` is.

Held-out test conditions. Two more parts hear the test utterances another way;
no model is trained on either:

- ``test_other`` (:func:`prepare_other_synth`): test utterance ``i``, with the
  same words, rate, silences, level, SNR and noise (drawn from the same
  generator), spoken by another synthesizer, CMU Flite (:mod:`blasr.data.flite`),
  with its voices in round robin (speakers ``flite_<voice>``): every voice that
  can say every digit word (flite's talking-clock voice ``awb_time`` speaks
  "zero" as its "oh" and is left out; ``report.json`` says why);
- ``test_tel`` (:func:`prepare_telephone`): the test cuts with their audio
  resampled to 8 kHz and back to 16 kHz on loading (lhotse's lazy transforms:
  nothing above 4 kHz survives; no telephone band-pass or codec), same ids.

Output directory (lhotse style, idempotent)::

    OUT/wav/<utt>.wav                                          # test_other's too (flite_<voice>-<i>.wav)
    OUT/{train,dev,test}/recordings.jsonl.gz  supervisions.jsonl.gz  cuts.jsonl.gz
    OUT/{train,dev,test}/text  utt2spk  spk2utt  wav.scp      # Kaldi data directory (absolute wav paths)
    OUT/test_other/  as a split, with its own report.json and .completed
    OUT/test_tel/recordings.jsonl.gz  supervisions.jsonl.gz  cuts.jsonl.gz  text  utt2spk  spk2utt
    OUT/dict/lexicon.txt  silence_phones.txt  nonsilence_phones.txt  optional_silence.txt  extra_questions.txt
    OUT/report.json  OUT/.completed

Supervision text is the lower-case digit words, speaker the speaker id. The
``.completed`` marker holds the digest of every setting (and of the espeak-ng
version and voice list): a second call with the same settings only loads the
cuts; other settings are an error unless ``overwrite``.

The command line is ``python -m blasr.prepare_digits`` (:mod:`blasr.prepare_digits`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
from lhotse import CutSet, RecordingSet, SupervisionSet

from blasr.data.espeak import (
    MARKER,
    SILENCE_PHONE,
    SPLITS,
    VARIANTS,
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
    write_split,
)
from blasr.data.espeak import write_dict_dir as write_lexicon_dir
from blasr.data.flite import SPEAKER_PREFIX as FLITE_SPEAKER_PREFIX
from blasr.data.flite import choose_voices as choose_flite_voices
from blasr.data.flite import confused_words, find_flite, flite_version
from blasr.data.flite import synthesize as flite_synthesize
from blasr.features.report import StageReport

logger = logging.getLogger("blasr")

__all__ = [
    "MARKER", "SPLITS", "VARIANTS", "SILENCE_PHONE", "LEXICON", "WORDS", "FORMAT_VERSION", "DigitsError",
    "DigitsConfig", "DigitUtterance", "make_speakers", "split_speakers", "sample_words", "plan_utterances",
    "write_dict_dir", "load_digits", "prepare_digits", "OTHER_SYNTH", "TELEPHONE", "EXTRA_TESTS", "TELEPHONE_RATE",
    "plan_other_synth", "corpus_config", "prepare_other_synth", "prepare_telephone",
]

# Bump when the synthesis changes the audio for the same settings, so old corpora are not reused.
FORMAT_VERSION = 1

# ARPAbet pronunciations of the digit words (CMUdict, stress removed).
LEXICON: dict[str, tuple[tuple[str, ...], ...]] = {
    "zero": (("Z", "IH", "R", "OW"), ("Z", "IY", "R", "OW")),
    "oh": (("OW",),),
    "one": (("W", "AH", "N"),),
    "two": (("T", "UW"),),
    "three": (("TH", "R", "IY"),),
    "four": (("F", "AO", "R"),),
    "five": (("F", "AY", "V"),),
    "six": (("S", "IH", "K", "S"),),
    "seven": (("S", "EH", "V", "AH", "N"),),
    "eight": (("EY", "T"),),
    "nine": (("N", "AY", "N"),),
}
WORDS: tuple[str, ...] = tuple(LEXICON)

# Held-out test conditions made from the test split (module doc), each a part of the corpus directory.
OTHER_SYNTH = "test_other"
TELEPHONE = "test_tel"
EXTRA_TESTS = (OTHER_SYNTH, TELEPHONE)
TELEPHONE_RATE = 8000  # Hz of the round trip: speech above 4 kHz is gone, as on a narrow-band channel

# The error every synthetic corpus raises (the digits corpus' name for it).
DigitsError = SynthesisError
# One planned utterance: everything the synthesis needs, nothing random left.
DigitUtterance = SpokenUtterance


@dataclass(frozen=True)
class DigitsConfig(VoicingRanges):
    """Everything that decides the corpus' content (all of it goes into the ``.completed`` digest).

    Ranges are ``(low, high)``, drawn uniformly per utterance (integers inclusive;
    the voicing ranges are :class:`blasr.data.espeak.VoicingRanges`').
    ``voices`` None: every non-MBROLA English voice of the installed espeak-ng.
    """

    seed: int = 0
    num_train: int = 2000
    num_dev: int = 200
    num_test: int = 300
    num_dev_speakers: int = 8
    num_test_speakers: int = 12
    sample_rate: int = 16000
    min_digits: int = 1
    max_digits: int = 7
    voices: tuple[str, ...] | None = None

    def check(self) -> None:
        """Raise DigitsError naming the first inconsistent setting."""
        problems = []
        if not 1 <= self.min_digits <= self.max_digits:
            problems.append(f"digits per utterance {self.min_digits}..{self.max_digits} (need 1 <= min <= max)")
        for name in ("num_train", "num_dev", "num_test", "num_dev_speakers", "num_test_speakers"):
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
            raise DigitsError("bad digits corpus settings: " + "; ".join(problems))


# -- planning -------------------------------------------------------------------------------------


def sample_words(rng: np.random.Generator, min_digits: int, max_digits: int) -> tuple[str, ...]:
    """``min_digits..max_digits`` (uniform) words drawn uniformly from :data:`WORDS`."""
    count = int(rng.integers(min_digits, max_digits + 1))
    return tuple(WORDS[i] for i in rng.integers(0, len(WORDS), size=count))


def plan_utterances(config: DigitsConfig, speakers: dict[str, list[str]]) -> list[DigitUtterance]:
    """Every utterance of every split, in split order then index order (module doc: Determinism)."""
    return [u for split_index, split in enumerate(SPLITS)
            for u in _plan_split(config, split_index, split, speakers[split])]


def plan_other_synth(config: DigitsConfig, voices: list[str]) -> list[DigitUtterance]:
    """The :data:`OTHER_SYNTH` part: test utterance ``i`` (the same words, rate, silences, level, SNR and
    noise, drawn from the test split's generators) spoken by flite speaker ``flite_<voice>``, the voices in
    round robin (module doc: Held-out test conditions)."""
    speakers = [f"{FLITE_SPEAKER_PREFIX}{voice}" for voice in voices]
    return _plan_split(config, SPLITS.index("test"), OTHER_SYNTH, speakers)


def _plan_split(config: DigitsConfig, split_index: int, split: str, speakers: list[str]) -> list[DigitUtterance]:
    count = config.num_test if split == OTHER_SYNTH else getattr(config, f"num_{split}")
    width = max(5, len(str(count - 1)))
    order = speaker_order(speakers, config.seed, split_index)
    utterances = []
    for i in range(count):
        rng = np.random.default_rng([config.seed, split_index, i])
        speaker = order[i % len(order)]
        words = sample_words(rng, config.min_digits, config.max_digits)
        utterances.append(DigitUtterance(id=f"{speaker}-{i:0{width}d}", split=split, speaker=speaker,
                                         words=words, **draw_voicing(rng, config)))
    return utterances


# -- writing --------------------------------------------------------------------------------------


def write_dict_dir(dict_dir: str | os.PathLike) -> Path:
    """Kaldi's dict directory for the digit words (:data:`LEXICON`, silence phone ``SIL``), as read by
    :func:`blasr.kaldi.lang.prepare.read_dict_dir`; returns ``dict_dir``."""
    return write_lexicon_dir(dict_dir, LEXICON)


def load_digits(out: str | os.PathLike) -> dict:
    """The ``{"train", "dev", "test"}`` CutSets of a finished corpus directory."""
    return load_corpus(out, "prepare_digits")


def prepare_digits(
    out: str | os.PathLike,
    config: DigitsConfig = DigitsConfig(),
    num_jobs: int = 2,
    overwrite: bool = False,
    progress: bool = True,
) -> dict:
    """Synthesize the corpus into ``out`` (module doc) and return its ``{"train", "dev", "test"}`` CutSets.

    Idempotent: a finished ``out`` with the same settings is only loaded; with
    other settings it is a DigitsError unless ``overwrite`` (then it is rebuilt).
    ``num_jobs`` espeak-ng processes run at once (threads; results do not depend on it).
    """
    config.check()
    if num_jobs < 1:
        raise DigitsError(f"num_jobs={num_jobs}: give at least 1")
    out = Path(out)
    espeak = find_espeak()
    voices = choose_voices(espeak, config.voices)
    settings = {**asdict(config), "voices": voices, "espeak": espeak_version(espeak), "format": FORMAT_VERSION}
    digest = settings_digest(settings)
    if start_corpus(out, digest, overwrite, "digits corpus", stale=EXTRA_TESTS):
        return load_digits(out)

    speakers = split_speakers(make_speakers(voices, config.variants), config.num_dev_speakers,
                              config.num_test_speakers, config.seed)
    utterances = plan_utterances(config, speakers)
    logger.info("synthesizing %d utterances (%s) with %d voices x %d variants, %d jobs into %s",
                len(utterances), ", ".join(f"{s} {getattr(config, f'num_{s}')}" for s in SPLITS),
                len(voices), len(config.variants), num_jobs, out)
    audio, seconds = synthesize_all(utterances, out / "wav", espeak, config.sample_rate, num_jobs, progress,
                                    desc="digits")

    cuts = {split: write_split(out, split, [u for u in utterances if u.split == split], config.sample_rate)
            for split in SPLITS}
    write_dict_dir(out / "dict")

    report = StageReport("digits", kept=len(utterances))
    report.stats.update(
        {f"{split}_utterances": len(cuts[split]) for split in SPLITS}
        | {f"{split}_speakers": len(speakers[split]) for split in SPLITS}
        | {"audio_seconds": audio, "wall_seconds": seconds, "x_real_time": audio / max(seconds, 1e-9),
           "num_jobs": num_jobs}
    )
    report.log()
    (out / "report.json").write_text(json.dumps(
        {"settings": settings, "speakers": speakers, "report": asdict(report)}, indent=1) + "\n")
    (out / MARKER).write_text(digest + "\n")
    return cuts


# -- held-out test conditions ---------------------------------------------------------------------


def corpus_config(out: str | os.PathLike) -> DigitsConfig:
    """The settings a finished corpus directory was made with (its ``report.json``)."""
    out = Path(out)
    if not (out / MARKER).is_file():
        raise DigitsError(f"{out} holds no finished digits corpus (no {MARKER}); run python -m blasr.prepare_digits")
    settings = json.loads((out / "report.json").read_text())["settings"]
    return DigitsConfig(**{f.name: tuple(settings[f.name]) if isinstance(settings[f.name], list)
                           else settings[f.name] for f in fields(DigitsConfig)})


def prepare_other_synth(
    out: str | os.PathLike,
    num_jobs: int = 2,
    voices: tuple[str, ...] | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> CutSet:
    """Synthesize the :data:`OTHER_SYNTH` part of the finished corpus in ``out`` with flite (if ``voices`` is
    None, every voice that speaks no two digit words alike: :func:`blasr.data.flite.confused_words`; a voice
    asked for is kept with a warning) and return its CutSet: ``out/wav/flite_<voice>-<i>.wav`` and
    ``out/test_other/`` (the manifests, Kaldi files, ``report.json`` and a ``.completed`` marker).

    Idempotent: a finished part with the same settings (the corpus', flite's version and voices) is only
    loaded. The part is derived from the corpus, so one made with other settings is rebuilt (so is every
    part when the corpus itself is rebuilt).
    """
    if num_jobs < 1:
        raise DigitsError(f"num_jobs={num_jobs}: give at least 1")
    out = Path(out)
    config = corpus_config(out)
    flite = find_flite()
    asked = voices is not None
    voices = choose_flite_voices(flite, voices)
    # which voices confuse words follows from flite and the candidates, so it is checked only when (re)building
    settings = {"corpus": (out / MARKER).read_text().strip(), "flite": flite_version(flite), "voices": voices,
                "leave_out_confusing_voices": not asked, "format": FORMAT_VERSION}
    digest = settings_digest(settings)
    part = out / OTHER_SYNTH
    if (part / MARKER).is_file() and (part / MARKER).read_text().strip() == digest and not overwrite:
        logger.info("%s is complete with these settings; not rebuilding", part)
        return CutSet.from_file(part / "cuts.jsonl.gz").to_eager()
    if part.is_dir():
        shutil.rmtree(part)
    for old in (out / "wav").glob(f"{FLITE_SPEAKER_PREFIX}*.wav"):
        old.unlink()
    left_out = {}  # voice -> why: the words it cannot tell apart
    for voice in voices:
        pairs = confused_words(flite, voice, WORDS)
        if pairs:
            left_out[voice] = "speaks " + ", ".join(f"{a!r} and {b!r}" for a, b in pairs) + " with the same samples"
            logger.warning("flite voice %s %s: its utterances could not be scored against their text; %s", voice,
                           left_out[voice], "kept, since it was asked for" if asked else "left out")
    if not asked:
        voices = [voice for voice in voices if voice not in left_out]
        if not voices:
            raise DigitsError(f"no flite voice can say every digit word ({left_out}); give --other-voices")

    utterances = plan_other_synth(config, voices)
    logger.info("synthesizing %d %s utterances with flite (%s), %d jobs into %s", len(utterances), OTHER_SYNTH,
                ", ".join(voices), num_jobs, out)
    audio, seconds = synthesize_all(utterances, out / "wav", flite, config.sample_rate, num_jobs, progress,
                                    desc=OTHER_SYNTH, synthesize_one=flite_synthesize)
    cuts = write_split(out, OTHER_SYNTH, utterances, config.sample_rate)
    report = StageReport(OTHER_SYNTH, kept=len(utterances))
    report.stats.update({"speakers": len(voices), "audio_seconds": audio, "wall_seconds": seconds,
                         "x_real_time": audio / max(seconds, 1e-9), "num_jobs": num_jobs})
    report.log()
    (part / "report.json").write_text(json.dumps({"settings": settings, "report": asdict(report), "voices": voices,
                                                  "voices_that_confuse_words": left_out}, indent=1) + "\n")
    (part / MARKER).write_text(digest + "\n")
    return cuts


def prepare_telephone(out: str | os.PathLike, narrow_rate: int = TELEPHONE_RATE) -> CutSet:
    """The :data:`TELEPHONE` part of the finished corpus in ``out``: the test cuts, their audio resampled to
    ``narrow_rate`` and back on loading (lhotse's lazy ``resample`` transforms, kept in the recordings; no
    audio is copied), same ids, texts and speakers; returns its CutSet.

    Rewritten on every call (manifests only: milliseconds), so it always follows the test split. The Kaldi
    files are ``text``, ``utt2spk`` and ``spk2utt`` (no ``wav.scp``: the transforms live in the manifest).
    """
    out = Path(out)
    corpus_config(out)  # a finished corpus, or a DigitsError saying how to make one
    test = CutSet.from_file(out / "test" / "cuts.jsonl.gz")
    cuts = CutSet.from_cuts(cut.resample(narrow_rate).resample(cut.sampling_rate) for cut in test)
    part = out / TELEPHONE
    part.mkdir(parents=True, exist_ok=True)
    RecordingSet.from_recordings(c.recording for c in cuts).to_file(part / "recordings.jsonl.gz")
    SupervisionSet.from_segments(s for c in cuts for s in c.supervisions).to_file(part / "supervisions.jsonl.gz")
    cuts.to_file(part / "cuts.jsonl.gz")
    for name in ("text", "utt2spk", "spk2utt"):
        shutil.copyfile(out / "test" / name, part / name)
    logger.info("wrote %s: %d test cuts through a %d Hz round trip", part, len(cuts), narrow_rate)
    return cuts
