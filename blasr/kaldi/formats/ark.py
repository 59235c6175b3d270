"""Kaldi archives of matrices and vectors: writers for wspecifiers, readers for rspecifiers.

Writing: :func:`open_writer` takes a Kaldi wspecifier. To files (``ark:x.ark``,
``ark,scp:x.ark,x.scp``, ``ark,t:x.txt``) it is an :class:`ArkWriter`, which
writes the archive and its index (``utt /abs/path.ark:offset``) to temporary
files and renames them into place on :meth:`ArkWriter.commit`, so a crash never
leaves a half-written archive. To a stream (``ark:-``, standard output, or
``ark:| gzip -c > x.gz``, a command reading it) it is a :class:`StreamArkWriter`.
``ArkWriter`` is the one file writer of blasr: the export's score matrices, the
GMM's log-likelihoods and the frame targets (through lhotse's storage,
:mod:`blasr.data.storage`) are all written by it. Its temporary files are held
under an OS lock while written; a writer of the same output removes those that
a killed run left (:func:`blasr.utils.files.temporary_beside`). A write that
fails (full disk, unwritable directory) is an :class:`ArchiveWriteError` naming
the file and what to do.

Reading: :func:`read_matrices` iterates an rspecifier (``ark:x.ark``,
``scp:x.scp``, ``ark:-``, ``ark:gunzip -c x.gz |``; binary or text entries);
:func:`open_matrices` maps utterance to matrix, reading a script's entries on
access. Every size in a binary header (rows, columns, elements) is checked
against the bytes the file still holds before anything is allocated, so a
corrupt or hostile archive is a :class:`~blasr.kaldi.formats.io.KaldiFormatError`
naming the file and the utterance, never a huge allocation. Compressed matrices
(``CM``, ``CM2``, ``CM3``) are checked the same way and decoded by kaldiio.
"""

from __future__ import annotations

import errno
import io
import logging
import os
import stat
import struct
from pathlib import Path
from typing import IO, Iterator, Mapping

import numpy as np
from kaldiio.matio import read_matrix_or_vector, write_array, write_array_ascii
from kaldiio.utils import open_like_kaldi

from blasr.kaldi.formats.io import BINARY_HEADER, WHITESPACE, KaldiFormatError, KaldiReader
from blasr.utils.files import CommitOnExit, default_file_mode, temporary_beside

logger = logging.getLogger("blasr")

CHUNK_BYTES = 1 << 24  # reads from a stream of unknown length grow by at most this much past the data
MAX_KEY_BYTES = 1 << 16
FLOAT_TYPES = {"FM": "<f4", "DM": "<f8", "FV": "<f4", "DV": "<f8"}
COMPRESSED_TYPES = ("CM", "CM2", "CM3")
WRITE_OPTIONS = {"b", "t", "f", "nf", "p"}  # Kaldi's wspecifier options (flush and permissive change nothing here)
READ_OPTIONS = {"b", "t", "o", "no", "s", "ns", "cs", "ncs", "p", "bg"}


class ArchiveWriteError(OSError):
    """An archive that cannot be written (full disk, unwritable directory, a pipe that failed)."""


