"""Kaldi lattices in numpy: the decoder's state-level ``Lattice`` and the word-level ``CompactLattice``, and
Kaldi's lattice archives (``lat.N.gz``).

Both are OpenFst *vector* FSTs (``vector-fst.h``: header, then per state its
final weight, an int64 arc count and its arcs), with Kaldi's weights
(``fstext/lattice-weight.h``):

* ``Lattice`` (arc type ``lattice4``): arcs ``{int32 ilabel, int32 olabel,
  float graph cost, float acoustic cost, int32 nextstate}``; the input labels
  are transition-ids, the output labels word ids. The zero weight (no final
  state) is ``(inf, inf)``.
* ``CompactLattice`` (arc type ``compactlattice44``): an acceptor over words
  whose weight is ``(graph cost, acoustic cost, transition-id string)``, written
  as two floats, an int32 length and the int32 transition-ids.

A Kaldi archive entry is ``key`` + space + the FST's bytes, without the ``"\\0B"``
that other binary objects carry (``CompactLatticeHolder::Write``: so that a
lattice written alone is an OpenFst file); ``lat.N.gz`` is such an archive
gzipped, read by Kaldi as ``"ark:gunzip -c lat.N.gz|"``. The acoustic costs
are unscaled (as ``latgen-faster-mapped`` writes them).
"""

from __future__ import annotations

import gzip
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np

from blasr.kaldi.formats.fst import FST_MAGIC, K_EXPANDED, K_MUTABLE, VECTOR_VERSION, parse_fst_header
from blasr.kaldi.formats.io import KaldiFormatError
from blasr.utils.files import CommitOnExit, default_file_mode, temporary_beside

LATTICE_ARC_TYPE = "lattice4"
COMPACT_LATTICE_ARC_TYPE = "compactlattice44"
K_ACCEPTOR = 0x10000  # properties.h
COMPACT_STATE_MIN_BYTES = 20  # final weight (2 floats, int32 string length) + int64 arc count
LATTICE_ARC = np.dtype(
    [("ilabel", "<i4"), ("olabel", "<i4"), ("graph", "<f4"), ("acoustic", "<f4"), ("nextstate", "<i4")]
)


@dataclass
class RawLattice:
    """Kaldi's state-level ``Lattice``: arcs of state ``s`` are ``arcs[first[s]:first[s + 1]]``;
    ``final[s]`` is ``(graph, acoustic)``, ``(inf, inf)`` where ``s`` is not final."""

    start: int
    final: np.ndarray  # (num_states, 2) float32
    first: np.ndarray  # (num_states + 1,) int64
    arcs: np.ndarray  # LATTICE_ARC

    @property
    def num_states(self) -> int:
        return len(self.final)


@dataclass
class CompactLattice:
    """Kaldi's ``CompactLattice``, word arcs with ``(graph, acoustic, transition-ids)`` weights.

    Arc ``k`` goes from ``src[k]`` to ``dst[k]`` with word ``word[k]``, costs
    ``weight[k] = (graph, acoustic)`` and transition-ids ``tids[k]``; ``final[s]``
    as in :class:`RawLattice`, with ``final_tids[s]``. Lattices made by
    :func:`blasr.kaldi.decoding.lattice.determinize` are topologically sorted
    (every arc goes to a higher state) with start state 0.
    """

    start: int
    src: np.ndarray  # int32
    dst: np.ndarray  # int32
    word: np.ndarray  # int32
    weight: np.ndarray  # (num_arcs, 2) float32
    tids: list[tuple[int, ...]]
    final: np.ndarray  # (num_states, 2) float32
    final_tids: list[tuple[int, ...]]

    @property
    def num_states(self) -> int:
        return len(self.final)

    @property
    def num_arcs(self) -> int:
        return len(self.src)

    def is_topologically_sorted(self) -> bool:
        return bool(np.all(self.dst > self.src)) and (self.start == 0 or self.num_states == 0)


def _string(text: str) -> bytes:
    return struct.pack("<i", len(text)) + text.encode("latin-1")


