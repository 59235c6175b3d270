"""A synthetic spoken-digits corpus made with espeak-ng (stage 0 of ``recipes/digits/run.sh``).

Each utterance is a string of 1..7 digit words (``zero oh one two ... nine``)
spoken by one espeak-ng voice, then post-processed:

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

Output directory (lhotse style, idempotent)::

    OUT/wav/<utt>.wav
    OUT/{train,dev,test}/recordings.jsonl.gz  supervisions.jsonl.gz  cuts.jsonl.gz
    OUT/{train,dev,test}/text  utt2spk  spk2utt  wav.scp      # Kaldi data directory (absolute wav paths)
    OUT/dict/lexicon.txt  silence_phones.txt  nonsilence_phones.txt  optional_silence.txt  extra_questions.txt
    OUT/report.json  OUT/.completed

Supervision text is the lower-case digit words, speaker the speaker id. The
``.completed`` marker holds the digest of every setting (and of the espeak-ng
version and voice list): a second call with the same settings only loads the
cuts; other settings are an error unless ``overwrite``.

The command line is ``python -m blasr.prepare_digits`` (:mod:`blasr.prepare_digits`).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import soundfile
from lhotse import CutSet, RecordingSet, SupervisionSet

from blasr.data.manifests import cuts_from_audio_files
from blasr.features.report import StageReport
from blasr.features.resample import resample_poly
from blasr.utils.progress import progress_bar

logger = logging.getLogger("blasr")

MARKER = ".completed"
SPLITS = ("train", "dev", "test")
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
SILENCE_PHONE = "SIL"
VARIANTS: tuple[str, ...] = tuple(f"m{i}" for i in range(1, 8)) + tuple(f"f{i}" for i in range(1, 6))

ESPEAK_RATE = 22050  # espeak-ng's own voices always synthesize at this rate
_TRIM_LEVEL = 16  # int16 units: espeak-ng's silence is |x| <= 2, speech onsets are far above


class DigitsError(RuntimeError):
    """The corpus cannot be made (espeak-ng missing or failing, bad settings, another corpus in the way)."""


@dataclass(frozen=True)
class DigitsConfig:
    """Everything that decides the corpus' content (all of it goes into the ``.completed`` digest).

    Ranges are ``(low, high)``, drawn uniformly per utterance (integers inclusive).
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
    speed_wpm: tuple[int, int] = (130, 200)  # espeak-ng -s (its default 175)
    pitch: tuple[int, int] = (20, 80)  # espeak-ng -p, 0..99 (its default 50)
    silence_s: tuple[float, float] = (0.1, 0.5)  # leading and trailing, each
    snr_db: tuple[float, float] = (25.0, 40.0)
    peak_dbfs: tuple[float, float] = (-12.0, -3.0)  # the speech's peak level, before the noise
    voices: tuple[str, ...] | None = None
    variants: tuple[str, ...] = field(default=VARIANTS)

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
        if not 80 <= self.speed_wpm[0] <= self.speed_wpm[1]:
            problems.append(f"speed_wpm={self.speed_wpm} (espeak-ng needs >= 80 words per minute, low <= high)")
        if not 0 <= self.pitch[0] <= self.pitch[1] <= 99:
            problems.append(f"pitch={self.pitch} (espeak-ng takes 0..99, low <= high)")
        if not 0 <= self.silence_s[0] <= self.silence_s[1]:
            problems.append(f"silence_s={self.silence_s} (need 0 <= low <= high)")
        if not self.snr_db[0] <= self.snr_db[1]:
            problems.append(f"snr_db={self.snr_db} (need low <= high)")
        if not self.peak_dbfs[0] <= self.peak_dbfs[1] <= 0:
            problems.append(f"peak_dbfs={self.peak_dbfs} (need low <= high <= 0)")
        if not self.variants or any("_" in v or "+" in v for v in self.variants):
            problems.append(f"variants={self.variants} (need at least one, without '_' or '+')")
        if problems:
            raise DigitsError("bad digits corpus settings: " + "; ".join(problems))


@dataclass(frozen=True)
class DigitUtterance:
    """One planned utterance: everything :func:`synthesize` needs, nothing random left."""

    id: str
    split: str
    speaker: str  # "<base voice>_<variant>"
    words: tuple[str, ...]
    speed_wpm: int
    pitch: int
    leading_silence: float  # seconds
    trailing_silence: float
    snr_db: float
    peak_dbfs: float
    noise_seed: int

    @property
    def voice(self) -> str:
        """The espeak-ng ``-v`` argument, ``<base voice>+<variant>``."""
        base, variant = self.speaker.rsplit("_", 1)
        return f"{base}+{variant}"

    @property
    def text(self) -> str:
        return " ".join(self.words)


