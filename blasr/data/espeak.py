"""What the synthetic corpora share: espeak-ng speakers, synthesis, the split by voice, the written layout.

The digits corpus (:mod:`blasr.data.digits`) and the read-speech corpus
(:mod:`blasr.data.readspeech`) plan their utterances differently (which words)
and are made the same way from there on:

1. ``espeak-ng --stdout -v <voice>+<variant> -s <wpm> -p <pitch> "<words>"``
   gives 22050 Hz int16 speech; its own leading / trailing near-silence
   (``|x| < 16 / 32768``) is trimmed.
2. Resampled to ``sample_rate`` (16 kHz) with a Kaiser-windowed sinc
   polyphase filter (:func:`resample_poly`, as ``scipy.signal.resample_poly``),
   then scaled to a peak of ``peak_dbfs`` (espeak-ng peaks anywhere from -8 to
   0 dBFS, and noise on a full-scale peak would clip).
3. Padded with ``leading_silence`` / ``trailing_silence`` seconds of zeros and
   white Gaussian noise added over the whole utterance at ``snr_db``:
   ``noise_std = sqrt(mean(speech**2) / 10**(snr_db / 10))``, the speech power
   measured on the trimmed speech.
4. Written as mono int16 WAV (clipped to the int16 range).

A *speaker* is a (base voice, variant) pair, e.g. ``en-gb-scotland_m3`` for
``-v en-gb-scotland+m3``: the base voices are every English espeak-ng voice
that is not an MBROLA voice (``espeak-ng --voices=en``), the variants
``m1..m7, f1..f5``. :func:`split_speakers` draws disjoint train / dev / test
speakers from a seed. :func:`draw_voicing` draws an utterance's speed, pitch,
silences, SNR, level and noise seed from its own generator, in a fixed order.

Output layout (lhotse style; :func:`write_split`, :func:`write_dict_dir`)::

    OUT/wav/<utt>.wav
    OUT/<split>/recordings.jsonl.gz  supervisions.jsonl.gz  cuts.jsonl.gz
    OUT/<split>/text  utt2spk  spk2utt  wav.scp      # Kaldi data directory (absolute wav paths)
    OUT/dict/lexicon.txt  silence_phones.txt  nonsilence_phones.txt  optional_silence.txt  extra_questions.txt
    OUT/report.json  OUT/.completed

The ``.completed`` marker holds the digest of every setting (:func:`start_corpus`).
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
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np
import soundfile
from lhotse import CutSet, RecordingSet, SupervisionSet

from blasr.data.manifests import cuts_from_audio_files
from blasr.features.resample import resample_poly
from blasr.utils.errors import BlasrError
from blasr.utils.progress import progress_bar

logger = logging.getLogger("blasr")

MARKER = ".completed"
SPLITS = ("train", "dev", "test")
SILENCE_PHONE = "SIL"
VARIANTS: tuple[str, ...] = tuple(f"m{i}" for i in range(1, 8)) + tuple(f"f{i}" for i in range(1, 6))

ESPEAK_RATE = 22050  # espeak-ng's own voices always synthesize at this rate
_TRIM_LEVEL = 16  # int16 units: espeak-ng's silence is |x| <= 2, speech onsets are far above


class SynthesisError(BlasrError, RuntimeError):
    """A synthetic corpus cannot be made (espeak-ng missing or failing, bad settings, another corpus in the way)."""


@dataclass(frozen=True)
class VoicingRanges:
    """How utterances are spoken: the voice variants, and ranges ``(low, high)`` drawn uniformly per
    utterance (integers inclusive)."""

    speed_wpm: tuple[int, int] = (130, 200)  # espeak-ng -s (its default 175)
    pitch: tuple[int, int] = (20, 80)  # espeak-ng -p, 0..99 (its default 50)
    silence_s: tuple[float, float] = (0.1, 0.5)  # leading and trailing, each
    snr_db: tuple[float, float] = (25.0, 40.0)
    peak_dbfs: tuple[float, float] = (-12.0, -3.0)  # the speech's peak level, before the noise
    variants: tuple[str, ...] = VARIANTS  # espeak-ng voice variants: one speaker per base voice and variant


def voicing_problems(ranges) -> list[str]:
    """What is wrong with the voicing ranges of ``ranges`` (any object with :class:`VoicingRanges`' fields)."""
    problems = []
    if not 80 <= ranges.speed_wpm[0] <= ranges.speed_wpm[1]:
        problems.append(f"speed_wpm={ranges.speed_wpm} (espeak-ng needs >= 80 words per minute, low <= high)")
    if not 0 <= ranges.pitch[0] <= ranges.pitch[1] <= 99:
        problems.append(f"pitch={ranges.pitch} (espeak-ng takes 0..99, low <= high)")
    if not 0 <= ranges.silence_s[0] <= ranges.silence_s[1]:
        problems.append(f"silence_s={ranges.silence_s} (need 0 <= low <= high)")
    if not ranges.snr_db[0] <= ranges.snr_db[1]:
        problems.append(f"snr_db={ranges.snr_db} (need low <= high)")
    if not ranges.peak_dbfs[0] <= ranges.peak_dbfs[1] <= 0:
        problems.append(f"peak_dbfs={ranges.peak_dbfs} (need low <= high <= 0)")
    if not ranges.variants or any("_" in v or "+" in v for v in ranges.variants):
        problems.append(f"variants={ranges.variants} (need at least one, without '_' or '+')")
    return problems


@dataclass(frozen=True)
class SpokenUtterance:
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


def draw_voicing(rng: np.random.Generator, ranges) -> dict:
    """Speed, pitch, silences, SNR, level and noise seed of one utterance (:class:`SpokenUtterance`'s fields),
    drawn from ``rng`` in this order from the ranges of ``ranges``."""
    return dict(
        speed_wpm=int(rng.integers(ranges.speed_wpm[0], ranges.speed_wpm[1] + 1)),
        pitch=int(rng.integers(ranges.pitch[0], ranges.pitch[1] + 1)),
        leading_silence=float(rng.uniform(*ranges.silence_s)),
        trailing_silence=float(rng.uniform(*ranges.silence_s)),
        snr_db=float(rng.uniform(*ranges.snr_db)),
        peak_dbfs=float(rng.uniform(*ranges.peak_dbfs)),
        noise_seed=int(rng.integers(2**63)),
    )


# -- espeak-ng ------------------------------------------------------------------------------------


def find_espeak() -> str:
    """The path of ``espeak-ng``; SynthesisError saying how to install it when it is not on PATH."""
    path = shutil.which("espeak-ng")
    if path is None:
        raise SynthesisError(
            "espeak-ng is not on PATH: run local/install_espeak.sh or apt-get install espeak-ng "
            "(the synthetic corpora are made with it)"
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
        raise SynthesisError(f"'{espeak} --voices=en' failed: {result.stderr.strip()}")
    voices = set()
    for line in result.stdout.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 5:
            continue
        language, voice_file = fields[1], fields[4]
        if language.startswith("en") and not voice_file.startswith(("mb/", "!v/")):
            voices.add(language)
    if not voices:
        raise SynthesisError(f"'{espeak} --voices=en' lists no English voice; reinstall espeak-ng (espeak-ng-data)")
    return sorted(voices)


def pick_voices(available: Sequence[str], wanted: Sequence[str] | None, missing: str) -> list[str]:
    """``wanted`` (sorted, deduplicated) if ``available`` has them all, all of ``available`` if None; else an
    error starting with ``missing`` (e.g. "espeak-ng has no English voice")."""
    voices = sorted(set(wanted)) if wanted is not None else list(available)
    unknown = sorted(set(voices) - set(available))
    if unknown or not voices:
        raise SynthesisError(f"{missing} {unknown or voices} (it has {', '.join(available)}); "
                             "give some of those, or none for all")
    return voices


def choose_voices(espeak: str, wanted: Sequence[str] | None) -> list[str]:
    """``wanted`` (sorted, deduplicated) if espeak-ng has them all, every English voice if None."""
    return pick_voices(english_voices(espeak), wanted, "espeak-ng has no English voice")


def run_synthesizer(command: Sequence[str], utterance: SpokenUtterance | str, name: str) -> tuple[np.ndarray, int]:
    """Run a synthesizer ``command`` that writes one WAV file to stdout: its int16 samples and rate; an error
    naming the utterance (or what else ``utterance`` says is being spoken), ``name`` and the command if it
    fails or writes nothing."""
    result = subprocess.run(list(command), capture_output=True)
    if result.returncode != 0 or not result.stdout:
        what = utterance if isinstance(utterance, str) else f"utterance {utterance.id}"
        raise SynthesisError(
            f"{what}: {name} failed (exit {result.returncode}): {' '.join(command)!r}: "
            f"{result.stderr.decode(errors='replace').strip() or 'no audio'}"
        )
    return soundfile.read(io.BytesIO(result.stdout), dtype="int16")


def run_espeak(espeak: str, utterance: SpokenUtterance) -> np.ndarray:
    """espeak-ng's waveform for ``utterance``: float64 in [-1, 1), shape ``(T,)`` at 22050 Hz."""

    command = [espeak, "--stdout", "-v", utterance.voice, "-s", str(utterance.speed_wpm), "-p", str(utterance.pitch),
               utterance.text]
    samples, rate = run_synthesizer(command, utterance, "espeak-ng")
    if rate != ESPEAK_RATE or samples.ndim != 1:
        raise SynthesisError(f"utterance {utterance.id}: espeak-ng gave {rate} Hz with shape {samples.shape}, "
                             f"expected mono {ESPEAK_RATE} Hz (an MBROLA voice? give espeak-ng's own voices)")
    return trim_silence(samples, utterance, f"espeak-ng voice {utterance.voice}")


def trim_silence(samples: np.ndarray, utterance: SpokenUtterance, source: str) -> np.ndarray:
    """A synthesizer's int16 ``samples`` without their leading / trailing near-silence (``|x| < 16``), as float64
    in [-1, 1); SynthesisError naming the utterance and ``source`` when nothing is left."""
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) >= _TRIM_LEVEL)
    if loud.size == 0:
        raise SynthesisError(f"utterance {utterance.id}: {source} gave silence for {utterance.text!r}")
    return samples[loud[0]: loud[-1] + 1].astype(np.float64) / 32768.0


