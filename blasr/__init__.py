"""blasr: Big-Little ResNet acoustic models for hybrid speech recognition.

``blasr.System.load(DIR).transcribe(path_or_samples, sample_rate=None)``: words with times from a system
directory (:mod:`blasr.inference.system`; ``python -m blasr.package`` writes one).
"""

import importlib

from blasr import image, speech  # noqa: F401  (register the architectures)
from blasr.core.registry import create_model, list_models
from blasr.version import __version__

__all__ = ["System", "__version__", "create_model", "list_models"]


def __getattr__(name: str):
    # System is loaded on first use: its decoder, GMM and lhotse imports would add about 1.6 s to every
    # program that imports blasr (3.4 s against 1.8 s for `import blasr`, measured on 2 loaded cores)
    if name == "System":
        return importlib.import_module("blasr.inference.system").System
    raise AttributeError(f"module 'blasr' has no attribute {name!r}")