def _vector_header(arc_type: str, properties: int, start: int, num_states: int, num_arcs: int) -> bytes:
    return (struct.pack("<i", FST_MAGIC) + _string("vector") + _string(arc_type)
            + struct.pack("<iiQqqq", VECTOR_VERSION, 0, properties, start, num_states, num_arcs))


def compact_lattice_bytes(lattice: CompactLattice) -> bytes:
    """The OpenFst binary of ``lattice`` (what Kaldi's ``WriteCompactLattice`` writes in binary mode)."""
    order = np.argsort(lattice.src, kind="stable")
    counts = np.bincount(lattice.src, minlength=lattice.num_states) if lattice.num_arcs else np.zeros(
        lattice.num_states, np.int64)
    parts = [_vector_header(COMPACT_LATTICE_ARC_TYPE, K_EXPANDED | K_MUTABLE | K_ACCEPTOR, lattice.start,
                            lattice.num_states, lattice.num_arcs)]
    position = 0
    for state in range(lattice.num_states):
        g, a = lattice.final[state]
        tids = lattice.final_tids[state] if np.isfinite(g) else ()
        parts.append(struct.pack(f"<ffi{len(tids)}iq", g, a, len(tids), *tids, counts[state]))
        for k in order[position:position + counts[state]]:
            word, tids = int(lattice.word[k]), lattice.tids[k]
            parts.append(struct.pack(f"<iiffi{len(tids)}ii", word, word, *lattice.weight[k], len(tids), *tids,
                                     int(lattice.dst[k])))
        position += counts[state]
    return b"".join(parts)


def parse_compact_lattice(data: bytes, offset: int = 0, name: str = "<lattice>") -> tuple[CompactLattice, int]:
    """A ``CompactLattice`` from its OpenFst binary at ``offset``; returns it and the offset past its end."""
    view = memoryview(data)[offset:]
    header = parse_fst_header(view, name)
    if header.fst_type != "vector" or header.arc_type != COMPACT_LATTICE_ARC_TYPE:
        raise KaldiFormatError(f"{name}: a {header.fst_type} FST of {header.arc_type} arcs, not a compact lattice "
                               f"(vector, {COMPACT_LATTICE_ARC_TYPE})")
    pos = offset + header.size
    if header.num_states < 0:
        raise KaldiFormatError(f"{name}: the header does not give the number of states")
    if header.num_states * COMPACT_STATE_MIN_BYTES > len(data) - pos:  # before allocating per state
        raise KaldiFormatError(f"{name}: the header promises {header.num_states} states, more than the "
                               f"{len(data) - pos} bytes left can hold (truncated or corrupt)")
    src, dst, word, weight, tids = [], [], [], [], []
    final = np.empty((header.num_states, 2), dtype=np.float32)
    final_tids: list[tuple[int, ...]] = []
    try:
        for state in range(header.num_states):
            g, a, n = struct.unpack_from("<ffi", data, pos)
            final[state] = g, a
            final_tids.append(struct.unpack_from(f"<{n}i", data, pos + 12))
            pos += 12 + 4 * n
            (num_arcs,) = struct.unpack_from("<q", data, pos)
            pos += 8
            for _ in range(num_arcs):
                ilabel, olabel, g, a, n = struct.unpack_from("<iiffi", data, pos)
                if ilabel != olabel:
                    raise KaldiFormatError(f"{name}: arc {ilabel}:{olabel} of state {state} in an acceptor")
                tids.append(struct.unpack_from(f"<{n}i", data, pos + 20))
                pos += 20 + 4 * n
                (nextstate,) = struct.unpack_from("<i", data, pos)
                pos += 4
                src.append(state)
                dst.append(nextstate)
                word.append(ilabel)
                weight.append((g, a))
    except struct.error:
        raise KaldiFormatError(f"{name}: truncated compact lattice") from None
    lattice = CompactLattice(header.start, np.array(src, np.int32), np.array(dst, np.int32),
                             np.array(word, np.int32), np.array(weight, np.float32).reshape(-1, 2), tids, final,
                             final_tids)
    if lattice.num_arcs and (lattice.dst.min() < 0 or lattice.dst.max() >= lattice.num_states):
        raise KaldiFormatError(f"{name}: an arc points outside states 0..{lattice.num_states - 1}")
    return lattice, pos


