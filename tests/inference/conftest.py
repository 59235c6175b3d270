# The tiny learnable corpus and the one-process, one-thread setting of the training tests.
from tests.acoustic.conftest import corpus, single_process  # noqa: F401
