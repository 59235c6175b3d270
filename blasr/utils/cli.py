"""What the programs (``blasr/*.py``) share: one help layout, one ``--nj``, one log format, one way to
report a written manifest (:func:`write_and_report`), one way to fail (:func:`program`).

Every program builds its parser with :func:`parser` (subcommands with
:func:`subparser`): the description is printed as written and each option's
default follows its help, ``(default: 4)``, unless the help already says it,
the option is required, or there is none (``None``, empty). Parallel processes are
always ``--nj`` (Kaldi's name), added by :func:`add_nj`; an older spelling
stays accepted but is not shown.

Every program's ``main`` is wrapped by :func:`program`: an error the user can fix (a
:class:`~blasr.utils.errors.BlasrError`, an ``OSError``, or a ``ValueError`` that blasr's own code
raised to reject an input) becomes one line, ``error: <message>``, on stderr and exit status 1; any
other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import functools
import logging
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from blasr.utils.errors import BlasrError

LOG_FORMAT = "%(asctime)s %(levelname)s %(message)s"


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """The description as written; ``(default: X)`` after each option's help where it tells something."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (
            action.option_strings
            and not action.required
            and action.default is not None
            and action.default is not argparse.SUPPRESS
            and action.default not in ("", [], ())
            and "default" not in text
            and not isinstance(action, (argparse._HelpAction, argparse._VersionAction))
        ):
            text += " (default: %(default)s)"
        return text


def parser(prog: str, description: str | None) -> argparse.ArgumentParser:
    """The parser of ``python -m <prog>``."""
    return argparse.ArgumentParser(prog=f"python -m {prog}", description=description, formatter_class=HelpFormatter)


def subparser(subparsers, name: str, help: str, description: str | None = None) -> argparse.ArgumentParser:
    """A subcommand with the same help layout (its ``--help`` shows ``description``, else ``help``)."""
    return subparsers.add_parser(name, help=help, description=description or help, formatter_class=HelpFormatter)


def add_nj(p: argparse.ArgumentParser, default: int, help: str, old: Sequence[str] = ()) -> None:
    """``--nj N``: how many processes run at once; the spellings in ``old`` are hidden aliases of it."""
    p.add_argument("--nj", type=int, default=default, help=help)
    if old:
        p.add_argument(*old, dest="nj", type=int, default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def setup_logging() -> None:
    """INFO messages with a time stamp on stderr (what every program logs)."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)


def write_and_report(write: Callable[[], tuple[Any, Any]]) -> int:
    """Run ``write`` (returns the written manifest and its report): print the report's summary and
    ``wrote MANIFEST``, exit status 0 (a failure is :func:`program`'s to report)."""
    manifest, report = write()
    print(report.summary())
    print(f"wrote {manifest}")
    return 0


PACKAGE = Path(__file__).resolve().parents[1]


def is_user_error(error: BaseException) -> bool:
    """A :class:`BlasrError`, an ``OSError`` (a file missing or unreadable), or a ``ValueError`` raised by
    blasr's own code (its input checks); a ``ValueError`` from inside a library blasr calls is a bug."""
    if isinstance(error, (BlasrError, OSError)):
        return True
    if isinstance(error, ValueError) and error.__traceback__ is not None:
        raised_in = Path(traceback.extract_tb(error.__traceback__)[-1].filename).resolve()
        return raised_in.is_relative_to(PACKAGE)
    return False


def program(main: Callable[[list[str] | None], int | None]) -> Callable[[list[str] | None], int | None]:
    """``main`` of a program: a user's error (:func:`is_user_error`) becomes ``error: <message>`` on stderr
    and status 1; anything else propagates with its traceback."""

    @functools.wraps(main)
    def run(argv: list[str] | None = None) -> int | None:
        try:
            return main(argv)
        except Exception as error:
            if not is_user_error(error):
                raise
            print(f"error: {error}", file=sys.stderr)
            return 1

    return run
