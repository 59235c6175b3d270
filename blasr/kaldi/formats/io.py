"""Kaldi's object I/O in Python: basic types, vectors, matrices and integer-vector archives.

Kaldi writes every object (``final.mdl``, ``tree``, ...) with the same few
primitives (``src/base/io-funcs.{h,cc}``, ``io-funcs-inl.h``,
``src/matrix/kaldi-vector.cc``, ``kaldi-matrix.cc``), in one of two modes:

* **binary**: the file starts with ``"\\0B"``; a token is its text followed by
  one space (``"<DiagGMM> "``); an integer is a size byte (4 for int32, -4 for
  uint32) then its little-endian bytes; a float is a size byte 4 then a float32;
  a float vector is ``"FV "``, an int32 dimension, then raw float32 data
  (``"DV "`` and float64 in double builds); a matrix is ``"FM "``/``"DM "``, int32
  rows and columns, then the rows; an integer vector
  (``WriteIntegerVector``) is one size byte, a raw int32 count, then raw int32s.
* **text**: no header; tokens and numbers are separated by spaces, floats are
  printed with 7 significant digits (``InitKaldiOutputStream`` sets the stream
  precision to 7), a vector is ``" [ 1 2 3 ]\\n"``, a matrix puts each row on its
  own line inside ``" [ ... ]"``, an integer vector is ``"[ 1 2 ]\\n"``.

:class:`KaldiReader` reads either mode from bytes and raises
:class:`KaldiFormatError` naming the file, what it expected and the byte
offset. :class:`KaldiWriter` writes either mode; a binary file written by it is
byte-identical to Kaldi's, a text file matches Kaldi's at the same precision.

Alignment archives (``ali.*.gz``: a gzipped Kaldi table of int32 vectors,
``utt-id`` then the transition-ids) are read by :func:`read_int_vectors`
(int32 vectors, binary or text, with numpy; every count checked against the
bytes left, anything else a :class:`KaldiFormatError` naming the utterance)
and written in Kaldi's own layout by :func:`write_int_vectors`.
"""

from __future__ import annotations

import gzip
import io
import os
import struct
from pathlib import Path
from typing import Iterable, Iterator, Mapping

import numpy as np

from blasr.utils.errors import BlasrError

BINARY_HEADER = b"\0B"
GZIP_MAGIC = b"\x1f\x8b"
WHITESPACE = b" \t\n\r\v\f"
# Kaldi's InitKaldiOutputStream: "7 is a bit more than the precision of float".
TEXT_PRECISION = 7


class KaldiFormatError(BlasrError, ValueError):
    """A file that is not in the Kaldi format expected (the message names the file and the byte)."""


def _format_float(value: float, precision: int) -> str:
    # C++ ``os << float`` in the default float field is printf's %.{precision}g.
    return f"{value:.{precision}g}"