def write_error(path: str | os.PathLike, error: OSError) -> ArchiveWriteError:
    """``error`` while writing ``path`` as one line: the file, what happened and what to do."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        advice = "free space on that disk or write the output elsewhere"
    elif error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        advice = "make the directory writable or write the output elsewhere"
    else:
        advice = "check the disk and the path"
    return ArchiveWriteError(error.errno, f"{path}: cannot write ({error.strerror or error}): {advice}")


class ArkWriter(CommitOnExit):
    """Kaldi archive (+ optional scp index), written to temporary files and renamed on :meth:`commit`.

    Floating-point arrays are written as float32 matrices or vectors (what
    ``nnet-forward`` writes); integer arrays keep their type (int32 vectors are
    ``ali-to-pdf``'s ``BasicVectorHolder<int32>``). ``text=True`` writes Kaldi's
    text form (``ark,t:``). The scp lines point into the final archive path.
    Leaving the ``with`` block by an exception removes the temporary files and
    leaves any previous archive untouched.
    """

    def __init__(self, ark: str | os.PathLike, scp: str | os.PathLike | None = None, text: bool = False) -> None:
        self.ark, self.scp = Path(ark).resolve(), Path(scp) if scp is not None else None
        self.text = text
        self.keys: set[str] = set()
        self._files: list[tuple[IO, str]] = []
        try:
            for path in (self.ark, self.scp):
                if path is not None:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    fd, tmp = temporary_beside(path)
                    os.chmod(tmp, default_file_mode())
                    self._files.append((os.fdopen(fd, "wb"), tmp))
        except OSError as error:
            self.abort()
            raise write_error(self.ark, error) from None

    def write(self, key: str, array: np.ndarray) -> int:
        """Append one matrix or vector; returns its offset in the archive (Kaldi's scp offset)."""
        check_key(key)
        ark = self._files[0][0]
        try:
            ark.write(f"{key} ".encode())
            offset = ark.tell()  # Kaldi's scp offset points just past "key "
            write_object(ark, array, self.text)
            if self.scp is not None:
                self._files[1][0].write(f"{key} {self.ark}:{offset}\n".encode())
        except OSError as error:
            raise write_error(self.ark, error) from None
        self.keys.add(key)
        return offset

    def commit(self) -> None:
        try:
            for f, _ in self._files:
                f.flush()
                os.fsync(f.fileno())
                f.close()
            # the old index goes first: a crash between the renames leaves no index pointing into the wrong archive
            if self.scp is not None:
                self.scp.unlink(missing_ok=True)
            for (_, tmp), path in zip(self._files, (self.ark, self.scp), strict=False):
                os.replace(tmp, path)
        except OSError as error:
            self.abort()
            raise write_error(self.ark, error) from None

    def abort(self) -> None:
        """Close and remove the temporary files (a full disk that fails the close still loses them)."""
        for f, tmp in self._files:
            try:
                f.close()
            except OSError:
                pass
            Path(tmp).unlink(missing_ok=True)


class StreamArkWriter(CommitOnExit):
    """A Kaldi archive written to standard output (``-``) or to a command (``| gzip -c > x.gz``), as it goes.

    No index and no renaming: the reader sees each utterance as it is
    written. Standard output is flushed, never closed; a command's exit status
    is checked on :meth:`commit` (a failing command is an :class:`ArchiveWriteError`).
    """

    def __init__(self, target: str, text: bool = False) -> None:
        self.target, self.text = target, text
        self.ark, self.scp = None, None
        self.keys: set[str] = set()
        self._file = open_like_kaldi(target, "wb")

    def write(self, key: str, array: np.ndarray) -> None:
        check_key(key)
        try:
            self._file.write(f"{key} ".encode())
            write_object(self._file, array, self.text)
        except BrokenPipeError:
            raise ArchiveWriteError(errno.EPIPE, f"{self.target}: the reader of the archive stopped after "
                                                 f"{len(self.keys)} utterances (see its own error)") from None
        except OSError as error:
            raise write_error(self.target, error) from None
        self.keys.add(key)

    def commit(self) -> None:
        try:
            self._file.flush()
        except BrokenPipeError:
            raise ArchiveWriteError(errno.EPIPE, f"{self.target}: the reader of the archive stopped early") from None
        status = self._file.close()  # a command's exit status, shifted as os.popen's close; None for stdout
        if status:
            raise ArchiveWriteError(f"{self.target.strip()}: the command exited with status {status >> 8}")

    def abort(self) -> None:
        try:
            self._file.close()
        except OSError:
            pass


def check_key(key: str) -> None:
    if not key or any(ch.isspace() for ch in key):
        raise ValueError(f"Kaldi keys cannot be empty or contain whitespace: {key!r}")


def write_object(f: IO[bytes], array: np.ndarray, text: bool = False) -> None:
    """One Kaldi object (after its ``key``): float arrays as float32, integer vectors as int32 vectors."""
    array = np.asarray(array)
    integer = not np.issubdtype(array.dtype, np.floating)
    if not text:
        write_array(f, np.ascontiguousarray(array, dtype=None if integer else np.float32))  # "\0B" + binary object
    elif integer:
        if array.ndim != 1:
            raise ValueError(f"a Kaldi text archive holds integer vectors, not shape {array.shape}")
        f.write("".join(f"{v} " for v in array.tolist()).encode() + b"\n")  # BasicVectorHolder's text form
    else:
        write_array_ascii(f, array.astype(np.float32))


def open_writer(wspecifier: str) -> ArkWriter | StreamArkWriter:
    """The writer of a Kaldi wspecifier: ``ark:x.ark``, ``ark,scp:x.ark,x.scp``, ``ark,t:-``, ``ark:| cmd``."""
    kinds, sep, target = wspecifier.partition(":")
    options = kinds.split(",")
    if not sep or "ark" not in options or not set(options) <= {"ark", "scp"} | WRITE_OPTIONS:
        raise ValueError(f"{wspecifier}: not a Kaldi wspecifier (ark:FILE, ark,scp:FILE.ark,FILE.scp, ark:-, "
                         "ark,t:-, ark:| COMMAND)")
    text = "t" in options
    if "scp" in options:
        ark, comma, scp = target.partition(",")
        if not comma or not ark or not scp or _is_stream(ark):
            raise ValueError(f"{wspecifier}: ark,scp needs two files, ark,scp:FILE.ark,FILE.scp")
        return ArkWriter(ark, scp, text)
    if _is_stream(target):
        return StreamArkWriter(target, text)
    return ArkWriter(target, None, text)


def _is_stream(target: str) -> bool:
    return target.strip() == "-" or target.strip().startswith("|") or target.strip().endswith("|")


# -- reading -----------------------------------------------------------------------------------


def _bytes_left(f: IO[bytes]) -> int | None:
    """How many bytes a regular file still holds past its position; None for streams (pipes, stdin)."""
    if isinstance(f, io.BytesIO):
        return len(f.getbuffer()) - f.tell()
    try:
        status = os.fstat(f.fileno())
        if stat.S_ISREG(status.st_mode):
            return status.st_size - f.tell()
    except (OSError, AttributeError, ValueError):
        pass
    return None


def _read_exactly(f: IO[bytes], size: int, where: str, what: str) -> bytes:
    """``size`` bytes of ``what``; a size beyond the file's end is refused before reading, and a stream is
    read in bounded chunks, so a corrupt size never allocates more than the data that is there."""
    left = _bytes_left(f)
    if left is not None and size > left:
        raise KaldiFormatError(f"{where}: {what} needs {size} bytes, the file has {left} left "
                               "(a truncated or corrupt archive)")
    chunks, needed = [], size
    while needed:
        chunk = f.read(min(needed, CHUNK_BYTES))
        if not chunk:
            raise KaldiFormatError(f"{where}: the archive ends inside {what} ({size - needed} of {size} bytes)")
        chunks.append(chunk)
        needed -= len(chunk)
    return b"".join(chunks)


def _read_int32(f: IO[bytes], where: str, what: str) -> int:
    record = _read_exactly(f, 5, where, what)
    if record[0] != 4:
        raise KaldiFormatError(f"{where}: expected {what} (size byte 4), found size byte {record[0]}")
    return struct.unpack("<i", record[1:])[0]


def _read_type_token(first: bytes, f: IO[bytes], where: str) -> str:
    """The object type (``FM``, ``CM2``, ...) that starts with ``first``, and the space after it."""
    token = first
    while len(token) <= 4:
        char = f.read(1)
        if char in (b" ", b""):
            return token.decode("latin-1")
        token += char
    raise KaldiFormatError(f"{where}: unknown Kaldi object type {token!r}... (expected FM, FV, DM, DV or CM)")


def read_object(f: IO[bytes], where: str) -> np.ndarray:
    """The Kaldi object at ``f``'s position (what follows ``key `` in an archive), binary or text.

    Binary: float matrices and vectors, int32 vectors, compressed matrices.
    Text: a bracketed vector or matrix, or an integer vector on one line.
    ``where`` names the file and utterance in errors.
    """
    first = f.read(1)
    if first == BINARY_HEADER[:1]:
        if f.read(1) != BINARY_HEADER[1:]:
            raise KaldiFormatError(f"{where}: expected a binary Kaldi object (\\0B)")
        return _read_binary_object(f, where)
    return _read_text_object(first, f, where)


def _read_binary_object(f: IO[bytes], where: str) -> np.ndarray:
    peek = f.read(1)
    if peek == b"\x04":  # an int32 vector: count, then (size byte 4, int32) per element
        count = struct.unpack("<i", _read_exactly(f, 4, where, "the size of an integer vector"))[0]
        if count < 0:
            raise KaldiFormatError(f"{where}: integer vector of negative size {count}")
        records = np.frombuffer(_read_exactly(f, 5 * count, where, f"an integer vector of {count} elements"),
                                dtype=[("size", "u1"), ("value", "<i4")])
        if (records["size"] != 4).any():
            raise KaldiFormatError(f"{where}: an element of the integer vector has a size byte other than 4")
        return records["value"].astype(np.int32)
    token = _read_type_token(peek, f, where)
    if token in FLOAT_TYPES:
        rows = _read_int32(f, where, "a row count") if token[1] == "M" else 1
        cols = _read_int32(f, where, "a column count" if token[1] == "M" else "a dimension")
        if rows < 0 or cols < 0:
            raise KaldiFormatError(f"{where}: {token} header has negative size {rows} x {cols}")
        dtype = np.dtype(FLOAT_TYPES[token])
        data = _read_exactly(f, rows * cols * dtype.itemsize, where, f"a {rows} x {cols} {token} object")
        array = np.frombuffer(data, dtype=dtype).astype(dtype.newbyteorder("="))
        return array.reshape(rows, cols) if token[1] == "M" else array
    if token in COMPRESSED_TYPES:
        header = _read_exactly(f, 16, where, f"the header of a {token} matrix")
        rows, cols = struct.unpack_from("<ii", header, 8)  # GlobalHeader: min, range (floats), rows, cols
        if rows < 0 or cols < 0:
            raise KaldiFormatError(f"{where}: {token} header has negative size {rows} x {cols}")
        size = {"CM": 8 * cols + rows * cols, "CM2": 2 * rows * cols, "CM3": rows * cols}[token]
        body = _read_exactly(f, size, where, f"a {rows} x {cols} {token} matrix")
        return read_matrix_or_vector(io.BytesIO(BINARY_HEADER + f"{token} ".encode() + header + body))
    raise KaldiFormatError(f"{where}: unknown Kaldi object type {token!r} (expected FM, FV, DM, DV or CM)")


def _read_text_object(first: bytes, f: IO[bytes], where: str) -> np.ndarray:
    line = first if first == b"\n" else first + f.readline(CHUNK_BYTES)
    if not first:
        raise KaldiFormatError(f"{where}: the archive ends after the key")
    if b"[" not in line:  # BasicVectorHolder's text form: the integers on one line
        try:
            return np.array([int(word) for word in line.split()], dtype=np.int32)
        except ValueError:
            raise KaldiFormatError(f"{where}: expected a Kaldi object, found {line[:40]!r}") from None
    lines = [line]
    while b"]" not in lines[-1]:
        line = f.readline(CHUNK_BYTES)
        if not line:
            raise KaldiFormatError(f"{where}: the archive ends inside a text matrix (no closing ']')")
        lines.append(line)
    reader = KaldiReader(b"".join(lines), where, binary=False)
    try:
        return reader.read_vector() if len(lines) == 1 else reader.read_matrix()
    except KaldiFormatError:
        raise
    except ValueError as error:
        raise KaldiFormatError(f"{where}: {error}") from None


def read_archive(f: IO[bytes], name: str) -> Iterator[tuple[str, np.ndarray]]:
    """``(key, object)`` pairs of the Kaldi archive open in ``f`` (binary mode); ``name`` names it in errors."""
    while True:
        char = f.read(1)
        while char and char in WHITESPACE:
            char = f.read(1)
        if not char:
            return
        key = bytearray(char)
        while True:
            char = f.read(1)
            if char == b" " or not char:
                break
            key += char
            if len(key) > MAX_KEY_BYTES:
                raise KaldiFormatError(f"{name}: no key (no space in {MAX_KEY_BYTES} bytes): not a Kaldi archive?")
        text = key.decode("utf-8", errors="replace")
        if not char:
            raise KaldiFormatError(f"{name}: the archive ends after the key {text!r}")
        yield text, read_object(f, f"{name}: utterance {text!r}")


def _split_rspecifier(rspecifier: str) -> tuple[str, str]:
    """(``ark`` or ``scp``, the file, ``-`` or command) of a Kaldi rspecifier."""
    kinds, sep, target = rspecifier.partition(":")
    options = kinds.split(",")
    kind = [o for o in options if o in ("ark", "scp")]
    if not sep or len(kind) != 1 or not set(options) <= {"ark", "scp"} | READ_OPTIONS or not target:
        raise ValueError(f"{rspecifier}: not a Kaldi rspecifier (ark:FILE, scp:FILE, ark:-, 'ark:COMMAND |')")
    return kind[0], target


def as_rspecifier(source: str | os.PathLike) -> str:
    """``source`` as an rspecifier: an rspecifier as it is, an existing path as ``scp:`` (``.scp``) or ``ark:``."""
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
    """``(utterance, matrix)`` from a Kaldi rspecifier (``ark:x.ark``, ``scp:x.scp``, ``ark:-``,
    ``ark:gunzip -c x.gz |``) or a path (``.scp`` read as a script, anything else as an archive).

    A command that fails is a :class:`KaldiFormatError` naming it, after the entries it wrote.
    """
    kind, target = _split_rspecifier(as_rspecifier(source))
    if kind == "scp":
        script = ScriptMatrices(target)
        for key in script:
            yield key, script[key]
        return
    if not _is_stream(target) and not Path(target).is_file():
        raise FileNotFoundError(f"{target}: no such file")
    name = "standard input" if target.strip() == "-" else target.strip()
    f = open_like_kaldi(target, "rb")
    try:
        yield from read_archive(f, name)
    finally:
        status = f.close()  # a command's exit status, shifted as os.popen's close
    if status:
        raise KaldiFormatError(f"{name}: the command exited with status {status >> 8}")


class ScriptMatrices(Mapping):
    """``utterance -> matrix`` over a Kaldi script (``utt file:offset`` lines), each read on access."""

    def __init__(self, script: str | os.PathLike) -> None:
        self.script = Path(script)
        if not self.script.is_file():
            raise FileNotFoundError(f"{self.script}: no such file")
        self.entries: dict[str, tuple[str, int | None]] = {}
        for number, line in enumerate(self.script.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            key, _, location = line.strip().partition(" ")
            location = location.strip()
            if not location:
                raise KaldiFormatError(f"{self.script}, line {number}: expected 'utterance file:offset'")
            if key in self.entries:
                raise KaldiFormatError(f"{self.script}, line {number}: utterance {key!r} appears again")
            path, colon, offset = location.rpartition(":")
            self.entries[key] = (path, int(offset)) if colon and offset.isdigit() else (location, None)

    def __getitem__(self, key: str) -> np.ndarray:
        path, offset = self.entries[key]
        where = f"{path}: utterance {key!r}"
        if not Path(path).is_file():
            raise FileNotFoundError(f"{self.script}: utterance {key!r} points into {path}, which does not exist")
        with open(path, "rb") as f:
            if offset is not None:
                size = os.fstat(f.fileno()).st_size
                if offset >= size:
                    raise KaldiFormatError(f"{where}: offset {offset} (from {self.script}) is past the end of the "
                                           f"file ({size} bytes): the archive is truncated or was rewritten")
                f.seek(offset)
            return read_object(f, where)

    def __iter__(self) -> Iterator[str]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)


def read_object_at(path: str | os.PathLike, offset: int) -> np.ndarray:
    """The Kaldi object at byte ``offset`` of the archive ``path`` (a script entry ``path:offset``)."""
    with open(path, "rb") as f:
        f.seek(offset)
        return read_object(f, f"{path} at byte {offset}")


def open_matrices(source: str | os.PathLike) -> Mapping[str, np.ndarray]:
    """A mapping ``utterance -> matrix`` over a Kaldi archive that holds at most one matrix in memory
    when it is a script (``scp:x.scp`` or a ``.scp`` path: each matrix is read on access, so a
    set far larger than RAM can be decoded, and re-decoded by a sweep); an archive without a script
    (or a pipe) is read whole."""
    kind, target = _split_rspecifier(as_rspecifier(source))
    if kind == "scp":
        return ScriptMatrices(target)
    logger.info("%s is an archive without a script: reading it whole (give its .scp to stream it)", source)
    return dict(read_matrices(source))