# -- espeak-ng ------------------------------------------------------------------------------------


def find_espeak() -> str:
    """The path of ``espeak-ng``; DigitsError saying how to install it when it is not on PATH."""
    path = shutil.which("espeak-ng")
    if path is None:
        raise DigitsError(
            "espeak-ng is not on PATH: run local/install_espeak.sh or apt-get install espeak-ng "
            "(the digits corpus is synthesized with it)"
        )
    return path


def espeak_version(espeak: str) -> str:
    """``espeak-ng --version``'s first line, e.g. ``eSpeak NG text-to-speech: 1.51 ...``."""
    result = subprocess.run([espeak, "--version"], capture_output=True, text=True)
    return result.stdout.strip().splitlines()[0] if result.stdout.strip() else "unknown"


def english_voices(espeak: str) -> list[str]:
    """Names of espeak-ng's own English voices (MBROLA ``mb/`` and variant ``!v/`` entries left out), sorted.

    Parses ``espeak-ng --voices=en``: ``Pty Language Age/Gender VoiceName File ...``.
    """
    result = subprocess.run([espeak, "--voices=en"], capture_output=True, text=True)
    if result.returncode != 0:
        raise DigitsError(f"'{espeak} --voices=en' failed: {result.stderr.strip()}")
    voices = set()
    for line in result.stdout.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 5:
            continue
        language, voice_file = fields[1], fields[4]
        if language.startswith("en") and not voice_file.startswith(("mb/", "!v/")):
            voices.add(language)
    if not voices:
        raise DigitsError(f"'{espeak} --voices=en' lists no English voice; reinstall espeak-ng (espeak-ng-data)")
    return sorted(voices)


def run_espeak(espeak: str, utterance: DigitUtterance) -> np.ndarray:
    """espeak-ng's waveform for ``utterance``: float64 in [-1, 1), shape ``(T,)`` at 22050 Hz."""

    command = [espeak, "--stdout", "-v", utterance.voice, "-s", str(utterance.speed_wpm), "-p", str(utterance.pitch),
               utterance.text]
    result = subprocess.run(command, capture_output=True)
    if result.returncode != 0 or not result.stdout:
        raise DigitsError(
            f"utterance {utterance.id}: espeak-ng failed (exit {result.returncode}): {' '.join(command)!r}: "
            f"{result.stderr.decode(errors='replace').strip() or 'no audio'}"
        )
    samples, rate = soundfile.read(io.BytesIO(result.stdout), dtype="int16")
    if rate != ESPEAK_RATE or samples.ndim != 1:
        raise DigitsError(f"utterance {utterance.id}: espeak-ng gave {rate} Hz with shape {samples.shape}, "
                          f"expected mono {ESPEAK_RATE} Hz (an MBROLA voice? give espeak-ng's own voices)")
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) >= _TRIM_LEVEL)
    if loud.size == 0:
        raise DigitsError(f"utterance {utterance.id}: espeak-ng gave silence for {utterance.text!r} "
                          f"with voice {utterance.voice}")
    return samples[loud[0]: loud[-1] + 1].astype(np.float64) / 32768.0


def synthesize(utterance: DigitUtterance, espeak: str, sample_rate: int) -> np.ndarray:
    """The utterance's int16 samples at ``sample_rate`` (module doc, steps 1-4), shape ``(T,)``."""
    speech = resample_poly(run_espeak(espeak, utterance), sample_rate, ESPEAK_RATE)
    speech *= 10 ** (utterance.peak_dbfs / 20) / np.max(np.abs(speech))
    lead = round(utterance.leading_silence * sample_rate)
    trail = round(utterance.trailing_silence * sample_rate)
    signal = np.concatenate([np.zeros(lead), speech, np.zeros(trail)])
    noise_std = np.sqrt(np.mean(speech**2) / 10 ** (utterance.snr_db / 10))
    signal += noise_std * np.random.default_rng(utterance.noise_seed).standard_normal(signal.size)
    return np.clip(np.round(signal * 32768.0), -32768, 32767).astype(np.int16)


# -- planning -------------------------------------------------------------------------------------


def make_speakers(voices: Sequence[str], variants: Sequence[str] = VARIANTS) -> list[str]:
    """Every ``<voice>_<variant>`` speaker id, sorted."""
    return sorted(f"{voice}_{variant}" for voice in voices for variant in variants)


