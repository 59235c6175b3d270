"""What the programs (``blasr/*.py``) share: one help layout, one ``--nj``, one log format, one way to
report a written manifest (:func:`write_and_report`), one way to fail (:func:`program`).

Every program builds its parser with :func:`parser` (subcommands with
:func:`subparser`): the description is printed as written and each option's
default follows its help, ``(default: 4)``, unless the help already says it,
the option is required, or there is none (``None``, empty). Parallel processes are
always ``--nj`` (Kaldi's name), added by :func:`add_nj`; an older spelling
stays accepted but is not shown.

Boolean options take Kaldi's syntax (``ParseOptions``): ``--flag`` alone is true, ``--flag=VALUE`` takes
true/t/1 or false/f/0 (any case), anything else is an error naming the option; ``--no-flag`` stays where
it existed. Every ``store_true`` and ``BooleanOptionalAction`` option of a :func:`parser` is such an
option (:class:`KaldiBool`); a bare ``--flag`` never takes the next word as its value.

Every program's ``main`` is wrapped by :func:`program`: an error the user can fix (a
:class:`~blasr.utils.errors.BlasrError`, an ``OSError``, or a ``ValueError`` that blasr's own code
raised to reject an input) becomes one line, ``error: <message>``, on stderr and exit status 1; any
other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import functools
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from blasr.utils import logs
from blasr.utils.errors import BlasrError

TRUE, FALSE = ("true", "t", "1"), ("false", "f", "0")  # Kaldi's ParseOptions::ToBool (case-insensitive)


def kaldi_bool(text: str) -> bool:
    """``true``/``t``/``1`` or ``false``/``f``/``0`` in any case, as Kaldi's programs take a boolean."""
    if text.lower() in TRUE:
        return True
    if text.lower() in FALSE:
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, not {text!r}")


class KaldiBool(argparse.Action):
    """A boolean option: ``--flag``, ``--flag=true|false`` and, with ``negative``, ``--no-flag``."""

    def __init__(self, option_strings: Sequence[str], dest: str, default: Any = False, negative: bool = False,
                 required: bool = False, help: str | None = None, **ignored: Any) -> None:
        strings = list(option_strings)
        if negative:
            strings += ["--no-" + s[2:] for s in option_strings if s.startswith("--")]
        self.negatives = tuple(strings[len(option_strings):])
        super().__init__(strings, dest, nargs="?", default=default, type=kaldi_bool, required=required, help=help)

    def __call__(self, parser, namespace, value, option_string=None) -> None:
        setattr(namespace, self.dest, option_string not in self.negatives and value is not False)


class KaldiBoolOptional(KaldiBool):
    """What ``argparse.BooleanOptionalAction`` becomes: a :class:`KaldiBool` that keeps its ``--no-flag``."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, negative=True, **kwargs)


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose boolean options are :class:`KaldiBool` (subcommands are Parsers too) and
    whose options are taken only as spelled (no ``--mo`` for ``--model``, as Kaldi's ``ParseOptions``): a
    program started with ``--cmd`` re-runs itself without its ``--cmd`` and finds that option by name."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)
        self.register("action", "store_true", KaldiBool)
        self.register("action", argparse.BooleanOptionalAction, KaldiBoolOptional)

    def parse_known_args(self, args=None, namespace=None):
        """A bare boolean ``--flag`` is read as ``--flag=true``, so it never swallows the next word (a
        positional argument)."""
        args = list(sys.argv[1:] if args is None else args)
        booleans = {s: a for a in self._actions if isinstance(a, KaldiBool) for s in a.option_strings}
        for i, arg in enumerate(args):
            if arg == "--":
                break
            name = arg.split("=", 1)[0]
            action = booleans.get(name)
            if action is None:
                continue
            if "=" not in arg:
                args[i] = arg + "=true"
            elif name in action.negatives:
                self.error(f"{name} takes no value; write {action.option_strings[0]}=false")
        return super().parse_known_args(args, namespace)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """The description as written; ``(default: X)`` after each option's help where it tells something;
    a boolean option shown as Kaldi writes it, ``--flag[=true|false]``."""

    def _format_args(self, action: argparse.Action, default_metavar: str) -> str:
        if isinstance(action, KaldiBool):
            return "[=true|false]"
        return super()._format_args(action, default_metavar)

    def _format_actions_usage(self, actions, groups) -> str:
        return super()._format_actions_usage(actions, groups).replace(" [=true|false]", "[=true|false]")

    def _format_action_invocation(self, action: argparse.Action) -> str:
        if isinstance(action, KaldiBool):
            return ", ".join(s if s in action.negatives else s + "[=true|false]" for s in action.option_strings)
        return super()._format_action_invocation(action)

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
            if isinstance(action, KaldiBool) and isinstance(action.default, bool):
                text += f" (default: {str(action.default).lower()})"
            else:
                text += " (default: %(default)s)"
        return text


def parser(prog: str, description: str | None, **kwargs: Any) -> Parser:
    """The parser of ``python -m <prog>`` (``kwargs``: more ``ArgumentParser`` settings)."""
    return Parser(prog=f"python -m {prog}", description=description, formatter_class=HelpFormatter, **kwargs)


def subparser(subparsers, name: str, help: str, description: str | None = None) -> argparse.ArgumentParser:
    """A subcommand with the same help layout (its ``--help`` shows ``description``, else ``help``)."""
    return subparsers.add_parser(name, help=help, description=description or help, formatter_class=HelpFormatter)


def add_nj(p: argparse.ArgumentParser, default: int, help: str, old: Sequence[str] = ()) -> None:
    """``--nj N``: how many processes run at once; the spellings in ``old`` are hidden aliases of it."""
    p.add_argument("--nj", type=int, default=default, help=help)
    if old:
        p.add_argument(*old, dest="nj", type=int, default=argparse.SUPPRESS, help=argparse.SUPPRESS)


USE_GPU = {"yes": "cuda", "no": "cpu", "optional": None}  # nnet3-compute's --use-gpu, as a --device


class UseGpu(argparse.Action):
    """``--use-gpu=yes|no|optional`` sets ``--device``: cuda (an error without CUDA), cpu, or cuda when available."""

    def __call__(self, parser, namespace, value, option_string=None) -> None:
        if value == "yes" and not torch.cuda.is_available():
            parser.error(f"{option_string}=yes but no CUDA device is available here; use {option_string}=optional "
                         "(CUDA when available) or =no")
        setattr(namespace, self.dest, USE_GPU[value])


def add_use_gpu(p: argparse.ArgumentParser) -> None:
    """Kaldi's ``--use-gpu=yes|no|optional`` (nnet3-compute) as another spelling of ``--device``."""
    p.add_argument("--use-gpu", choices=tuple(USE_GPU), dest="device", action=UseGpu, default=argparse.SUPPRESS,
                   help="as Kaldi's nnet3-compute: yes = --device cuda, failing without CUDA; no = --device cpu; "
                        "optional = cuda when available (default: --device's)")


def setup_logging() -> None:
    """INFO messages on stderr in the one format (:func:`blasr.utils.logs.setup_logging`)."""
    logs.setup_logging()


def write_and_report(write: Callable[[], tuple[Any, Any]]) -> int:
    """Run ``write`` (returns the written manifest and its report, whose summary it has logged): print
    ``wrote MANIFEST``, exit status 0 (a failure is :func:`program`'s to report)."""
    manifest, _ = write()
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