class KaldiReader:
    """Reads Kaldi basic types from the bytes of one file, in binary or text mode.

    ``binary=None`` detects the mode from the ``"\\0B"`` header (and skips it),
    as Kaldi's ``InitKaldiInputStream``. Every ``read_*`` method advances
    :attr:`pos`; every error names :attr:`name` and the byte offset.
    """

    def __init__(self, data: bytes, name: str = "<bytes>", binary: bool | None = None, pos: int = 0):
        self.data = data
        self.name = name
        self.pos = pos
        if binary is None:
            binary = data[pos : pos + 2] == BINARY_HEADER
            if binary:
                self.pos += 2
        self.binary = binary

    @classmethod
    def open(cls, path: str | os.PathLike, binary: bool | None = None) -> "KaldiReader":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file")
        return cls(path.read_bytes(), str(path), binary)

    # -- errors and positioning ---------------------------------------------------------

    def error(self, message: str, at: int | None = None) -> KaldiFormatError:
        return KaldiFormatError(f"{self.name}: {message} at byte {self.pos if at is None else at}")

    def _skip_whitespace(self) -> None:
        data, pos = self.data, self.pos
        while pos < len(data) and data[pos] in WHITESPACE:
            pos += 1
        self.pos = pos

    def at_end(self) -> bool:
        """True when only whitespace is left."""
        self._skip_whitespace()
        return self.pos >= len(self.data)

    def peek_char(self) -> str:
        """The next character ('' at the end); text mode skips whitespace first (Kaldi's ``Peek``)."""
        if not self.binary:
            self._skip_whitespace()
        return chr(self.data[self.pos]) if self.pos < len(self.data) else ""

    def _word(self, expected: str | None = None) -> tuple[str, int]:
        """The next whitespace-delimited word and its offset (``is >> std::string``)."""
        self._skip_whitespace()
        start = self.pos
        data, pos = self.data, self.pos
        while pos < len(data) and data[pos] not in WHITESPACE:
            pos += 1
        if pos == start:
            message = f"expected {expected}, found the end of the file" if expected else "unexpected end of file"
            raise self.error(message)
        self.pos = pos
        return data[start:pos].decode("latin-1"), start

    # -- tokens -----------------------------------------------------------------------------

    def read_token(self, expected: str | None = None) -> str:
        """A token (``<DiagGMM>``, ``FV``, ``CE``, ...): Kaldi's ``ReadToken``, which eats one space after it.

        ``expected`` only words the error at the end of the file.
        """
        token, _ = self._word(expected)
        if self.pos < len(self.data):
            self.pos += 1  # the single space that WriteToken puts after every token
        return token

    def expect_token(self, expected: str) -> None:
        self._skip_whitespace()
        at = self.pos
        token = self.read_token(expected)
        if token != expected:
            raise self.error(f"expected {expected}, found {_shorten(token)}", at)

    # -- basic types ------------------------------------------------------------------------

    def _read_binary_int(self, size_byte: int, fmt: str, what: str) -> int:
        start = self.pos
        if self.pos + 1 + struct.calcsize(fmt) > len(self.data):
            raise self.error(f"unexpected end of file reading {what}", start)
        got = self.data[self.pos]
        if got != size_byte & 0xFF:
            signed = got - 256 if got > 127 else got
            raise self.error(f"expected {what} (size byte {size_byte}), found size byte {signed}", start)
        (value,) = struct.unpack_from("<" + fmt, self.data, self.pos + 1)
        self.pos += 1 + struct.calcsize(fmt)
        return value

    def _read_text_int(self, what: str, lo: int, hi: int) -> int:
        word, at = self._word()
        try:
            value = int(word)
        except ValueError:
            raise self.error(f"expected {what}, found {_shorten(word)}", at) from None
        if not lo <= value <= hi:
            raise self.error(f"{what} {value} out of range", at)
        return value

    def read_int32(self) -> int:
        if self.binary:
            return self._read_binary_int(4, "i", "an int32")
        return self._read_text_int("an integer", -(2**31), 2**31 - 1)

    def read_uint32(self) -> int:
        if self.binary:
            return self._read_binary_int(-4, "I", "a uint32")
        return self._read_text_int("an unsigned integer", 0, 2**32 - 1)

    def read_int32s(self, count: int) -> np.ndarray:
        """``count`` consecutive int32s (a fast path for long runs such as transition-model tuples)."""
        if not self.binary:
            return np.array([self.read_int32() for _ in range(count)], dtype=np.int32)
        start = self.pos
        end = start + 5 * count
        if end > len(self.data):
            raise self.error(f"unexpected end of file reading {count} int32s", start)
        records = np.frombuffer(self.data, dtype=[("size", "u1"), ("value", "<i4")], count=count, offset=start)
        bad = np.flatnonzero(records["size"] != 4)
        if bad.size:
            self.pos = start + 5 * int(bad[0])
            return self.read_int32()  # raises the error for the first bad size byte
        self.pos = end
        return records["value"].astype(np.int32)

    def read_float(self) -> float:
        """A float32 (Kaldi's ``ReadBasicType<float>``; a double is accepted and narrowed, as Kaldi does)."""
        if self.binary:
            start = self.pos
            size = self.data[self.pos] if self.pos < len(self.data) else -1
            if size == 4 and self.pos + 5 <= len(self.data):
                (value,) = struct.unpack_from("<f", self.data, self.pos + 1)
                self.pos += 5
                return value
            if size == 8 and self.pos + 9 <= len(self.data):
                (value,) = struct.unpack_from("<d", self.data, self.pos + 1)
                self.pos += 9
                return float(np.float32(value))
            raise self.error(f"expected a float (size byte 4 or 8), found size byte {size}", start)
        word, at = self._word()
        try:
            return float(np.float32(word))
        except ValueError:
            raise self.error(f"expected a number, found {_shorten(word)}", at) from None

    # -- vectors and matrices -----------------------------------------------------------

    def _bracketed_text(self, what: str) -> tuple[str, int]:
        """The text between ``[`` and ``]`` (and eat the newline Kaldi writes after ``]``)."""
        word, at = self._word()
        if word == "[]":
            return "", at
        if word != "[":
            raise self.error(f"expected {what} starting with '[', found {_shorten(word)}", at)
        end = self.data.find(b"]", self.pos)
        if end < 0:
            raise self.error(f"{what} has no closing ']'", at)
        body = self.data[self.pos : end].decode("latin-1")
        self.pos = end + 1
        if self.data[self.pos : self.pos + 2] == b"\r\n":
            self.pos += 2
        elif self.data[self.pos : self.pos + 1] == b"\n":
            self.pos += 1
        return body, at

    def _parse_numbers(self, words: list[str], dtype, at: int, what: str) -> np.ndarray:
        try:
            return np.array(words, dtype=np.float64).astype(dtype)
        except ValueError:
            bad = next(w for w in words if not _is_number(w))
            raise self.error(f"{what} holds {_shorten(bad)!r}, not a number", at) from None

    def read_vector(self) -> np.ndarray:
        """A float vector (float32; float64 when stored as ``DV``)."""
        if self.binary:
            start = self.pos
            token = self.read_token()
            if token not in ("FV", "DV"):
                raise self.error(f"expected a vector (FV or DV), found {_shorten(token)}", start)
            dim = self.read_int32()
            dtype = np.dtype("<f4" if token == "FV" else "<f8")
            return self._raw_array(dtype, dim, start, "vector")
        body, at = self._bracketed_text("a vector")
        if "\n" in body.strip():
            # Kaldi's Vector::Read refuses newlines inside a vector ("maybe it's a matrix?").
            raise self.error("found a line break inside a vector (is this a matrix?)", at)
        return self._parse_numbers(body.split(), np.float32, at, "vector")

    def read_matrix(self) -> np.ndarray:
        """A float matrix, rows x columns (float32; float64 when stored as ``DM``)."""
        if self.binary:
            start = self.pos
            token = self.read_token()
            if token not in ("FM", "DM"):
                raise self.error(f"expected a matrix (FM or DM), found {_shorten(token)}", start)
            rows, cols = self.read_int32(), self.read_int32()
            if rows < 0 or cols < 0:
                raise self.error(f"matrix has negative size {rows} x {cols}", start)
            dtype = np.dtype("<f4" if token == "FM" else "<f8")
            return self._raw_array(dtype, rows * cols, start, "matrix").reshape(rows, cols)
        body, at = self._bracketed_text("a matrix")
        # One row per line (Kaldi's Matrix::Read also ends a row at ';').
        rows = [line.split() for line in body.replace(";", "\n").splitlines() if line.strip()]
        if not rows:
            return np.zeros((0, 0), dtype=np.float32)
        widths = {len(row) for row in rows}
        if len(widths) > 1:
            raise self.error(f"matrix rows have different lengths {sorted(widths)}", at)
        flat = self._parse_numbers([w for row in rows for w in row], np.float32, at, "matrix")
        return flat.reshape(len(rows), len(rows[0]))

    def read_int_vector(self) -> np.ndarray:
        """An int32 vector in ``WriteIntegerVector``'s layout."""
        start = self.pos
        if self.binary:
            if self.pos + 5 > len(self.data):
                raise self.error("unexpected end of file reading an integer vector", start)
            if self.data[self.pos] != 4:
                found = self.data[self.pos]
                raise self.error(f"expected an int32 vector (size byte 4), found size byte {found}", start)
            (count,) = struct.unpack_from("<i", self.data, self.pos + 1)
            self.pos += 5
            return self._raw_array(np.dtype("<i4"), count, start, "integer vector")
        body, at = self._bracketed_text("an integer vector")
        try:
            return np.array([int(w) for w in body.split()], dtype=np.int32)
        except ValueError:
            raise self.error("integer vector holds a non-integer", at) from None

    def _raw_array(self, dtype: np.dtype, count: int, start: int, what: str) -> np.ndarray:
        if count < 0:
            raise self.error(f"{what} has negative size {count}", start)
        end = self.pos + count * dtype.itemsize
        if end > len(self.data):
            raise self.error(f"{what} of {count} elements runs past the end of the file", start)
        array = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.pos).astype(dtype.newbyteorder("="))
        self.pos = end
        return array


