from collections.abc import Callable

import numpy as np
import pytest

from blasr.kaldi.formats.io import KaldiFormatError
from blasr.utils import cli
from blasr.utils.errors import BlasrError, MissingKeyError
from blasr.utils.jobs import contiguous_shares


def failing(error: Exception | Callable[[], object]):
    @cli.program
    def main(argv=None):
        if callable(error):
            error()
        raise error
    return main


@pytest.mark.parametrize("error, line", [
    (KaldiFormatError("feats.ark: byte 12: expected a matrix"), "error: feats.ark: byte 12: expected a matrix"),
    (FileNotFoundError(2, "No such file or directory", "final.pt"),
     "error: [Errno 2] No such file or directory: 'final.pt'"),
    (MissingKeyError("utterance u1: word 'zzz' is not in words.txt"),
     "error: utterance u1: word 'zzz' is not in words.txt"),  # no KeyError quotes around it
    (lambda: contiguous_shares([1, 2], 0), "error: num_jobs must be at least 1, not 0"),  # a blasr ValueError
])
def test_a_users_error_is_one_line_and_status_1(error, line, capsys):
    assert failing(error)(["--x"]) == 1
    captured = capsys.readouterr()
    assert captured.err == line + "\n" and captured.out == ""


def test_library_errors_share_the_base_class():
    assert issubclass(KaldiFormatError, BlasrError) and issubclass(KaldiFormatError, ValueError)
    assert issubclass(MissingKeyError, KeyError)


@pytest.mark.parametrize("bug", [
    lambda: np.zeros(6).reshape(4),  # a ValueError raised inside numpy, not by a blasr check
    lambda: {}["missing"],
    lambda: None.shape,
])
def test_a_bug_keeps_its_traceback(bug):
    @cli.program
    def main(argv=None):
        bug()

    with pytest.raises((ValueError, KeyError, AttributeError)):
        main([])


def test_the_programs_status_passes_through():
    @cli.program
    def main(argv=None):
        return 3

    assert main([]) == 3