def split_speakers(speakers: Sequence[str], num_dev: int, num_test: int, seed: int) -> dict[str, list[str]]:
    """Disjoint sorted speaker lists ``{"train", "dev", "test"}``: ``num_dev`` / ``num_test`` drawn from the seed.

    The draw depends only on the seed and the set of speakers (not their order).
    At least one speaker must be left for training.
    """
    speakers = sorted(set(speakers))
    if num_dev < 0 or num_test < 0 or num_dev + num_test >= len(speakers):
        raise DigitsError(
            f"cannot hold out {num_dev} dev + {num_test} test speakers of {len(speakers)} "
            f"and keep one for training; lower --num-dev-speakers / --num-test-speakers"
        )
    order = np.random.default_rng([seed, 1_000_003]).permutation(len(speakers))
    shuffled = [speakers[i] for i in order]
    return {
        "test": sorted(shuffled[:num_test]),
        "dev": sorted(shuffled[num_test: num_test + num_dev]),
        "train": sorted(shuffled[num_test + num_dev:]),
    }


def sample_words(rng: np.random.Generator, min_digits: int, max_digits: int) -> tuple[str, ...]:
    """``min_digits..max_digits`` (uniform) words drawn uniformly from :data:`WORDS`."""
    count = int(rng.integers(min_digits, max_digits + 1))
    return tuple(WORDS[i] for i in rng.integers(0, len(WORDS), size=count))


def plan_utterances(config: DigitsConfig, speakers: dict[str, list[str]]) -> list[DigitUtterance]:
    """Every utterance of every split, in split order then index order (module doc: Determinism)."""
    utterances = []
    for split_index, split in enumerate(SPLITS):
        count = getattr(config, f"num_{split}")
        width = max(5, len(str(count - 1)))
        # Round robin over the split's speakers in a seeded order, so that a small corpus still mixes voices.
        order = [speakers[split][j] for j in
                 np.random.default_rng([config.seed, 1_000_004, split_index]).permutation(len(speakers[split]))]
        for i in range(count):
            rng = np.random.default_rng([config.seed, split_index, i])
            speaker = order[i % len(order)]
            utterances.append(
                DigitUtterance(
                    id=f"{speaker}-{i:0{width}d}",
                    split=split,
                    speaker=speaker,
                    words=sample_words(rng, config.min_digits, config.max_digits),
                    speed_wpm=int(rng.integers(config.speed_wpm[0], config.speed_wpm[1] + 1)),
                    pitch=int(rng.integers(config.pitch[0], config.pitch[1] + 1)),
                    leading_silence=float(rng.uniform(*config.silence_s)),
                    trailing_silence=float(rng.uniform(*config.silence_s)),
                    snr_db=float(rng.uniform(*config.snr_db)),
                    peak_dbfs=float(rng.uniform(*config.peak_dbfs)),
                    noise_seed=int(rng.integers(2**63)),
                )
            )
    return utterances


# -- writing --------------------------------------------------------------------------------------


def write_dict_dir(dict_dir: str | os.PathLike) -> Path:
    """Kaldi's dict directory for the digit words (:data:`LEXICON`, silence phone ``SIL``), as read by
    :func:`blasr.kaldi.lang.prepare.read_dict_dir`; returns ``dict_dir``."""
    dict_dir = Path(dict_dir)
    dict_dir.mkdir(parents=True, exist_ok=True)
    lexicon = [f"{word} {' '.join(phones)}\n" for word in sorted(LEXICON) for phones in LEXICON[word]]
    nonsilence = sorted({p for prons in LEXICON.values() for phones in prons for p in phones})
    (dict_dir / "lexicon.txt").write_text("".join(lexicon))
    (dict_dir / "silence_phones.txt").write_text(f"{SILENCE_PHONE}\n")
    (dict_dir / "optional_silence.txt").write_text(f"{SILENCE_PHONE}\n")
    (dict_dir / "nonsilence_phones.txt").write_text("".join(f"{p}\n" for p in nonsilence))
    (dict_dir / "extra_questions.txt").write_text("")  # Kaldi's prepare_lang.sh wants the file, empty is fine
    return dict_dir


