"""Image classifiers on the shared Big-Little core: (bL-)ResNet, ResNeXt, SE-ResNeXt."""

from blasr.image import zoo  # noqa: F401  (registers the architectures)
from blasr.image.config import ImageNetConfig
from blasr.image.model import ImageResNet

__all__ = ["ImageNetConfig", "ImageResNet"]
