"""The epoch plan of the frame loaders, computed from metadata only (no features are read).

Vocabulary: a *unit* is what one batch row trains on: ``C`` consecutive
target frames of one utterance (window mode: ``C = 1``). An utterance of
``T`` frames has ``ceil(T / C)`` units; the last one may run past the end
(its extra targets are ignored).

One epoch, for rank ``r`` of ``W``:

1. **Cut order.** The manifest is streamed through a fill-shuffle-drain
   buffer of ``cut_buffer`` cuts seeded by ``(seed, epoch)`` -- the same on
   every rank.
2. **Rank block.** Units are numbered ``0 .. U - 1`` along that order; rank
   ``r`` owns ``[r U // W, (r + 1) U // W)``, so across ranks every unit (hence
   every target frame) is used exactly once, ranks differ by at most one unit,
   and a rank reads the features of its own utterances only (one utterance
   may be split between two ranks).
3. **Shuffle buffer.** The rank's units are grouped, in order, into buckets
   of at least ``bucket_units`` units (whole utterances), and each bucket's
   units are permuted with a generator seeded by ``(seed, epoch, rank,
   bucket)``: frames are shuffled across the utterances of a bucket, with
   memory bounded by the bucket (Kaldi nnet1's randomizer works the same way:
   fill a buffer, shuffle, drain).
4. **Batches.** Consecutive ``batch_size`` units of the bucket stream form
   a batch (a batch may straddle two buckets). Every rank yields
   ``ceil(ceil(U / W) / batch_size)`` batches; a rank one unit short of that
   ends with a padding batch whose targets are all ignored.

Because the plan depends only on the manifest and ``(seed, epoch, rank)``,
skipping the first ``k`` batches (resuming mid-epoch) costs no feature reads.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Piece:
    """Units ``[first, end)`` of one cut owned by this rank (chunk indices within the cut)."""

    cut: object
    num_frames: int
    first: int
    end: int

    @property
    def num_units(self) -> int:
        return self.end - self.first


@dataclass
class Bucket:
    """Consecutive pieces whose units are shuffled together.

    ``order[i]`` is the bucket-local unit drawn ``i``-th; unit ``u`` belongs to
    piece ``unit_piece[u]`` and is that piece's ``unit_local[u]``-th unit.
    ``arrays`` holds the prepared features once a batch needs them.
    """

    index: int
    pieces: list[Piece]
    order: np.ndarray
    unit_piece: np.ndarray
    unit_local: np.ndarray
    arrays: object = field(default=None, repr=False)

    @property
    def num_units(self) -> int:
        return len(self.order)


def units_of(num_frames: int, chunk_frames: int) -> int:
    """``ceil(T / C)``: units of an utterance of ``T`` frames."""
    return -(-num_frames // chunk_frames)


def rank_bounds(total_units: int, rank: int, world_size: int) -> tuple[int, int]:
    """The global unit range ``[lo, hi)`` that ``rank`` owns."""
    return rank * total_units // world_size, (rank + 1) * total_units // world_size


def num_batches(total_units: int, world_size: int, batch_size: int) -> int:
    """Batches every rank yields per epoch (ranks with one unit fewer pad the last)."""
    return max(1, math.ceil(math.ceil(total_units / world_size) / batch_size))


def epoch_cut_order(cuts: Iterable, seed: int, epoch: int, shuffle: bool, cut_buffer: int) -> Iterator:
    """The epoch's cut order: the manifest order, or fill-shuffle-drain blocks of ``cut_buffer`` cuts."""
    if not shuffle:
        yield from cuts
        return
    rng = np.random.default_rng([seed, epoch, 1])
    block: list = []
    for cut in cuts:
        block.append(cut)
        if len(block) == cut_buffer:
            yield from (block[i] for i in rng.permutation(len(block)))
            block = []
    yield from (block[i] for i in rng.permutation(len(block)))


def rank_pieces(
    cuts: Iterable, frames_of, chunk_frames: int, lo: int, hi: int
) -> Iterator[Piece]:
    """The pieces of ``cuts`` (in order) that fall in the unit range ``[lo, hi)``; stops after ``hi``."""
    position = 0
    for cut in cuts:
        if position >= hi:
            return
        num_frames = frames_of(cut)
        count = units_of(num_frames, chunk_frames)
        first, end = max(lo, position), min(hi, position + count)
        if first < end:
            yield Piece(cut, num_frames, first - position, end - position)
        position += count


def buckets(
    pieces: Iterable[Piece], bucket_units: int, shuffle: bool, seed: int, epoch: int, rank: int
) -> Iterator[Bucket]:
    """Group pieces into buckets of >= ``bucket_units`` units and draw each bucket's unit order."""
    group: list[Piece] = []
    size = 0
    index = 0
    for piece in pieces:
        group.append(piece)
        size += piece.num_units
        if size >= bucket_units:
            yield _bucket(index, group, shuffle, seed, epoch, rank)
            index += 1
            group, size = [], 0
    if group:
        yield _bucket(index, group, shuffle, seed, epoch, rank)


def _bucket(index: int, pieces: list[Piece], shuffle: bool, seed: int, epoch: int, rank: int) -> Bucket:
    counts = np.array([p.num_units for p in pieces])
    unit_piece = np.repeat(np.arange(len(pieces)), counts)
    unit_local = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    total = int(counts.sum())
    if shuffle:
        order = np.random.default_rng([seed, epoch, rank, index, 2]).permutation(total)
    else:
        order = np.arange(total)
    return Bucket(index, pieces, order, unit_piece, unit_local)


def batch_plan(bucket_stream: Iterable[Bucket], batch_size: int) -> Iterator[list[tuple[Bucket, np.ndarray]]]:
    """Batches as lists of ``(bucket, bucket-local unit ids)``, in the order they are drawn."""
    parts: list[tuple[Bucket, np.ndarray]] = []
    filled = 0
    for bucket in bucket_stream:
        drawn = 0
        while drawn < bucket.num_units:
            take = min(batch_size - filled, bucket.num_units - drawn)
            parts.append((bucket, bucket.order[drawn : drawn + take]))
            filled += take
            drawn += take
            if filled == batch_size:
                yield parts
                parts, filled = [], 0
    if parts:
        yield parts
