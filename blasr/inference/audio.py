"""Audio a user hands over, in any form, at the rate and channel count a system wants.

* :func:`read_audio` — a WAV / FLAC / SPHERE file (lhotse's readers) -> ``(channels, N)`` float32 and its rate.
* :func:`mono_at_rate` — down-mix to one channel (the mean, as ``sox -c 1`` does) and resample
  (:func:`blasr.features.resample.resample_poly`) to the system's rate.
* :func:`find_inputs` — the program's INPUT arguments (audio files, directories of them, a ``wav.scp``, a Kaldi
  data directory, a lhotse cut manifest) as a list of :class:`AudioInput`, read one at a time when transcribed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from lhotse import Recording

from blasr.data.manifests import AUDIO_EXTENSIONS, cuts_from_kaldi_data_dir, find_audio_files
from blasr.features.extract import open_cuts
from blasr.features.resample import resample_poly
from blasr.utils.errors import BlasrError

MANIFEST_SUFFIXES = (".jsonl.gz", ".jsonl", ".json")


class AudioError(BlasrError, ValueError):
    """Audio that cannot be read or used (the message names the file or utterance)."""


@dataclass(frozen=True)
class AudioInput:
    """One utterance to transcribe: its id and where its audio is (a file path or a lhotse cut)."""

    utterance: str
    source: Any

    def load(self) -> tuple[np.ndarray, int]:
        """``((channels, N) float32, sample rate)``; :class:`AudioError` when it cannot be read."""
        if isinstance(self.source, (str, os.PathLike)):
            return read_audio(self.source)
        try:
            return np.atleast_2d(self.source.load_audio()).astype(np.float32), int(self.source.sampling_rate)
        except Exception as error:  # lhotse raises many types for unreadable sources and commands
            raise AudioError(f"{self.utterance}: unreadable audio: {_first_line(error)}") from None


def read_audio(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """A WAV / FLAC / SPHERE file -> ``((channels, N) float32 in [-1, 1], sample rate)``."""
    try:
        recording = Recording.from_file(path)
        return np.atleast_2d(recording.load_audio()).astype(np.float32), int(recording.sampling_rate)
    except Exception as error:  # soundfile / lhotse raise several types for missing or corrupt files
        raise AudioError(f"{path}: unreadable audio: {_first_line(error)}") from None


def mono_at_rate(samples: Any, sample_rate: int, target_rate: int, name: str = "audio") -> np.ndarray:
    """``(N,)`` or ``(channels, N)`` samples (float in [-1, 1] or int16) -> ``(M,)`` float32 at ``target_rate``:
    channels averaged, resampled by ``target_rate / sample_rate`` (``M = ceil(N * target / rate)``)."""
    if hasattr(samples, "detach"):  # torch.Tensor
        samples = samples.detach().cpu().numpy()
    array = np.asarray(samples)
    if array.dtype == np.int16:
        array = array.astype(np.float32) / np.float32(32768.0)
    if array.ndim == 1:
        array = array[None]
    if array.ndim != 2:
        raise AudioError(f"{name}: samples of shape {array.shape}; expected (N,) or (channels, N)")
    if array.shape[1] == 0:
        raise AudioError(f"{name}: empty audio: 0 samples")
    if array.shape[0] > array.shape[1]:
        raise AudioError(f"{name}: {array.shape[0]} channels of {array.shape[1]} samples: pass (channels, N), "
                         "not (N, channels)")
    mono = array.mean(axis=0) if array.shape[0] > 1 else array[0]
    if sample_rate != target_rate:
        mono = resample_poly(mono, target_rate, sample_rate)
    return np.ascontiguousarray(mono, dtype=np.float32)


def find_inputs(paths: list[str | os.PathLike], sample_rate: int) -> list[AudioInput]:
    """The utterances of every INPUT, in order: an audio file (id: its stem), a directory of audio files, a
    ``wav.scp`` (ids: its keys), a Kaldi data directory (``wav.scp`` + optional ``segments``: ids are the
    utterances) or a lhotse cut manifest (``*.jsonl.gz``: ids are the cut ids). Two utterances with one id
    are an error; so is an INPUT that does not exist."""
    inputs: list[AudioInput] = []
    for path in map(Path, paths):
        if path.is_dir() and (path / "wav.scp").is_file():
            cuts, _ = cuts_from_kaldi_data_dir(path, sample_rate)
            inputs.extend(AudioInput(cut.id, cut) for cut in cuts)
        elif path.is_dir():
            files = find_audio_files([path])
            if not files:
                raise AudioError(f"{path}: no audio files ({', '.join(AUDIO_EXTENSIONS)}) and no wav.scp")
            inputs.extend(AudioInput(file.stem, str(file)) for file in files)
        elif not path.exists():
            raise AudioError(f"{path}: no such file or directory")
        elif path.name.endswith(".scp"):
            cuts, _ = cuts_from_kaldi_data_dir(path, sample_rate)
            inputs.extend(AudioInput(cut.id, cut) for cut in cuts)
        elif path.name.endswith(MANIFEST_SUFFIXES):
            inputs.extend(AudioInput(cut.id, cut) for cut in open_cuts(path))
        else:
            inputs.append(AudioInput(path.stem, str(path)))
    seen: dict[str, AudioInput] = {}
    for item in inputs:
        if item.utterance in seen:
            raise AudioError(f"two inputs have the utterance id {item.utterance!r} ({_where(seen[item.utterance])} "
                             f"and {_where(item)}); rename one")
        seen[item.utterance] = item
    return inputs


def _where(item: AudioInput) -> str:
    return str(item.source) if isinstance(item.source, (str, os.PathLike)) else f"cut {item.source.id}"


def _first_line(error: BaseException) -> str:
    """The reason in one line; of lhotse's list of every backend's failure, the first backend's."""
    lines = str(error).strip().splitlines()
    first = next((line.split(">: ")[-1] for line in lines if line.startswith("Exception #0")), None)
    return first or (f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__)
