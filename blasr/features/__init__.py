"""Kaldi-compatible features: 64-bin log-mel, Δ/ΔΔ (``add-deltas``), mean/variance normalisation.

* :func:`logmel` — one waveform -> ``(T, 64)`` float32, Kaldi's fbank with snip_edges.
* :func:`add_deltas` — ``(T, F)`` -> ``(3, T, F)``, Kaldi's ``add-deltas`` (order 2, window 2).
* :func:`model_input` — stored statics -> ``(3, F, T)`` network input (normalised, with Δ/ΔΔ).
* :func:`compute_features` — a whole manifest, in parallel, into a lilcom archive.
* :mod:`~blasr.features.transforms` — noise, reverberation, telephone band as lazy lhotse audio transforms.

See ``docs/features.md``.
"""

from blasr.features.cmvn import NORMALIZATIONS, CmvnStats, CmvnTable, apply_cmvn, compute_cmvn_table, utterance_cmvn
from blasr.features.config import FbankConfig
from blasr.features.deltas import add_deltas, delta_kernels
from blasr.features.extract import compute_features, feature_frames, load_static, open_cuts
from blasr.features.fbank import FeatureError, compute_logmel, logmel
from blasr.features.input import model_input, normalized_with_deltas, replicate_edges
from blasr.features.report import StageReport
from blasr.features.transforms import AdditiveNoise, Equalizer, Reverb, Telephone  # registered with lhotse by name

__all__ = [
    "NORMALIZATIONS",
    "AdditiveNoise",
    "CmvnStats",
    "CmvnTable",
    "Equalizer",
    "FbankConfig",
    "FeatureError",
    "Reverb",
    "StageReport",
    "Telephone",
    "add_deltas",
    "apply_cmvn",
    "compute_cmvn_table",
    "compute_features",
    "compute_logmel",
    "delta_kernels",
    "feature_frames",
    "load_static",
    "logmel",
    "model_input",
    "normalized_with_deltas",
    "open_cuts",
    "replicate_edges",
    "utterance_cmvn",
]
