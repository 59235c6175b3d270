"""Data: lhotse manifests, frame-level targets, window and chunk loaders.

* :mod:`~blasr.data.manifests` — cuts from a Kaldi data directory or audio files.
* :mod:`~blasr.data.targets` — pdf-id targets checked against the features, stored with the cuts.
* :mod:`~blasr.data.loader` — :class:`FrameLoader`: window / chunk batches, sharded, shuffled, resumable.
* :mod:`~blasr.data.perturb` — speed, volume, noise, reverberation and telephone copies (lazy lhotse transforms).

See ``docs/features.md``.
"""

from blasr.data import storage  # noqa: F401  (registers the kaldi_ark lhotse storage)
from blasr.data.loader import MODES, FrameDataset, FrameLoader
from blasr.data.manifests import (
    cuts_from_audio_files,
    cuts_from_kaldi_data_dir,
    cuts_from_manifests,
    read_kaldi_data_dir,
)
from blasr.data.perturb import (  # registers the audio transforms of perturbed copies
    PerturbOptions,
    perturb_cuts,
    with_clean_alignments,
    write_perturbed,
)
from blasr.data.targets import IGNORE_INDEX, attach_targets, check_targets, load_targets

__all__ = [
    "IGNORE_INDEX",
    "MODES",
    "FrameDataset",
    "FrameLoader",
    "PerturbOptions",
    "attach_targets",
    "check_targets",
    "cuts_from_audio_files",
    "cuts_from_kaldi_data_dir",
    "cuts_from_manifests",
    "load_targets",
    "perturb_cuts",
    "read_kaldi_data_dir",
    "with_clean_alignments",
    "write_perturbed",
]
