"""Kaldi's phonetic-context decision tree (the ``tree`` file): ``ContextDependency`` and its event maps.

Formats from ``src/tree/context-dep.cc`` and ``src/tree/event-map.cc``::

    ContextDependency <N> <P> ToPdf <event map> EndContextDependency

where ``N`` is the context width (3 for triphones), ``P`` the central position
(1) and the event map one of

* ``CE <answer>`` (:class:`ConstantEventMap`: a leaf, the pdf-id),
* ``TE <key> <size> ( <map or NULL> ... )`` (:class:`TableEventMap`: branch on
  the value of ``key``; ``size`` is a uint32),
* ``SE <key> [ <yes set> ] { <yes map> <no map> }`` (:class:`SplitEventMap`:
  a yes/no question "is the value of ``key`` in the set?").

Keys are context positions ``0 .. N-1`` (the phone at that position) or -1,
the pdf class (Kaldi's ``kPdfClass``). Binary and text modes follow
:mod:`blasr.kaldi.formats.io`; a binary tree written here is byte-identical to Kaldi's.
:meth:`ContextDependency.to_kaldi_hmm_gmm` builds kaldi-hmm-gmm's
``ContextDependency`` from the serialized bytes (its pickle state).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence, Union

import kaldi_hmm_gmm
import numpy as np

from blasr.kaldi.formats.io import KaldiReader, KaldiWriter

PDF_CLASS_KEY = -1  # Kaldi's kPdfClass


@dataclass(frozen=True)
class ConstantEventMap:
    answer: int


@dataclass
class TableEventMap:
    key: int
    table: list[Union["EventMap", None]]


@dataclass
class SplitEventMap:
    key: int
    yes_set: tuple[int, ...]
    yes: "EventMap"
    no: "EventMap"

    def __post_init__(self) -> None:
        self.yes_set = tuple(sorted(set(int(v) for v in self.yes_set)))


EventMap = Union[ConstantEventMap, TableEventMap, SplitEventMap]


def map_event(event_map: EventMap | None, event: dict[int, int]) -> int | None:
    """The answer of an event map for an event ``{key: value}``, or None (Kaldi's ``EventMap::Map``)."""
    node = event_map
    while node is not None:
        if isinstance(node, ConstantEventMap):
            return node.answer
        value = event.get(node.key)
        if value is None:
            return None
        if isinstance(node, TableEventMap):
            node = node.table[value] if 0 <= value < len(node.table) else None
        else:
            node = node.yes if value in node.yes_set else node.no
    return None


def iter_answers(event_map: EventMap | None) -> Iterator[int]:
    """Every leaf answer (pdf-id) in the map, depth first, with repeats."""
    stack = [event_map]
    while stack:
        node = stack.pop()
        if isinstance(node, ConstantEventMap):
            yield node.answer
        elif isinstance(node, TableEventMap):
            stack.extend(reversed(node.table))
        elif isinstance(node, SplitEventMap):
            stack.extend((node.no, node.yes))


def read_event_map(reader: KaldiReader) -> EventMap | None:
    at = reader.pos
    first = reader.peek_char()
    if first == "N":
        reader.expect_token("NULL")
        return None
    if first == "C":
        reader.expect_token("CE")
        return ConstantEventMap(reader.read_int32())
    if first == "T":
        reader.expect_token("TE")
        key = reader.read_int32()
        size = reader.read_uint32()
        reader.expect_token("(")
        table = [read_event_map(reader) for _ in range(size)]
        reader.expect_token(")")
        return TableEventMap(key, table)
    if first == "S":
        reader.expect_token("SE")
        key = reader.read_int32()
        yes_set = reader.read_int_vector().tolist()
        reader.expect_token("{")
        yes = read_event_map(reader)
        no = read_event_map(reader)
        if yes is None or no is None:
            raise reader.error("a split (SE) needs both a yes and a no map, found NULL", at)
        reader.expect_token("}")
        return SplitEventMap(key, yes_set, yes, no)
    found = "the end of the file" if not first else repr(first)
    raise reader.error(f"expected an event map (CE, TE, SE or NULL), found {found}", at)


def write_event_map(writer: KaldiWriter, event_map: EventMap | None) -> None:
    if event_map is None:
        writer.token("NULL")
    elif isinstance(event_map, ConstantEventMap):
        writer.token("CE")
        writer.int32(event_map.answer)
    elif isinstance(event_map, TableEventMap):
        writer.token("TE")
        writer.int32(event_map.key)
        writer.uint32(len(event_map.table))
        writer.token("(")
        for child in event_map.table:
            write_event_map(writer, child)
        writer.token(")")
        writer.newline()
    elif isinstance(event_map, SplitEventMap):
        writer.token("SE")
        writer.int32(event_map.key)
        writer.int_vector(event_map.yes_set)  # ConstIntegerSet::Write is WriteIntegerVector
        writer.token("{")
        write_event_map(writer, event_map.yes)
        write_event_map(writer, event_map.no)
        writer.token("}")
        writer.newline()
    else:
        raise TypeError(f"not an event map: {event_map!r}")


@dataclass
class ContextDependency:
    """Kaldi's ``ContextDependency``: context width N, central position P and the tree to pdf-ids."""

    context_width: int
    central_position: int
    to_pdf: EventMap

    def __post_init__(self) -> None:
        if not 0 <= self.central_position < self.context_width:
            raise ValueError(
                f"central position {self.central_position} is outside the context of width {self.context_width}"
            )

    @property
    def num_pdfs(self) -> int:
        """1 + the largest leaf answer (Kaldi's ``NumPdfs``: ``to_pdf_->MaxResult() + 1``)."""
        return max(iter_answers(self.to_pdf), default=-1) + 1

    def compute(self, phones: Sequence[int], pdf_class: int) -> int | None:
        """The pdf-id of ``pdf_class`` of the central phone in the window ``phones`` (N phones; 0 = none).

        None where the tree has no answer, as Kaldi's ``ContextDependency::Compute`` returning false.
        """
        if len(phones) != self.context_width:
            raise ValueError(f"expected {self.context_width} phones, got {len(phones)}")
        event = {PDF_CLASS_KEY: int(pdf_class)}
        event.update((position, int(phone)) for position, phone in enumerate(phones))
        return map_event(self.to_pdf, event)

    # -- Kaldi format ------------------------------------------------------------------

    @classmethod
    def read(cls, reader: KaldiReader) -> "ContextDependency":
        reader.expect_token("ContextDependency")
        width = reader.read_int32()
        at = reader.pos
        central = reader.read_int32()
        if not 0 <= central < width:
            raise reader.error(f"central position {central} is outside the context of width {width}", at)
        at = reader.pos
        token = reader.read_token()
        if token == "ToLength":  # Kaldi's back-compatibility: an old, unused map comes first
            read_event_map(reader)
            at = reader.pos
            token = reader.read_token()
        if token != "ToPdf":
            raise reader.error(f"expected ToPdf, found {token}", at)
        to_pdf = read_event_map(reader)
        if to_pdf is None:
            raise reader.error("the tree is empty (NULL)", at)
        reader.expect_token("EndContextDependency")
        return cls(width, central, to_pdf)

    def write(self, writer: KaldiWriter) -> None:
        writer.token("ContextDependency")
        writer.int32(self.context_width)
        writer.int32(self.central_position)
        writer.token("ToPdf")
        write_event_map(writer, self.to_pdf)
        writer.token("EndContextDependency")

    def to_bytes(self, binary: bool = True) -> bytes:
        writer = KaldiWriter(binary)
        self.write(writer)
        return writer.getvalue()

    def to_kaldi_hmm_gmm(self) -> Any:
        """A ``kaldi_hmm_gmm.ContextDependency``: its pickle state is the binary serialization
        (without the ``"\\0B"`` header) as a list of signed bytes."""

        data = KaldiWriter(binary=True, header=False)
        self.write(data)
        signed = np.frombuffer(data.getvalue(), dtype=np.int8).tolist()
        tree = kaldi_hmm_gmm.ContextDependency.__new__(kaldi_hmm_gmm.ContextDependency)
        tree.__setstate__((signed,))
        return tree

    @classmethod
    def from_kaldi_hmm_gmm(cls, tree: Any) -> "ContextDependency":
        (signed,) = tree.__getstate__()
        data = np.array(signed, dtype=np.int8).tobytes()
        return cls.read(KaldiReader(data, "kaldi_hmm_gmm.ContextDependency", binary=True))


def read_tree(path: str | os.PathLike) -> ContextDependency:
    """A Kaldi ``tree`` file, binary or text."""
    reader = KaldiReader.open(path)
    tree = ContextDependency.read(reader)
    at = reader.pos
    if not reader.at_end():
        raise reader.error("unexpected data after EndContextDependency", at)
    return tree


def write_tree(tree: ContextDependency, path: str | os.PathLike, binary: bool = True) -> Path:
    path = Path(path)
    path.write_bytes(tree.to_bytes(binary))
    return path