def parse_raw_lattice(data: bytes, name: str = "<lattice>") -> RawLattice:
    """A state-level ``Lattice`` from its OpenFst binary (what ``kaldifst.Lattice.write`` writes)."""
    header = parse_fst_header(data, name)
    if header.fst_type != "vector" or header.arc_type != LATTICE_ARC_TYPE:
        raise KaldiFormatError(f"{name}: a {header.fst_type} FST of {header.arc_type} arcs, not a vector lattice")
    pos = header.size
    if not 0 <= header.num_states * 16 <= len(data) - pos:  # a state is at least its final weight and arc count
        raise KaldiFormatError(f"{name}: the header promises {header.num_states} states, the file holds "
                               f"{len(data) - pos} bytes for them (truncated or corrupt)")
    final = np.empty((header.num_states, 2), dtype=np.float32)
    counts = np.empty(header.num_states, dtype=np.int64)
    chunks = []
    for state in range(header.num_states):
        g, a, num_arcs = struct.unpack_from("<ffq", data, pos)
        final[state] = g, a
        counts[state] = num_arcs
        chunks.append(np.frombuffer(data, LATTICE_ARC, num_arcs, pos + 16))
        pos += 16 + LATTICE_ARC.itemsize * num_arcs
    first = np.zeros(header.num_states + 1, dtype=np.int64)
    np.cumsum(counts, out=first[1:])
    arcs = np.concatenate(chunks) if chunks else np.zeros(0, LATTICE_ARC)
    return RawLattice(int(header.start), final, first, arcs)


class LatticeWriter(CommitOnExit):
    """A Kaldi lattice archive (``lat.N.gz``: gzipped when the name ends in ``.gz``), written to a temporary
    file and renamed on :meth:`commit` (leaving the ``with`` block by an exception removes it)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self._tmp = temporary_beside(self.path)
        os.chmod(self._tmp, default_file_mode())
        raw = os.fdopen(fd, "wb")
        self._raw = raw
        self._file: BinaryIO = gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) \
            if self.path.suffix == ".gz" else raw
        self.keys: list[str] = []

    def write(self, key: str, lattice: CompactLattice) -> None:
        if not key or any(ch.isspace() for ch in key):
            raise ValueError(f"Kaldi keys cannot be empty or contain whitespace: {key!r}")
        self._file.write(key.encode() + b" " + compact_lattice_bytes(lattice))
        self.keys.append(key)

    def commit(self) -> None:
        if self._file is not self._raw:
            self._file.close()
        self._raw.flush()
        os.fsync(self._raw.fileno())
        self._raw.close()
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        if self._file is not self._raw:
            self._file.close()
        self._raw.close()
        Path(self._tmp).unlink(missing_ok=True)


def write_lattices(path: str | os.PathLike, lattices: dict[str, CompactLattice]) -> None:
    """Write ``{utterance: lattice}`` as one Kaldi lattice archive (atomically)."""
    with LatticeWriter(path) as writer:
        for key, lattice in lattices.items():
            writer.write(key, lattice)


def read_lattices(path: str | os.PathLike) -> Iterator[tuple[str, CompactLattice]]:
    """``(utterance, lattice)`` pairs of a Kaldi binary lattice archive (gzipped or not, as Kaldi writes them)."""
    path = Path(path)
    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    data = gzip.decompress(path.read_bytes()) if gzipped else path.read_bytes()
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos)
        if space < 0:
            raise KaldiFormatError(f"{path}: no key at byte {pos}")
        key = data[pos:space].decode()
        if data[space + 1:space + 2].isspace():
            raise KaldiFormatError(f"{path}: lattice {key!r} is in text form (only binary lattices are read)")
        lattice, pos = parse_compact_lattice(data, space + 1, f"{path}: lattice {key!r}")
        yield key, lattice