class KaldiWriter:
    """Writes Kaldi basic types in binary or text mode; :meth:`getvalue` returns the file's bytes.

    ``precision`` is the significant digits of text floats: 7, as Kaldi's
    command-line tools (a bare ``std::ostream``, as in kaldi-hmm-gmm's ``str()``,
    has 6).
    """

    def __init__(self, binary: bool, header: bool = True, precision: int = TEXT_PRECISION):
        self.binary = binary
        self.precision = precision
        self._chunks: list[bytes] = [BINARY_HEADER] if binary and header else []

    def getvalue(self) -> bytes:
        return b"".join(self._chunks)

    def _text(self, text: str) -> None:
        self._chunks.append(text.encode("latin-1"))

    def newline(self) -> None:
        """Kaldi writes ``os << "\\n"`` at fixed places in text mode only."""
        if not self.binary:
            self._chunks.append(b"\n")

    def token(self, token: str) -> None:
        self._text(token + " ")

    def int32(self, value: int) -> None:
        if self.binary:
            self._chunks.append(b"\x04" + struct.pack("<i", value))
        else:
            self._text(f"{int(value)} ")

    def uint32(self, value: int) -> None:
        if self.binary:
            self._chunks.append(b"\xfc" + struct.pack("<I", value))
        else:
            self._text(f"{int(value)} ")

    def float(self, value: float) -> None:
        if self.binary:
            self._chunks.append(b"\x04" + struct.pack("<f", value))
        else:
            self._text(_format_float(float(np.float32(value)), self.precision) + " ")

    def _formatted(self, values: np.ndarray) -> str:
        return "".join(_format_float(v, self.precision) + " " for v in values.tolist())

    def vector(self, values: np.ndarray) -> None:
        values = np.asarray(values)
        if self.binary:
            double = values.dtype == np.float64
            self.token("DV" if double else "FV")
            self.int32(len(values))
            self._chunks.append(values.astype("<f8" if double else "<f4").tobytes())
        else:
            self._text(" [ " + self._formatted(values.astype(np.float32).astype(np.float64)) + "]\n")

    def matrix(self, values: np.ndarray) -> None:
        values = np.asarray(values)
        if values.ndim != 2:
            raise ValueError(f"a Kaldi matrix is 2-D, got shape {values.shape}")
        if self.binary:
            double = values.dtype == np.float64
            self.token("DM" if double else "FM")
            self.int32(values.shape[0])
            self.int32(values.shape[1])
            self._chunks.append(np.ascontiguousarray(values, dtype="<f8" if double else "<f4").tobytes())
        elif values.shape[1] == 0:
            self._text(" [ ]\n")
        else:
            rows = values.astype(np.float32).astype(np.float64)
            self._text(" [" + "".join("\n  " + self._formatted(row) for row in rows) + "]\n")

    def int_vector(self, values: Iterable[int]) -> None:
        values = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=np.int64)
        if self.binary:
            self._chunks.append(b"\x04" + struct.pack("<i", len(values)) + values.astype("<i4").tobytes())
        else:
            self._text("[ " + "".join(f"{v} " for v in values.tolist()) + "]\n")


