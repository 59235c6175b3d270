"""Kaldi archives of matrices and vectors: one atomic writer, and readers for rspecifiers.

:class:`ArkWriter` writes a Kaldi binary archive (``ark``) and its index
(``scp``, ``utt /abs/path.ark:offset``) to temporary files and renames them into
place on :meth:`ArkWriter.commit`, so a crash never leaves a half-written
archive. It is the one archive writer of blasr: the export's score matrices,
the GMM's log-likelihoods and the frame targets (through lhotse's storage,
:mod:`blasr.data.storage`) are all written by it.

:func:`read_matrices` iterates an archive; :func:`open_matrices` maps utterance
to matrix, reading a script's entries on access.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Iterator, Mapping

import kaldiio
import numpy as np
from kaldiio.matio import write_array

from blasr.utils.files import default_file_mode

logger = logging.getLogger("blasr")


class ArkWriter:
    """Kaldi binary archive + scp index, written to temporary files and renamed on :meth:`commit`.

    Floating-point arrays are written as float32 matrices or vectors (what
    ``nnet-forward`` writes); integer arrays keep their type (int32 vectors are
    ``ali-to-pdf``'s ``BasicVectorHolder<int32>``). The scp lines point into the
    final archive path. Leaving the ``with`` block by an exception removes the
    temporary files and leaves any previous archive untouched.
    """

    def __init__(self, ark: str | os.PathLike, scp: str | os.PathLike) -> None:
        self.ark, self.scp = Path(ark).resolve(), Path(scp)
        self.ark.parent.mkdir(parents=True, exist_ok=True)
        self.keys: set[str] = set()
        fd, self._tmp_ark = tempfile.mkstemp(prefix=f".{self.ark.name}.", suffix=".tmp", dir=self.ark.parent)
        self._ark = os.fdopen(fd, "wb")
        fd, self._tmp_scp = tempfile.mkstemp(prefix=f".{self.scp.name}.", suffix=".tmp", dir=self.ark.parent)
        self._scp = os.fdopen(fd, "w")
        for tmp in (self._tmp_ark, self._tmp_scp):
            os.chmod(tmp, default_file_mode())

    def write(self, key: str, array: np.ndarray) -> int:
        """Append one matrix or vector; returns its offset in the archive (Kaldi's scp offset)."""
        if not key or any(ch.isspace() for ch in key):
            raise ValueError(f"Kaldi keys cannot be empty or contain whitespace: {key!r}")
        array = np.asarray(array)
        dtype = np.float32 if np.issubdtype(array.dtype, np.floating) else None
        self._ark.write(f"{key} ".encode())
        offset = self._ark.tell()  # Kaldi's scp offset points just past "key "
        write_array(self._ark, np.ascontiguousarray(array, dtype=dtype))  # "\0B" + Kaldi binary object
        self._scp.write(f"{key} {self.ark}:{offset}\n")
        self.keys.add(key)
        return offset

    def commit(self) -> None:
        for f in (self._ark, self._scp):
            f.flush()
            os.fsync(f.fileno())
            f.close()
        # the old index goes first: a crash between the renames leaves no index pointing into the wrong archive
        self.scp.unlink(missing_ok=True)
        os.replace(self._tmp_ark, self.ark)
        os.replace(self._tmp_scp, self.scp)

    def abort(self) -> None:
        for f, tmp in ((self._ark, self._tmp_ark), (self._scp, self._tmp_scp)):
            f.close()
            Path(tmp).unlink(missing_ok=True)

    def __enter__(self) -> "ArkWriter":
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.commit()
        else:
            self.abort()


def as_rspecifier(source: str | os.PathLike) -> str:
    """``source`` as kaldiio reads it: an rspecifier as it is, an existing path as ``scp:`` (``.scp``) or ``ark:``."""
    text = str(source)
    if ":" in text.split("/")[0]:
        return text
    if not Path(text).is_file():
        raise FileNotFoundError(f"{text}: no such file")
    return ("scp:" if text.endswith(".scp") else "ark:") + text


def archive_path(rspecifier: str | os.PathLike) -> Path:
    """The file an rspecifier reads (``scp:x.scp`` -> ``x.scp``, ``ark,t:x.txt`` -> ``x.txt``); not for pipes."""
    text = str(rspecifier)
    kind, sep, rest = text.partition(":")
    path = rest if sep and "/" not in kind else text
    if path.rstrip().endswith("|"):
        raise ValueError(f"{text}: a pipe names no file")
    return Path(path)


def read_matrices(source: str | os.PathLike) -> Iterator[tuple[str, np.ndarray]]:
    """``(utterance, matrix)`` from a Kaldi archive: an rspecifier (``ark:x.ark``, ``scp:x.scp``) or a path
    (``.scp`` read as a script, anything else as an archive), through kaldiio."""
    with kaldiio.ReadHelper(as_rspecifier(source)) as reader:
        for utterance, matrix in reader:
            yield utterance, np.asarray(matrix)


def open_matrices(source: str | os.PathLike) -> Mapping[str, np.ndarray]:
    """A mapping ``utterance -> matrix`` over a Kaldi archive that holds at most one matrix in memory
    when it is a script (``scp:x.scp`` or a ``.scp`` path: kaldiio reads each matrix on access, so a
    set far larger than RAM can be decoded, and re-decoded by a sweep); an archive without a script
    is read whole."""
    rspecifier = as_rspecifier(source)
    if rspecifier.startswith("scp:"):
        path = rspecifier[len("scp:"):]
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: no such file")
        return kaldiio.load_scp(path)
    logger.info("%s is an archive without a script: reading it whole (give its .scp to stream it)", source)
    return dict(read_matrices(rspecifier))
