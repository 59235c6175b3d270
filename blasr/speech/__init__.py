"""Speech acoustic models: time-unpadded ResNet-22 and the bL-ResNet-22 family."""

from blasr.speech import zoo  # noqa: F401  (registers the architectures)
from blasr.speech.config import SpeechNetConfig, StageConfig
from blasr.speech.model import SpeechResNet

__all__ = ["SpeechNetConfig", "SpeechResNet", "StageConfig"]
