"""blasr: Big-Little ResNet acoustic models for hybrid speech recognition."""

from blasr.core.registry import create_model, list_models
from blasr import image, speech  # noqa: F401  (register the architectures)

__version__ = "0.1.0"
__all__ = ["create_model", "list_models"]