def synthesize(utterance: SpokenUtterance, espeak: str, sample_rate: int) -> np.ndarray:
    """The utterance's int16 samples at ``sample_rate`` (module doc, steps 1-4), shape ``(T,)``."""
    return finish_speech(run_espeak(espeak, utterance), ESPEAK_RATE, utterance, sample_rate)


def finish_speech(speech: np.ndarray, rate: int, utterance: SpokenUtterance, sample_rate: int) -> np.ndarray:
    """Steps 2-4 of the module doc for any synthesizer: trimmed float ``speech`` at ``rate`` Hz, resampled to
    ``sample_rate``, levelled, padded with silence and noised as ``utterance`` says; int16, shape ``(T,)``."""
    speech = resample_poly(speech, sample_rate, rate)
    speech *= 10 ** (utterance.peak_dbfs / 20) / np.max(np.abs(speech))
    lead = round(utterance.leading_silence * sample_rate)
    trail = round(utterance.trailing_silence * sample_rate)
    signal = np.concatenate([np.zeros(lead), speech, np.zeros(trail)])
    noise_std = np.sqrt(np.mean(speech**2) / 10 ** (utterance.snr_db / 10))
    signal += noise_std * np.random.default_rng(utterance.noise_seed).standard_normal(signal.size)
    return np.clip(np.round(signal * 32768.0), -32768, 32767).astype(np.int16)


