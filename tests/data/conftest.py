import shutil

import numpy as np
import pytest
import torch
from lhotse import CutSet

from blasr.data import attach_targets, cuts_from_audio_files
from blasr.features import FbankConfig, compute_features
from tests.features.synthetic import tones_and_noise, write_wav

# Feature frames per utterance: shorter and longer than a 49-frame window, one of a single frame.
FRAMES = (30, 49, 50, 77, 1, 123, 5, 61)
NUM_PDFS = 8000  # above every pdf_id below

# the synthesizers the corpus tests run (installed by local/test.sh where it can)
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                  reason="espeak-ng is not installed (local/install_espeak.sh)")
needs_flite = pytest.mark.skipif(shutil.which("flite") is None,
                                 reason="flite is not installed (local/install_flite.sh)")


def pdf_id(utterance: int, frame: int) -> int:
    """Targets that name their own frame, so a batch row can be checked against its position."""
    return 1000 * utterance + frame


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """8 kHz utterances with stored features and targets; returns the manifest path."""
    root = tmp_path_factory.mktemp("corpus")
    rng = torch.Generator().manual_seed(99)
    paths = []
    for i, frames in enumerate(FRAMES):
        num_samples = 200 + (frames - 1) * 80 + int(torch.randint(0, 80, (1,), generator=rng))
        paths.append(write_wav(root / "audio" / f"utt{i}.wav", tones_and_noise(num_samples, 8000, rng), 8000))
    speakers = {f"utt{i}": f"spk{i % 2}" for i in range(len(FRAMES))}
    cuts, _ = cuts_from_audio_files(paths, sample_rate=8000, speakers=speakers)
    features, _ = compute_features(cuts, root / "fbank", FbankConfig(sample_rate=8000), progress=False)
    alignments = {
        f"utt{i}": np.array([pdf_id(i, t) for t in range(frames)], dtype=np.int32) for i, frames in enumerate(FRAMES)
    }
    manifest, report = attach_targets(features, alignments, root / "targets", num_pdfs=NUM_PDFS)
    assert report.kept == len(FRAMES) and not report.fixed
    assert [c.features.num_frames for c in CutSet.from_file(manifest)] == list(FRAMES)
    return manifest
