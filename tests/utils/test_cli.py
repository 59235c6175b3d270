import argparse
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


def kaldi_style_parser():
    p = cli.parser("blasr.x", None)
    p.add_argument("--overwrite", action="store_true", help="h")
    p.add_argument("--apply-log", action=argparse.BooleanOptionalAction, default=True, help="h")
    p.add_argument("dirs", nargs="*", help="h")
    return p


@pytest.mark.parametrize("argv, overwrite, apply_log", [
    ([], False, True),
    (["--overwrite"], True, True),
    (["--overwrite=true", "--apply-log=false"], True, False),
    (["--overwrite=FALSE", "--apply-log=T"], False, True),
    (["--overwrite=1", "--apply-log=0"], True, False),
    (["--no-apply-log"], False, False),
    (["--apply-log=false", "--apply-log"], False, True),  # the last one counts, as in Kaldi
])
def test_booleans_take_kaldis_syntax(argv, overwrite, apply_log):
    args = kaldi_style_parser().parse_args(argv)
    assert (args.overwrite, args.apply_log) == (overwrite, apply_log)


def test_a_bare_boolean_leaves_the_next_word_alone():
    args = kaldi_style_parser().parse_args(["--overwrite", "lang", "graph"])
    assert args.overwrite is True and args.dirs == ["lang", "graph"]


@pytest.mark.parametrize("argv, message", [
    (["--overwrite=yes"], "argument --overwrite: expected true or false, not 'yes'"),
    (["--no-apply-log=false"], "--no-apply-log takes no value; write --apply-log=false"),
])
def test_other_boolean_values_are_refused(argv, message, capsys):
    with pytest.raises(SystemExit) as done:
        kaldi_style_parser().parse_args(argv)
    assert done.value.code == 2 and message in capsys.readouterr().err


def gmm_style_parser():
    p = cli.parser("blasr.y", None)
    run = cli.subparser(p.add_subparsers(dest="command"), "run", "h")
    run.add_argument("--model", help="h")
    run.add_argument("--cmd", help="h")
    return p


@pytest.mark.parametrize("parser, argv, word", [
    (kaldi_style_parser, ["--over"], "--over"),
    (kaldi_style_parser, ["--apply=false"], "--apply=false"),
    (gmm_style_parser, ["run", "--mo", "m"], "--mo"),
    (gmm_style_parser, ["run", "--cm", "blasr-run"], "--cm"),
    (gmm_style_parser, ["run", "--cm=blasr-run"], "--cm=blasr-run"),
])
def test_options_are_taken_only_as_spelled(parser, argv, word, capsys):
    # an abbreviated --cmd would be missed by job_command, which re-runs a program without its --cmd
    assert gmm_style_parser().parse_args(["run", "--model", "m", "--cmd=blasr-run"]).cmd == "blasr-run"
    with pytest.raises(SystemExit) as done:
        parser().parse_args(argv)
    assert done.value.code == 2 and f"unrecognized arguments: {word}" in capsys.readouterr().err


def test_booleans_are_shown_as_kaldi_writes_them():
    text = " ".join(kaldi_style_parser().format_help().split())
    assert "[--overwrite[=true|false]]" in text
    assert "--apply-log[=true|false], --no-apply-log h (default: true)" in text
