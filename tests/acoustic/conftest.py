"""A tiny learnable corpus: tone segments -> features -> targets derived from the features.

Each utterance is a sequence of segments, each a tone in one of four
frequency bands (plus noise). A frame's target is the band (of four groups of
16 mel bins) with the most energy in that frame's stored static log-mel, so
targets line up with the features exactly and a tiny model learns them.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from blasr.data import attach_targets, cuts_from_audio_files
from blasr.features import FbankConfig, compute_features, load_static, open_cuts, utterance_cmvn
from tests.features.synthetic import write_wav
from tests.utils.test_distributed import TORCHRUN_VARS

SAMPLE_RATE = 8000
NUM_CLASSES = 4
TONES = (212.0, 780.0, 1640.0, 2930.0)  # the mel centres of the four bands of 16 bins at 8 kHz


def tone_segments(num_frames: int, rng: np.random.Generator) -> np.ndarray:
    """int16 audio of ``num_frames`` 10 ms frames (snip_edges): tones switching every 8..30 frames."""
    num_samples = 200 + (num_frames - 1) * 80 + int(rng.integers(0, 80))
    t = np.arange(num_samples) / SAMPLE_RATE
    signal = np.zeros(num_samples)
    start = 0
    while start < num_samples:
        length = int(rng.integers(8, 31)) * 80
        band = int(rng.integers(0, NUM_CLASSES))
        end = min(num_samples, start + length)
        amplitude = rng.uniform(0.2, 0.6)
        signal[start:end] = amplitude * np.sin(2 * np.pi * TONES[band] * t[start:end] + rng.uniform(0, 6.28))
        start = end
    signal += 0.02 * rng.standard_normal(num_samples)
    return (np.clip(signal, -1, 1) * 32767).round().astype(np.int16)


def band_targets(static: np.ndarray) -> np.ndarray:
    """``(T, 64)`` static log-mel -> ``(T,)`` the band of 16 bins loudest relative to its utterance mean
    (the utterance-normalised statics the model sees)."""
    normalised = utterance_cmvn(static, True)
    return normalised.reshape(len(static), NUM_CLASSES, -1).mean(axis=2).argmax(axis=1).astype(np.int32)


def make_corpus(root: Path, frames: list[int], seed: int) -> Path:
    """Audio, features and targets for utterances of the given frame counts; returns the manifest."""
    rng = np.random.default_rng(seed)
    paths = [write_wav(root / "audio" / f"utt{seed}_{i}.wav", tone_segments(n, rng), SAMPLE_RATE)
             for i, n in enumerate(frames)]
    cuts, _ = cuts_from_audio_files(paths, sample_rate=SAMPLE_RATE)
    features, _ = compute_features(cuts, root / "fbank", FbankConfig(sample_rate=SAMPLE_RATE), progress=False)
    alignments = {cut.id: band_targets(load_static(cut)) for cut in open_cuts(features)}
    manifest, report = attach_targets(features, alignments, root / "targets", num_pdfs=NUM_CLASSES)
    assert report.kept == len(frames)
    return manifest


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> dict[str, Path]:
    """``train`` (10 utterances, 1,250 frames) and ``valid`` (3 utterances) manifests."""
    root = tmp_path_factory.mktemp("speech")
    train = make_corpus(root / "train", [150, 90, 130, 60, 170, 110, 140, 80, 200, 120], seed=1)
    valid = make_corpus(root / "valid", [120, 70, 100], seed=2)
    return {"train": train, "valid": valid}


@pytest.fixture(autouse=True)
def single_process(monkeypatch):
    """One process with one thread: no torchrun variables leak in, and tiny models do not pay for
    OpenMP threads fighting over a small, possibly busy, machine."""
    for name in TORCHRUN_VARS:
        monkeypatch.delenv(name, raising=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


def cli_env() -> dict[str, str]:
    """The environment for a command-line run in a subprocess: one thread, no torchrun variables."""
    env = {k: v for k, v in os.environ.items() if k not in TORCHRUN_VARS}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return env
