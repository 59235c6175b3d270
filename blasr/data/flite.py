"""A second speech synthesizer, CMU Flite, for test sets that no model is trained on.

The synthetic corpora are made with espeak-ng (:mod:`blasr.data.espeak`); a
model trained on them has never heard another synthesizer. Flite (Debian's
``flite`` package: CMU Flite 2.2, a BSD-style licence; blasr runs it as a
command) is an independent engine with its own voices, none of them espeak-ng's:
``kal`` (a diphone voice at 8 kHz), ``kal16`` (the same diphone voice at
16 kHz), ``awb_time`` (unit selection from a limited-domain talking-clock
database), ``awb``, ``rms`` and ``slt`` (clustergen statistical parametric
voices at 16 kHz). ``flite -lv`` lists them; every one is used that can say
every word of the vocabulary (:func:`confused_words`): ``awb_time``, whose
database holds what a clock says, speaks "zero" with exactly the samples of
its "oh", so a reference "zero" could never be recognised from its audio, and
it is left out by default.

An utterance planned for espeak-ng (:class:`blasr.data.espeak.SpokenUtterance`)
is spoken by flite as:

1. ``flite -voice <voice> --setf duration_stretch=<175 / speed_wpm> -t "<words>"``
   (the drawn espeak-ng rate relative to espeak-ng's default of 175 words per
   minute; flite's own rate is its 1.0). The drawn pitch is not used: flite's
   pitch setting (``int_f0_target_mean``) is an absolute target in Hz whose
   default differs per voice, so each voice keeps its own. Leading / trailing
   near-silence (``|x| < 16 / 32768``) is trimmed.
2.-4. as every synthetic corpus (:func:`blasr.data.espeak.finish_speech`):
   resampled to ``sample_rate``, levelled to ``peak_dbfs``, padded with
   silence and noised at ``snr_db``, written as int16.

A speaker is ``flite_<voice>`` (one per voice: flite has no voice variants).
"""

from __future__ import annotations

import shutil
import subprocess
from typing import Sequence

import numpy as np

from blasr.data.espeak import SpokenUtterance, SynthesisError, finish_speech, pick_voices, run_synthesizer, trim_silence

SPEAKER_PREFIX = "flite_"
ESPEAK_DEFAULT_WPM = 175  # espeak-ng's -s default: the rate flite speaks at with duration_stretch 1


def find_flite() -> str:
    """The path of ``flite``; SynthesisError saying how to install it when it is not on PATH."""
    path = shutil.which("flite")
    if path is None:
        raise SynthesisError("flite is not on PATH: run local/install_flite.sh or apt-get install flite "
                             "(the held-out synthesizer's test set is made with it)")
    return path


def flite_version(flite: str) -> str:
    """``flite --version``'s version line, e.g. ``version: flite-2.2-current Sep 2018 ...``."""
    result = subprocess.run([flite, "--version"], capture_output=True, text=True)
    lines = [line.strip() for line in result.stdout.splitlines() if line.strip().startswith("version")]
    return lines[0] if lines else "unknown"


def flite_voices(flite: str) -> list[str]:
    """The voices compiled into ``flite``, sorted (``flite -lv``: ``Voices available: kal awb_time ...``)."""
    result = subprocess.run([flite, "-lv"], capture_output=True, text=True)
    prefix = "Voices available:"
    lines = [line for line in result.stdout.splitlines() if line.startswith(prefix)]
    voices = sorted(set(lines[0][len(prefix):].split())) if lines else []
    if result.returncode != 0 or not voices:
        raise SynthesisError(f"'{flite} -lv' lists no voice (exit {result.returncode}): "
                             f"{(result.stdout + result.stderr).strip()[:200]!r}; reinstall flite")
    return voices


def choose_voices(flite: str, wanted: Sequence[str] | None) -> list[str]:
    """``wanted`` (sorted, deduplicated) if flite has them all, every voice if None."""
    return pick_voices(flite_voices(flite), wanted, "flite has no voice")


def confused_words(flite: str, voice: str, words: Sequence[str]) -> list[tuple[str, str]]:
    """Pairs of different ``words`` that ``voice`` speaks with identical samples (each word alone, flite's own
    rate): a voice that does so cannot be scored against a text with those words (flite's limited-domain
    ``awb_time`` says "zero" as "oh"). Empty when the voice tells every word apart."""
    first: dict[bytes, str] = {}
    pairs = []
    for word in words:
        command = [flite, "-voice", voice, "-t", word, "-o", "/dev/stdout"]
        samples = run_synthesizer(command, f"the word {word!r}", f"flite voice {voice}")[0].tobytes()
        if samples in first:
            pairs.append((first[samples], word))
        else:
            first[samples] = word
    return pairs


def speaker_voice(speaker: str) -> str:
    """The flite voice of speaker ``flite_<voice>``."""
    if not speaker.startswith(SPEAKER_PREFIX):
        raise SynthesisError(f"speaker {speaker!r} is not a flite speaker ({SPEAKER_PREFIX}<voice>)")
    return speaker[len(SPEAKER_PREFIX):]


def run_flite(flite: str, utterance: SpokenUtterance) -> tuple[np.ndarray, int]:
    """flite's trimmed waveform for ``utterance`` (module doc, step 1) and its rate in Hz (8000 for ``kal``,
    16000 for the others): float64 in [-1, 1), shape ``(T,)``."""
    voice = speaker_voice(utterance.speaker)
    stretch = ESPEAK_DEFAULT_WPM / utterance.speed_wpm
    command = [flite, "-voice", voice, "--setf", f"duration_stretch={stretch:.4f}", "-t", utterance.text,
               "-o", "/dev/stdout"]
    samples, rate = run_synthesizer(command, utterance, "flite")
    if samples.ndim != 1:
        raise SynthesisError(f"utterance {utterance.id}: flite voice {voice} gave shape {samples.shape}, "
                             "expected mono")
    return trim_silence(samples, utterance, f"flite voice {voice}"), rate


def synthesize(utterance: SpokenUtterance, flite: str, sample_rate: int) -> np.ndarray:
    """The utterance's int16 samples at ``sample_rate`` (module doc, steps 1-4), shape ``(T,)``; the
    ``synthesize_one`` of :func:`blasr.data.espeak.synthesize_all`."""
    speech, rate = run_flite(flite, utterance)
    return finish_speech(speech, rate, utterance, sample_rate)
