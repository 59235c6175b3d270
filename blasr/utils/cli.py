"""What the programs (``blasr/*.py``) share: one help layout, one ``--nj``, one log format, one way to
report a written manifest (:func:`write_and_report`).

Every program builds its parser with :func:`parser` (subcommands with
:func:`subparser`): the description is printed as written and each option's
default follows its help, ``(default: 4)``, unless the help already says it,
the option is required, or there is none (``None``, empty). Parallel processes are
always ``--nj`` (Kaldi's name), added by :func:`add_nj`; an older spelling
stays accepted but is not shown.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

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


def write_and_report(write: Callable[[], tuple[Any, Any]],
                     errors: tuple[type[BaseException], ...] = (OSError, ValueError)) -> int:
    """Run ``write`` (returns the written manifest and its report): print the report's summary and
    ``wrote MANIFEST``, exit status 0; one of ``errors`` becomes ``error: ...`` on stderr, status 1."""
    try:
        manifest, report = write()
    except errors as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(report.summary())
    print(f"wrote {manifest}")
    return 0