def synthesize_all(utterances: Sequence[SpokenUtterance], wav_dir: Path, program: str, sample_rate: int,
                   num_jobs: int, progress: bool = True, desc: str = "synthesis",
                   synthesize_one: Callable[[SpokenUtterance, str, int], np.ndarray] = synthesize,
                   ) -> tuple[float, float]:
    """Write ``wav_dir/<id>.wav`` for every utterance with ``num_jobs`` synthesizer processes at once (threads:
    the files do not depend on it); returns ``(audio seconds, wall seconds)``. ``synthesize_one(utterance,
    program, sample_rate)`` makes one utterance's int16 samples: espeak-ng's :func:`synthesize` unless another
    synthesizer's (:func:`blasr.data.flite.synthesize`)."""
    if num_jobs < 1:
        raise SynthesisError(f"num_jobs={num_jobs}: give at least 1")
    wav_dir.mkdir(parents=True, exist_ok=True)

    def make(utterance: SpokenUtterance) -> int:

        samples = synthesize_one(utterance, program, sample_rate)
        soundfile.write(wav_dir / f"{utterance.id}.wav", samples, sample_rate, subtype="PCM_16")
        return samples.size

    start = time.perf_counter()
    if num_jobs > 1:
        with ThreadPoolExecutor(num_jobs) as pool:
            lengths = list(progress_bar(pool.map(make, utterances), total=len(utterances), desc=desc,
                                        enabled=progress))
    else:
        lengths = [make(u) for u in progress_bar(utterances, desc=desc, enabled=progress)]
    return sum(lengths) / sample_rate, time.perf_counter() - start