def _write_split(out: Path, split: str, utterances: list[DigitUtterance], sample_rate: int):
    """Lhotse manifests and a Kaldi data directory for one split; returns its CutSet."""

    split_dir = out / split
    split_dir.mkdir(parents=True, exist_ok=True)
    utterances = sorted(utterances, key=lambda u: u.id)
    paths = {u.id: (out / "wav" / f"{u.id}.wav").resolve() for u in utterances}
    cuts, report = cuts_from_audio_files(
        paths.values(), sample_rate, speakers={u.id: u.speaker for u in utterances},
        texts={u.id: u.text for u in utterances},
    )
    if report.num_skipped:  # the files were just written: a skip is a bug, not bad input
        raise DigitsError(f"{split_dir}: {report.num_skipped} synthesized files could not be read back: "
                          f"{report.skipped[:3]}")
    RecordingSet.from_recordings(c.recording for c in cuts).to_file(split_dir / "recordings.jsonl.gz")
    SupervisionSet.from_segments(s for c in cuts for s in c.supervisions).to_file(split_dir / "supervisions.jsonl.gz")
    cuts.to_file(split_dir / "cuts.jsonl.gz")

    (split_dir / "text").write_text("".join(f"{u.id} {u.text}\n" for u in utterances))
    (split_dir / "utt2spk").write_text("".join(f"{u.id} {u.speaker}\n" for u in utterances))
    (split_dir / "wav.scp").write_text("".join(f"{u.id} {paths[u.id]}\n" for u in utterances))
    spk2utt: dict[str, list[str]] = {}
    for u in utterances:
        spk2utt.setdefault(u.speaker, []).append(u.id)
    (split_dir / "spk2utt").write_text("".join(f"{s} {' '.join(ids)}\n" for s, ids in sorted(spk2utt.items())))
    return cuts


def _digest(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def load_digits(out: str | os.PathLike) -> dict:
    """The ``{"train", "dev", "test"}`` CutSets of a finished corpus directory."""

    out = Path(out)
    if not (out / MARKER).is_file():
        raise DigitsError(f"{out} holds no finished digits corpus (no {MARKER}); run python -m blasr.prepare_digits")
    return {split: CutSet.from_file(out / split / "cuts.jsonl.gz").to_eager() for split in SPLITS}


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
    available = english_voices(espeak)
    voices = sorted(set(config.voices)) if config.voices is not None else available
    unknown = sorted(set(voices) - set(available))
    if unknown or not voices:
        raise DigitsError(f"espeak-ng has no English voice {unknown or voices} (it has {', '.join(available)}); "
                          "give some of those, or none for all")
    settings = {**asdict(config), "voices": voices, "espeak": espeak_version(espeak), "format": FORMAT_VERSION}
    digest = _digest(settings)
    marker = out / MARKER
    if marker.is_file():
        if marker.read_text().strip() == digest and not overwrite:
            logger.info("digits corpus %s is complete with these settings; not rebuilding", out)
            return load_digits(out)
        if not overwrite:
            raise DigitsError(
                f"{out} holds a digits corpus made with other settings (see {out / 'report.json'}); "
                "give --overwrite to rebuild it, or another --out"
            )
    for stale in ("wav", "dict", *SPLITS):  # ours only: a partial or overwritten run
        shutil.rmtree(out / stale, ignore_errors=True)
    for stale in (MARKER, "report.json"):
        (out / stale).unlink(missing_ok=True)

    speakers = split_speakers(make_speakers(voices, config.variants), config.num_dev_speakers,
                              config.num_test_speakers, config.seed)
    utterances = plan_utterances(config, speakers)
    logger.info("synthesizing %d utterances (%s) with %d voices x %d variants, %d jobs into %s",
                len(utterances), ", ".join(f"{s} {getattr(config, f'num_{s}')}" for s in SPLITS),
                len(voices), len(config.variants), num_jobs, out)
    (out / "wav").mkdir(parents=True, exist_ok=True)

    def make(utterance: DigitUtterance) -> int:

        samples = synthesize(utterance, espeak, config.sample_rate)
        soundfile.write(out / "wav" / f"{utterance.id}.wav", samples, config.sample_rate, subtype="PCM_16")
        return samples.size

    start = time.perf_counter()
    if num_jobs > 1:
        with ThreadPoolExecutor(num_jobs) as pool:
            lengths = list(progress_bar(pool.map(make, utterances), total=len(utterances), desc="digits",
                                        enabled=progress))
    else:
        lengths = [make(u) for u in progress_bar(utterances, desc="digits", enabled=progress)]
    seconds = time.perf_counter() - start
    audio = sum(lengths) / config.sample_rate

    cuts = {split: _write_split(out, split, [u for u in utterances if u.split == split], config.sample_rate)
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
    marker.write_text(digest + "\n")
    return cuts
