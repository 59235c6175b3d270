"""The base of the errors a user can fix: a bad input file, a missing setting, an inconsistent option.

A program (``blasr/*.py``) prints such an error as one line, ``error: <message>``, and exits 1
(:func:`blasr.utils.cli.program`); anything else is a bug and keeps its traceback. Each room names its
own errors (``FeatureError``, ``KaldiFormatError``, ``CheckpointError`` ...) as subclasses of
:class:`BlasrError` and of the built-in error they always were, so ``except ValueError`` still catches them.
"""

from __future__ import annotations


class BlasrError(Exception):
    """A user's input, setting or environment is wrong; the message names the file or utterance and what to do."""


class MissingKeyError(BlasrError, KeyError):
    """A name looked up in a user's file that is not there (a word, a phone, a speaker's statistics)."""

    def __str__(self) -> str:  # KeyError's own quotes the message as a repr
        return str(self.args[0]) if self.args else ""