# -- speakers -------------------------------------------------------------------------------------


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
        raise SynthesisError(
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


def speaker_order(speakers: Sequence[str], seed: int, split_index: int) -> list[str]:
    """A split's speakers in a seeded order: utterance ``i`` goes to speaker ``i mod S`` of it (round robin,
    so that a small corpus still mixes voices)."""
    return [speakers[j] for j in np.random.default_rng([seed, 1_000_004, split_index]).permutation(len(speakers))]


# -- writing --------------------------------------------------------------------------------------


def write_dict_dir(dict_dir: str | os.PathLike, lexicon: Mapping[str, Iterable[Sequence[str]]]) -> Path:
    """Kaldi's dict directory for ``lexicon`` (word -> pronunciations, silence phone ``SIL``), as read by
    :func:`blasr.kaldi.lang.prepare.read_dict_dir`; returns ``dict_dir``."""
    dict_dir = Path(dict_dir)
    dict_dir.mkdir(parents=True, exist_ok=True)
    entries = [f"{word} {' '.join(phones)}\n" for word in sorted(lexicon) for phones in lexicon[word]]
    nonsilence = sorted({p for prons in lexicon.values() for phones in prons for p in phones})
    (dict_dir / "lexicon.txt").write_text("".join(entries))
    (dict_dir / "silence_phones.txt").write_text(f"{SILENCE_PHONE}\n")
    (dict_dir / "optional_silence.txt").write_text(f"{SILENCE_PHONE}\n")
    (dict_dir / "nonsilence_phones.txt").write_text("".join(f"{p}\n" for p in nonsilence))
    (dict_dir / "extra_questions.txt").write_text("")  # Kaldi's prepare_lang.sh wants the file, empty is fine
    return dict_dir


def write_split(out: Path, split: str, utterances: Sequence[SpokenUtterance], sample_rate: int) -> CutSet:
    """Lhotse manifests and a Kaldi data directory for one split of the WAVs in ``out/wav``; returns its CutSet."""

    split_dir = out / split
    split_dir.mkdir(parents=True, exist_ok=True)
    utterances = sorted(utterances, key=lambda u: u.id)
    paths = {u.id: (out / "wav" / f"{u.id}.wav").resolve() for u in utterances}
    cuts, report = cuts_from_audio_files(
        paths.values(), sample_rate, speakers={u.id: u.speaker for u in utterances},
        texts={u.id: u.text for u in utterances},
    )
    if report.num_skipped:  # the files were just written: a skip is a bug, not bad input
        raise SynthesisError(f"{split_dir}: {report.num_skipped} synthesized files could not be read back: "
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


def settings_digest(settings: dict) -> str:
    """The digest of a corpus' settings that its ``.completed`` marker holds."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def load_corpus(out: str | os.PathLike, program: str) -> dict:
    """The ``{"train", "dev", "test"}`` CutSets of a finished corpus directory (``program`` makes it)."""
    out = Path(out)
    if not (out / MARKER).is_file():
        raise SynthesisError(f"{out} holds no finished corpus (no {MARKER}); run python -m blasr.{program}")
    return {split: CutSet.from_file(out / split / "cuts.jsonl.gz").to_eager() for split in SPLITS}


def start_corpus(out: Path, digest: str, overwrite: bool, what: str, stale: Iterable[str] = ()) -> bool:
    """True when ``out`` is already a finished corpus with these settings (``digest``) and not ``overwrite``.

    Otherwise ``out``'s own outputs (``wav``, ``dict``, the splits, ``stale``, the marker and the report) are
    removed for a new build; a corpus made with other settings is a SynthesisError unless ``overwrite``.
    """
    marker = out / MARKER
    if marker.is_file():
        if marker.read_text().strip() == digest and not overwrite:
            logger.info("%s %s is complete with these settings; not rebuilding", what, out)
            return True
        if not overwrite:
            raise SynthesisError(
                f"{out} holds a {what} made with other settings (see {out / 'report.json'}); "
                "give --overwrite to rebuild it, or another --out"
            )
    for name in ("wav", "dict", *SPLITS, *stale):  # ours only: a partial or overwritten run
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    for name in (MARKER, "report.json"):
        (out / name).unlink(missing_ok=True)
    return False
