"""blasr: Big-Little ResNet acoustic models for hybrid speech recognition."""

from blasr import image, speech  # noqa: F401  (register the architectures)
from blasr.core.registry import create_model, list_models
from blasr.version import __version__

__all__ = ["__version__", "create_model", "list_models"]
