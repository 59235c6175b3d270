"""Reading Kaldi's decoding graphs (``HCLG.fst``), which Kaldi writes as OpenFst *const* FSTs.

kaldifst reads only *vector* FSTs (``StdVectorFst.read`` fails with "Unknown
FST type const"). Kaldi's ``mkgraph.sh`` ends with ``fstconvert
--fst_type=const``, so every ``HCLG.fst`` needs converting. This module does it
in numpy, without OpenFst's tools, from the two layouts in OpenFst's headers:

* header (``fst.h``, ``FstHeader::Read``): int32 magic 2125659606, the FST
  type and arc type as strings (int32 length + bytes), int32 version, int32
  flags (1: input symbols follow, 2: output symbols follow, 4: aligned), uint64
  properties, int64 start, int64 number of states, int64 number of arcs; then
  the symbol tables, if any.
* ``const`` (``const-fst.h``): per state ``{float final, uint32 pos, uint32
  narcs, uint32 niepsilons, uint32 noepsilons}``, then every arc ``{int32
  ilabel, int32 olabel, float weight, int32 nextstate}``; file version 1 (or the
  aligned flag) pads each part to a multiple of 16 bytes.
* ``vector`` (``vector-fst.h``, file version 2): per state ``float final,
  int64 narcs``, then its arcs as above.

:func:`read_fst` returns a ``kaldifst.StdVectorFst`` for either kind;
:func:`convert_fst` writes the vector file once, so that later runs load it
directly. :func:`convert_with_fstconvert` uses OpenFst's own tool (Debian's
``libfst-tools``) where it is installed.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kaldifst
import numpy as np

from blasr.kaldi.formats.io import KaldiFormatError

FST_MAGIC = 2125659606
SYMBOL_TABLE_MAGIC = 2125658996
HAS_ISYMBOLS, HAS_OSYMBOLS, IS_ALIGNED = 0x1, 0x2, 0x4
K_EXPANDED, K_MUTABLE = 0x1, 0x2
# properties.h: kCopyProperties = kError and every trinary property (bits 16..47).
K_COPY_PROPERTIES = 0x0000FFFFFFFF0004
CONST_ALIGNED_VERSION = 1
VECTOR_VERSION = 2
ALIGNMENT = 16  # OpenFst's kFstAlignment
VECTOR_STATE_MIN_BYTES = 12  # a vector FST's state: float final weight + int64 arc count

STATE_DTYPE = np.dtype(
    [("final", "<f4"), ("pos", "<u4"), ("narcs", "<u4"), ("niepsilons", "<u4"), ("noepsilons", "<u4")]
)
ARC_DTYPE = np.dtype([("ilabel", "<i4"), ("olabel", "<i4"), ("weight", "<f4"), ("nextstate", "<i4")])


@dataclass
class FstHeader:
    fst_type: str
    arc_type: str
    version: int
    flags: int
    properties: int
    start: int
    num_states: int
    num_arcs: int
    symbols: bytes  # the raw symbol tables that follow the header (usually none in Kaldi graphs)
    size: int  # bytes of header and symbol tables


class _Cursor:
    def __init__(self, data: bytes | np.ndarray, name: str):
        self.data, self.name, self.pos = data, name, 0

    def error(self, message: str, at: int | None = None) -> KaldiFormatError:
        return KaldiFormatError(f"{self.name}: {message} at byte {self.pos if at is None else at}")

    def unpack(self, fmt: str):
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise self.error("unexpected end of file in the FST header")
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return values[0] if len(values) == 1 else values

    def string(self) -> str:
        at = self.pos
        length = self.unpack("<i")
        if not 0 <= length <= 1 << 16 or self.pos + length > len(self.data):
            raise self.error(f"bad string length {length}", at)
        text = bytes(self.data[self.pos : self.pos + length]).decode("latin-1")
        self.pos += length
        return text


def _skip_symbol_table(cursor: _Cursor) -> None:
    # symbol-table.cc, SymbolTableImpl::Write: magic, name, available key, size, (symbol, key) pairs.
    at = cursor.pos
    if cursor.unpack("<i") != SYMBOL_TABLE_MAGIC:
        raise cursor.error("expected a symbol table after the FST header (flags say one follows)", at)
    cursor.string()
    _, size = cursor.unpack("<qq")
    for _ in range(size):
        cursor.string()
        cursor.unpack("<q")


def parse_fst_header(data: bytes | np.ndarray, name: str = "<fst>") -> FstHeader:
    cursor = _Cursor(data, name)
    magic = cursor.unpack("<i")
    if magic != FST_MAGIC:
        raise cursor.error(f"not an OpenFst binary FST (magic number {magic}, expected {FST_MAGIC})", 0)
    fst_type, arc_type = cursor.string(), cursor.string()
    version, flags, properties, start, num_states, num_arcs = cursor.unpack("<iiQqqq")
    symbols_start = cursor.pos
    if flags & HAS_ISYMBOLS:
        _skip_symbol_table(cursor)
    if flags & HAS_OSYMBOLS:
        _skip_symbol_table(cursor)
    symbols = bytes(data[symbols_start : cursor.pos])
    return FstHeader(fst_type, arc_type, version, flags, properties, start, num_states, num_arcs, symbols, cursor.pos)


def read_fst_header(path: str | os.PathLike) -> FstHeader:
    """The header of a binary FST file (its type: ``header.fst_type`` is ``"vector"``, ``"const"``, ...)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    try:
        return parse_fst_header(head, str(path))
    except KaldiFormatError:
        return parse_fst_header(path.read_bytes(), str(path))  # large symbol tables