def _shorten(text: str, limit: int = 40) -> str:
    text = text.encode("unicode_escape").decode("ascii")
    return text if len(text) <= limit else text[:limit] + "..."


def _is_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


# -- integer-vector archives (alignments) -------------------------------------------------


def _read_maybe_gzip(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == GZIP_MAGIC else data


INT_RECORD = np.dtype([("size", "u1"), ("value", "<i4")])


def _parse_int_vector_archive(data: bytes, name: str) -> list[tuple[str, np.ndarray]]:
    """An archive of int32 vectors, parsed with numpy: each entry is ``key \\0B`` + count + elements
    (binary) or ``key 1 2 3\\n`` (text, one line), as ``BasicVectorHolder`` writes them.

    About 30 times faster than kaldiio on binary alignments, and right on empty
    text entries (``key \\n``), which kaldiio misreads. Every count is checked
    against the bytes left before anything is allocated; an entry that is not
    an integer vector (a matrix, a float vector, a truncated or corrupt one) is
    a :class:`KaldiFormatError` naming ``name`` and the utterance.
    """
    result = []
    pos, end = 0, len(data)
    while pos < end:
        while pos < end and data[pos] in WHITESPACE:
            pos += 1
        if pos == end:
            break
        space = data.find(b" ", pos)
        newline = data.find(b"\n", pos)
        if space < 0 or 0 <= newline < space:  # a key alone on its line: an empty text entry
            space = newline if newline >= 0 else end
            result.append((data[pos:space].decode("utf-8", errors="replace"), np.zeros(0, dtype=np.int32)))
            pos = space + 1
            continue
        key = data[pos:space].decode("utf-8", errors="replace")
        where = f"{name}: utterance {key!r}"
        if data[space + 1 : space + 3] == BINARY_HEADER:
            if data[space + 3 : space + 4] != b"\x04":
                token = data[space + 3 : space + 6].split(b" ")[0].decode("latin-1")
                raise KaldiFormatError(f"{where} holds a Kaldi {_shorten(token)} object, not an integer vector "
                                       "(is this an alignment archive?)")
            if space + 8 > end:
                raise KaldiFormatError(f"{where}: the archive ends inside the size of its integer vector")
            (count,) = struct.unpack_from("<i", data, space + 4)
            start = space + 8
            stop = start + count * INT_RECORD.itemsize
            if count < 0 or stop > end:
                raise KaldiFormatError(f"{where}: an integer vector of {count} elements needs "
                                       f"{count * INT_RECORD.itemsize} bytes, the archive has {end - start} left "
                                       "(truncated or corrupt)")
            records = np.frombuffer(data, dtype=INT_RECORD, count=count, offset=start)
            if count and (records["size"] != 4).any():
                raise KaldiFormatError(f"{where}: an element of its integer vector has a size byte other than 4")
            result.append((key, records["value"].astype(np.int32)))
            pos = stop
        else:
            stop = newline if newline >= 0 else end
            words = data[space + 1 : stop].split()
            if words == [b"[", b"]"]:  # kaldiio writes an empty vector in brackets
                words = []
            try:
                values = np.array([int(w) for w in words], dtype=np.int64)
            except ValueError:
                raise KaldiFormatError(f"{where} holds {_shorten(data[space + 1:stop][:40].decode('latin-1'))}, "
                                       "not integers (is this an alignment archive?)") from None
            if values.size and (values.min() < -(2**31) or values.max() >= 2**31):
                raise KaldiFormatError(f"{where}: a value is out of the int32 range")
            result.append((key, values.astype(np.int32)))
            pos = stop + 1
    return result


def iter_int_vectors(path: str | os.PathLike) -> Iterator[tuple[str, np.ndarray]]:
    """(utterance, int32 vector) pairs of a Kaldi archive, gzipped (``ali.1.gz``) or not, binary or text.

    Anything but 1-D integer vectors (e.g. a feature matrix), and a truncated
    or corrupt archive, is a :class:`KaldiFormatError` naming the file and the utterance.
    """

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        data = _read_maybe_gzip(path)
    except (OSError, EOFError) as error:
        raise KaldiFormatError(f"{path}: cannot decompress ({type(error).__name__}: {error})") from error
    yield from _parse_int_vector_archive(data, str(path))


def read_int_vectors(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> dict[str, np.ndarray]:
    """All (utterance -> int32 vector) of one or more archives; an utterance in two places is an error."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    result: dict[str, np.ndarray] = {}
    origin: dict[str, str] = {}
    for path in paths:
        for utt, vector in iter_int_vectors(path):
            if utt in result:
                raise KaldiFormatError(f"{path}: utterance {utt!r} appears again (first in {origin[utt]})")
            result[utt] = vector
            origin[utt] = str(path)
    return result


def int_vectors_to_bytes(vectors: Mapping[str, Iterable[int]], binary: bool = True) -> bytes:
    """A Kaldi archive of int32 vectors (``BasicVectorHolder<int32>``), as ``copy-int-vector`` writes it.

    Binary: ``utt \\0B`` + int32 count + each element as an int32 (size byte 4
    before each); text: ``utt 1 2 3 \\n``.
    """
    out = io.BytesIO()
    for utt, values in vectors.items():
        if not utt or any(c.isspace() for c in utt):
            raise ValueError(f"utterance id {utt!r} is empty or holds whitespace")
        values = np.asarray(values if isinstance(values, np.ndarray) else list(values))
        if values.ndim != 1:
            raise ValueError(f"utterance {utt!r}: expected a 1-D integer vector, got shape {values.shape}")
        if values.size and not np.issubdtype(values.dtype, np.integer):
            raise ValueError(f"utterance {utt!r}: expected integers, got {values.dtype}")
        out.write(utt.encode("utf-8") + b" ")
        if binary:
            records = np.empty(len(values), dtype=[("size", "u1"), ("value", "<i4")])
            records["size"] = 4
            records["value"] = values
            out.write(BINARY_HEADER + b"\x04" + struct.pack("<i", len(values)) + records.tobytes())
        else:
            out.write("".join(f"{v} " for v in values.tolist()).encode("ascii") + b"\n")
    return out.getvalue()


def write_int_vectors(
    vectors: Mapping[str, Iterable[int]], path: str | os.PathLike, binary: bool = True, compress: bool | None = None
) -> Path:
    """Write an archive of int32 vectors; gzipped when ``compress`` (default: the name ends in ``.gz``)."""
    path = Path(path)
    data = int_vectors_to_bytes(vectors, binary)
    if compress is None:
        compress = path.suffix == ".gz"
    # mtime=0 keeps the gzip bytes reproducible.
    path.write_bytes(gzip.compress(data, mtime=0) if compress else data)
    return path