def _header_bytes(header: FstHeader, fst_type: str, version: int, flags: int, properties: int, num_arcs: int) -> bytes:
    def string(text: str) -> bytes:
        return struct.pack("<i", len(text)) + text.encode("latin-1")

    return (
        struct.pack("<i", FST_MAGIC)
        + string(fst_type)
        + string(header.arc_type)
        + struct.pack("<iiQqqq", version, flags, properties, header.start, header.num_states, num_arcs)
        + header.symbols
    )


def const_to_vector_bytes(data: bytes | np.ndarray, name: str = "<fst>") -> bytes:
    """The bytes of the vector FST equal to the const FST ``data`` (what ``fstconvert --fst_type=vector`` writes)."""
    header, body = _const_to_vector(data, name)
    return header + body.tobytes()


def _const_to_vector(data: bytes | np.ndarray, name: str) -> tuple[bytes, np.ndarray]:
    header = parse_fst_header(data, name)
    if header.fst_type != "const":
        raise KaldiFormatError(f"{name}: FST type is {header.fst_type!r}, not 'const'")
    if header.arc_type != "standard":
        raise KaldiFormatError(f"{name}: arc type {header.arc_type!r} is not supported (only 'standard', tropical)")
    aligned = header.version == CONST_ALIGNED_VERSION or header.flags & IS_ALIGNED
    pos = header.size

    def align(offset: int) -> int:
        return -(-offset // ALIGNMENT) * ALIGNMENT if aligned else offset

    pos = align(pos)
    states_end = pos + header.num_states * STATE_DTYPE.itemsize
    arcs_start = align(states_end)
    arcs_end = arcs_start + header.num_arcs * ARC_DTYPE.itemsize
    if header.num_states < 0 or header.num_arcs < 0 or arcs_end > len(data):
        raise KaldiFormatError(
            f"{name}: truncated const FST: the header promises {header.num_states} states, "
            f"{header.num_arcs} arcs ({arcs_end} bytes), the file has {len(data)}"
        )
    states = np.frombuffer(data, dtype=STATE_DTYPE, count=header.num_states, offset=pos)
    arcs = np.frombuffer(data, dtype=ARC_DTYPE, count=header.num_arcs, offset=arcs_start)
    narcs = states["narcs"].astype(np.int64)
    first = np.concatenate([[0], np.cumsum(narcs)[:-1]]) if len(narcs) else np.zeros(0, np.int64)
    past_end = (narcs > 0).any() and (states["pos"].astype(np.int64) + narcs).max() > header.num_arcs
    if narcs.sum() != header.num_arcs or past_end:
        raise KaldiFormatError(f"{name}: the states' arc counts do not add up to the header's {header.num_arcs} arcs")
    if not np.array_equal(states["pos"].astype(np.int64), first):
        # OpenFst writes the arcs in state order; gather them if a writer did not.
        index = np.repeat(states["pos"].astype(np.int64) - first, narcs) + np.arange(header.num_arcs)
        arcs = arcs[index]
    if header.num_states and not -1 <= header.start < header.num_states:
        raise KaldiFormatError(f"{name}: start state {header.start} out of range")
    if header.num_arcs and (arcs["nextstate"].min() < 0 or arcs["nextstate"].max() >= header.num_states):
        raise KaldiFormatError(f"{name}: an arc points to a state outside 0..{header.num_states - 1}")

    # Interleave, in 4-byte words, each state's 3-word record {final, int64 narcs}
    # with its 4-word arcs.
    state_words = np.empty((header.num_states, 3), dtype="<u4")
    state_words[:, 0] = states["final"].view("<u4")
    state_words[:, 1:] = narcs.astype("<i8").view("<u4").reshape(-1, 2)
    arc_words = np.ascontiguousarray(arcs).view("<u4").reshape(-1)
    body = np.insert(arc_words, np.repeat(4 * first, 3), state_words.reshape(-1))
    properties = (header.properties & K_COPY_PROPERTIES) | K_EXPANDED | K_MUTABLE
    flags = header.flags & ~IS_ALIGNED
    # VectorFst::WriteFst leaves the header's arc count at 0.
    return _header_bytes(header, "vector", VECTOR_VERSION, flags, properties, 0), body


def convert_fst(source: str | os.PathLike, destination: str | os.PathLike) -> Path:
    """Write ``source`` (a const or vector FST) as a vector FST at ``destination``."""
    source, destination = Path(source), Path(destination)
    header = read_fst_header(source)
    if header.fst_type == "vector":
        if source.resolve() != destination.resolve():
            shutil.copyfile(source, destination)
        return destination
    data = np.memmap(source, dtype=np.uint8, mode="r")
    vector_header, body = _const_to_vector(data, str(source))
    with open(destination, "wb") as f:
        f.write(vector_header)
        body.tofile(f)
    return destination


def fstconvert_available() -> bool:
    return shutil.which("fstconvert") is not None


def convert_with_fstconvert(source: str | os.PathLike, destination: str | os.PathLike) -> Path:
    """OpenFst's ``fstconvert --fst_type=vector`` (Debian package ``libfst-tools``)."""
    tool = shutil.which("fstconvert")
    if tool is None:
        raise FileNotFoundError("fstconvert not found: install OpenFst's tools (apt-get install libfst-tools)")
    result = subprocess.run([tool, "--fst_type=vector", str(source), str(destination)], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"fstconvert failed on {source}: {result.stderr.strip()}")
    return Path(destination)


def read_fst(path: str | os.PathLike) -> Any:
    """A ``kaldifst.StdVectorFst`` from a binary FST file, const (Kaldi's HCLG.fst) or vector."""

    path = Path(path)
    header = read_fst_header(path)
    if header.fst_type not in ("vector", "const"):
        raise KaldiFormatError(f"{path}: FST type {header.fst_type!r} is not supported (vector or const)")
    if header.fst_type == "vector":
        _check_vector_header(header, path)
        fst = kaldifst.StdVectorFst.read(str(path))
    else:
        with tempfile.TemporaryDirectory(prefix="blasr-fst-") as tmp:
            vector_path = convert_fst(path, Path(tmp) / "vector.fst")
            fst = kaldifst.StdVectorFst.read(str(vector_path))
    if fst is None:
        raise KaldiFormatError(f"{path}: kaldifst could not read the FST (truncated or corrupt?)")
    return fst


def _check_vector_header(header: FstHeader, path: Path) -> None:
    """The state count of a vector FST against the file's size, before OpenFst reserves that many states
    (a negative count fails in ``vector::reserve``, a huge one allocates it)."""
    room = path.stat().st_size - header.size
    if header.num_states < -1:  # -1 (kNoStateId): the count was not known when the FST was written
        raise KaldiFormatError(f"{path}: the FST header gives a negative number of states ({header.num_states}): "
                               "the file is corrupt")
    if header.num_states * VECTOR_STATE_MIN_BYTES > room:
        raise KaldiFormatError(f"{path}: the FST header promises {header.num_states} states, the {room} bytes "
                               "after it cannot hold them (truncated or corrupt)")
    # each state's arc count too (OpenFst reserves it): one jump per state, about 0.8 s per million states (measured)
    data = np.memmap(path, dtype=np.uint8, mode="r")
    pos, end = header.size, len(data)
    for state in range(header.num_states):
        if pos + VECTOR_STATE_MIN_BYTES > end:
            raise KaldiFormatError(f"{path}: the file ends at state {state} of {header.num_states} (truncated)")
        (narcs,) = struct.unpack_from("<q", data, pos + 4)
        pos += VECTOR_STATE_MIN_BYTES + narcs * ARC_DTYPE.itemsize
        if narcs < 0 or pos > end:
            raise KaldiFormatError(f"{path}: state {state} claims {narcs} arcs, more than the file holds "
                                   "(truncated or corrupt)")


# -- FSTs as arrays ---------------------------------------------------------------------------


@dataclass
class FstArrays:
    """An FST's states and arcs in numpy (from its const form): arcs of state ``s`` are
    ``arcs[first[s]:first[s + 1]]``; ``final`` is the final cost (inf: not final)."""

    start: int
    final: np.ndarray  # (num_states,) float32
    first: np.ndarray  # (num_states + 1,) int64
    arcs: np.ndarray  # (num_arcs,) ARC_DTYPE: ilabel, olabel, weight, nextstate

    @property
    def num_states(self) -> int:
        return len(self.final)

    @property
    def num_arcs(self) -> int:
        return len(self.arcs)

    def source_states(self) -> np.ndarray:
        return np.repeat(np.arange(self.num_states), np.diff(self.first))


def fst_arrays(fst: Any) -> FstArrays:
    """Every state and arc of a ``kaldifst`` FST, through OpenFst's const layout (fast for large graphs)."""

    with tempfile.TemporaryDirectory(prefix="blasr-fst-") as tmp:
        path = Path(tmp) / "const.fst"
        kaldifst.StdConstFst(fst).write(str(path))
        data = path.read_bytes()
    header = parse_fst_header(data, "const FST")
    aligned = header.version == CONST_ALIGNED_VERSION or header.flags & IS_ALIGNED

    def align(offset: int) -> int:
        return -(-offset // ALIGNMENT) * ALIGNMENT if aligned else offset

    states_at = align(header.size)
    states = np.frombuffer(data, STATE_DTYPE, header.num_states, states_at)
    arcs_at = align(states_at + header.num_states * STATE_DTYPE.itemsize)
    arcs = np.frombuffer(data, ARC_DTYPE, header.num_arcs, arcs_at).copy()
    first = np.zeros(header.num_states + 1, dtype=np.int64)
    first[1:] = np.cumsum(states["narcs"].astype(np.int64))
    return FstArrays(int(header.start), states["final"].copy(), first, arcs)
