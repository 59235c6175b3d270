"""Window and chunk loaders for frame-level training and evaluation.

Both modes are one mechanism: a batch row is a *unit* of ``C`` consecutive
target frames with ``24 + 24`` frames of context, ``C + 48`` input frames.

* **window mode** (the paper's): ``C = 1``; each row is the 49-frame window
  centred on one target frame, frames shuffled across utterances.
* **chunk mode** (dense prediction, about 10x less compute per frame): ``C``
  frames per row, all trained at once (the model returns ``C`` frames for
  ``C + 48`` inputs).

Training may mask the input (``spec_augment``, :mod:`blasr.data.spec_augment`):
per utterance and epoch, after normalisation and Δ/ΔΔ, targets untouched.

Beyond an utterance's ends the input repeats its first / last frame (after
normalisation and Δ/ΔΔ), in both modes, so a frame's input window is the
same in both; target positions past the end of an utterance (the tail of its
last chunk) hold ``IGNORE_INDEX`` (-100).

A batch is a dict::

    features     (N, 3, F, C + 48) float32   channels static, Δ, ΔΔ; F = 64 mel bins
    targets      (N, C) int64                pdf-ids; -100 = ignore
    cut_ids      list of N cut ids           ("" for a padding row)
    frames       (N,) int64                  frame index (in its cut) of targets[:, 0]

``model(batch["features"])`` is ``(N, C, classes)``; train with
``cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100)``.

The epoch plan (sharding, shuffling, resuming) is :mod:`blasr.data.schedule`.
Work split: background workers (torch DataLoader processes) *prepare buckets*
-- read the static features and targets of a bucket's utterances, normalise,
add Δ/ΔΔ, replicate edges -- each worker every ``num_workers``-th bucket; the
main process gathers every batch from the current bucket with one
``index_select`` (on ``device`` when given, so window batches, 49x larger
than the features they come from, never cross the process boundary or the
PCIe bus).

Between epochs: a manifest of at most ``cache_cuts`` cuts is parsed once and
kept in memory (about 5 kB a cut), so an epoch's plan costs no re-reading;
:meth:`FrameLoader.prefetch` starts the workers of the next iteration early
(the trainer calls it after each epoch's last step, so the first bucket of
the next epoch is prepared while this one is validated and saved).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from blasr.data import schedule
from blasr.data.spec_augment import SpecAugment
from blasr.data.targets import IGNORE_INDEX, load_targets
from blasr.features.cmvn import NORMALIZATIONS, CmvnTable
from blasr.features.extract import feature_frames, load_static, open_cuts
from blasr.features.input import normalized_with_deltas

MODES = ("window", "chunk")


class FrameDataset(IterableDataset):
    """The epoch plan of one rank and the preparation of its buckets (see the module doc).

    Iterated by torch's DataLoader, it yields prepared buckets; :meth:`batches`
    turns them into batches. Most users want :class:`FrameLoader`.

    Args:
        cuts: manifest path (streamed every epoch; bounded memory) or a CutSet.
        chunk_frames: ``C``, target frames per row (1 = window mode).
        batch_size: rows per batch (256 in the paper's window mode).
        shuffle: shuffle cuts and frames (training); False keeps manifest order (evaluation).
        seed: with the epoch, fixes the whole plan.
        rank, world_size: this process's share of the data (DDP).
        shuffle_buffer_frames: target frames per shuffle bucket (memory: ~768 bytes
            per frame for 3 x 64 float32, plus 48 context frames per utterance).
        cut_buffer: cuts per fill-shuffle-drain block of the cut order.
        normalization: ``utterance`` (the paper's), ``speaker``, ``side`` or ``none``.
        cmvn: a :class:`CmvnTable` (or its ``.npz`` path) for ``speaker`` / ``side``.
        norm_vars: normalise variances as well as means.
        require_targets: every cut must have targets (training); if False, missing
            targets are all ``IGNORE_INDEX`` (inputs only, e.g. for inference).
        left_context, right_context: frames of context the model needs (24, 24).
        spec_augment: frequency / time masks drawn per utterance from ``(seed, epoch, cut id)``
            (training only; None or all counts 0: no masks).
        cache_cuts: keep the parsed manifest in memory when it has at most this many cuts (0: always
            stream it); each epoch's plan then reads no file.
    """

    def __init__(
        self,
        cuts,
        chunk_frames: int = 1,
        batch_size: int = 256,
        shuffle: bool = True,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        shuffle_buffer_frames: int = 100_000,
        cut_buffer: int = 10_000,
        normalization: str = "utterance",
        cmvn: CmvnTable | str | os.PathLike | None = None,
        norm_vars: bool = True,
        require_targets: bool = True,
        left_context: int = 24,
        right_context: int = 24,
        spec_augment: SpecAugment | None = None,
        cache_cuts: int = 50_000,
    ) -> None:
        super().__init__()
        if chunk_frames < 1 or batch_size < 1:
            raise ValueError(f"chunk_frames and batch_size must be >= 1, got {chunk_frames}, {batch_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, world_size={world_size})")
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"unknown normalization {normalization!r}; choose one of {NORMALIZATIONS}")
        if isinstance(cmvn, (str, os.PathLike)):
            cmvn = CmvnTable.load(cmvn)
        if normalization in ("speaker", "side"):
            if cmvn is None or cmvn.group != normalization:
                raise ValueError(f"normalization={normalization!r} needs a CmvnTable of group {normalization!r}")
        self.cuts = cuts
        self.chunk_frames = chunk_frames
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.bucket_units = max(1, shuffle_buffer_frames // chunk_frames)
        self.cut_buffer = max(1, cut_buffer)
        self.normalization = normalization
        self.cmvn = cmvn
        self.norm_vars = norm_vars
        self.require_targets = require_targets
        self.left_context = left_context
        self.right_context = right_context
        self.spec_augment = spec_augment if spec_augment is not None and spec_augment.enabled else None
        self.epoch = 0
        self.start_batch = 0
        self.cache_cuts = cache_cuts
        self._cached: list | None = None
        self._scan()

    def _scan(self) -> None:
        """One pass over the manifest: totals for the plan, every cut checked up front, and the cuts
        kept when there are at most ``cache_cuts``."""
        num_cuts = frames = units = 0
        num_features = None
        cached: list | None = [] if self.cache_cuts > 0 else None
        for cut in open_cuts(self.cuts):
            if cached is not None:
                if len(cached) < self.cache_cuts:
                    cached.append(cut)
                else:
                    cached = None  # too many: stream the manifest every epoch
            count = feature_frames(cut)
            if num_features is None:
                num_features = cut.features.num_features
            elif cut.features.num_features != num_features:
                raise ValueError(f"cut {cut.id} has {cut.features.num_features} features, others {num_features}")
            if self.require_targets:
                array = cut.custom.get("targets") if cut.custom else None
                if array is None:
                    raise ValueError(f"cut {cut.id} has no targets; run python -m blasr.targets on its manifest")
                if array.shape[0] != count:
                    raise ValueError(f"cut {cut.id}: {array.shape[0]} targets for {count} feature frames")
            if self.cmvn is not None and self.normalization in ("speaker", "side"):
                self.cmvn.for_cut(cut)
            num_cuts += 1
            frames += count
            units += schedule.units_of(count, self.chunk_frames)
        if num_cuts == 0:
            raise ValueError(f"the manifest {self.cuts} has no cuts")
        self.num_cuts, self.total_frames, self.total_units, self.num_features = num_cuts, frames, units, num_features
        self._cached = cached

    def _cuts(self):
        """The manifest's cuts in order: the kept ones, or read again."""
        return iter(self._cached) if self._cached is not None else open_cuts(self.cuts)

    @property
    def input_frames(self) -> int:
        """``C + left + right`` input frames per row."""
        return self.chunk_frames + self.left_context + self.right_context

    @property
    def num_batches(self) -> int:
        """Batches per epoch, the same on every rank (iterating the dataset yields buckets)."""
        return schedule.num_batches(self.total_units, self.world_size, self.batch_size)

    def fingerprint(self) -> dict:
        """What a saved loader position is only valid for."""
        return dict(
            chunk_frames=self.chunk_frames, batch_size=self.batch_size, world_size=self.world_size,
            total_units=self.total_units, shuffle=self.shuffle, bucket_units=self.bucket_units,
            cut_buffer=self.cut_buffer,
        )

    def plan(self, epoch: int) -> Iterator[schedule.Bucket]:
        """This rank's buckets for ``epoch``, metadata only (see :mod:`blasr.data.schedule`)."""
        lo, hi = schedule.rank_bounds(self.total_units, self.rank, self.world_size)
        order = schedule.epoch_cut_order(self._cuts(), self.seed, epoch, self.shuffle, self.cut_buffer)
        pieces = schedule.rank_pieces(order, feature_frames, self.chunk_frames, lo, hi)
        return schedule.buckets(pieces, self.bucket_units, self.shuffle, self.seed, epoch, self.rank)

    def first_bucket(self, epoch: int, start_batch: int) -> int:
        """Index of the bucket holding the first unit of batch ``start_batch`` (a large number if none)."""
        start_unit, seen = start_batch * self.batch_size, 0
        for bucket in self.plan(epoch):
            seen += bucket.num_units
            if seen > start_unit:
                return bucket.index
        return 2**62

    def __iter__(self) -> Iterator[tuple[int, dict]]:
        """Worker side: ``(bucket index, prepared arrays)`` of every ``num_workers``-th bucket that
        the batches from ``self.start_batch`` on need, in order (torch's DataLoader collects them
        round-robin, i.e. in bucket order)."""
        info = get_worker_info()
        worker, num_workers = (info.id, info.num_workers) if info is not None else (0, 1)
        first = self.first_bucket(self.epoch, self.start_batch)
        for bucket in self.plan(self.epoch):
            if bucket.index >= first and (bucket.index - first) % num_workers == worker:
                yield bucket.index, self.prepare(bucket, self.epoch)

    def batches(
        self, epoch: int, start_batch: int = 0, prepared: Iterator[tuple[int, dict]] | None = None,
        device: torch.device | str | None = None,
    ) -> Iterator[dict]:
        """Batches ``start_batch, start_batch + 1, ...`` of ``epoch``.

        ``prepared`` yields the buckets' arrays in order (background workers);
        without it buckets are prepared here. Batches are gathered on ``device``
        (default CPU): each bucket is moved there once, then every batch is one
        ``index_select`` on it.
        """
        index = 0
        for parts in schedule.batch_plan(self.plan(epoch), self.batch_size):
            if index >= start_batch:
                for bucket, _ in parts:
                    if bucket.arrays is None:
                        bucket.arrays = self._arrays(bucket, prepared, device, epoch)
                yield self._gather(parts, device)
            index += 1
        for _ in range(max(index, start_batch), self.num_batches):  # a rank one unit short pads
            yield self._padding_batch(device)

    def _arrays(self, bucket: schedule.Bucket, prepared, device, epoch: int) -> dict:
        if prepared is None:
            arrays = self.prepare(bucket, epoch)
        else:
            index, arrays = next(prepared)
            if index != bucket.index:  # the workers follow the same plan; anything else is a bug
                raise RuntimeError(f"expected bucket {bucket.index} from the workers, got {index}")
        if device is not None:
            arrays = {k: v.to(device, non_blocking=True) for k, v in arrays.items()}
        channels, bins, length = arrays["features"].shape
        width = self.input_frames
        # window s = frames s .. s + W - 1 of the (3, F, L) row-major features: (L - W + 1, 3, F, W)
        arrays["windows"] = arrays["features"].as_strided((length - width + 1, channels, bins, width),
                                                          (1, bins * length, length, 1))
        targets = arrays["targets"]
        arrays["target_windows"] = targets.as_strided((len(targets) - self.chunk_frames + 1, self.chunk_frames),
                                                      (1, 1))
        return arrays

    def _gather(self, parts: list, device) -> dict:
        features, targets, cut_ids, frames = [], [], [], []
        for bucket, units in parts:
            arrays = bucket.arrays
            pieces, local = bucket.unit_piece[units], bucket.unit_local[units]
            # a unit starts C frames after the previous unit of its piece, in the piece's padded slice
            offset = torch.from_numpy(local * self.chunk_frames).to(arrays["input_base"].device)
            piece_index = torch.from_numpy(pieces).to(offset.device)
            # one gather straight into the batch layout (N, 3, F, C + 48)
            features.append(arrays["windows"].index_select(0, arrays["input_base"][piece_index] + offset))
            targets.append(arrays["target_windows"].index_select(0, arrays["target_base"][piece_index] + offset))
            cut_ids.extend(bucket.pieces[p].cut.id for p in pieces)
            frames.append((np.array([bucket.pieces[p].first for p in pieces]) + local) * self.chunk_frames)
        return dict(
            features=features[0] if len(features) == 1 else torch.cat(features),
            targets=targets[0] if len(targets) == 1 else torch.cat(targets),
            cut_ids=cut_ids,
            frames=torch.from_numpy(np.concatenate(frames).astype(np.int64)),
        )

    def _padding_batch(self, device) -> dict:
        return dict(
            features=torch.zeros(1, 3, self.num_features, self.input_frames, device=device),
            targets=torch.full((1, self.chunk_frames), IGNORE_INDEX, dtype=torch.int64, device=device),
            cut_ids=[""],
            frames=torch.full((1,), -1, dtype=torch.int64),
        )

    def prepare(self, bucket: schedule.Bucket, epoch: int | None = None) -> dict:
        """Load, normalise and add Δ/ΔΔ to a bucket's pieces (masked as ``epoch``'s when ``spec_augment``
        is set; default the current epoch), concatenated along time.

        Returns tensors: ``features`` ``(3, F, L)`` row-major, ``targets`` ``(L_t,)``,
        and per piece the offsets ``input_base`` / ``target_base`` of its slices.
        """
        epoch = self.epoch if epoch is None else epoch
        features, targets, input_base, target_base = [], [], [], []
        offset = target_offset = 0
        for piece in bucket.pieces:
            x, y = self._prepare_piece(piece, epoch)
            features.append(x)
            targets.append(y)
            input_base.append(offset)
            target_base.append(target_offset)
            offset += x.shape[-1]
            target_offset += len(y)
        return dict(
            # np.concatenate keeps its inputs' (transposed) memory order: make it row-major
            features=torch.from_numpy(np.ascontiguousarray(np.concatenate(features, axis=-1))),
            targets=torch.from_numpy(np.concatenate(targets)),
            input_base=torch.tensor(input_base, dtype=torch.int64),
            target_base=torch.tensor(target_base, dtype=torch.int64),
        )

    def _prepare_piece(self, piece: schedule.Piece, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """``(3, F, units C + 48)`` inputs and ``(units C,)`` targets of one piece."""
        cut, num_frames, chunk = piece.cut, piece.num_frames, self.chunk_frames
        try:
            static = load_static(cut)
            stats = self.cmvn.for_cut(cut) if self.normalization in ("speaker", "side") else None
            inputs = normalized_with_deltas(static, self.normalization, stats, self.norm_vars)  # (3, T, F)
            if self.spec_augment is not None:
                # masks over the whole utterance, so every piece and window of it sees the same ones
                inputs = self.spec_augment.apply(inputs, self.seed, epoch, cut.id)
            targets = self._targets(cut, num_frames)
        except Exception as error:
            raise RuntimeError(f"cannot load cut {cut.id}: {error}") from error
        span = schedule.units_of(num_frames, chunk) * chunk  # the chunk grid covers T, tail ignored
        inputs = np.pad(
            inputs, ((0, 0), (self.left_context, self.right_context + span - num_frames), (0, 0)), mode="edge"
        )
        targets = np.pad(targets, (0, span - num_frames), constant_values=IGNORE_INDEX)
        first, end = piece.first * chunk, piece.end * chunk
        # (3, T', F) -> (3, F, T'): time last, as the model takes it
        return (
            inputs[:, first : end + self.left_context + self.right_context].transpose(0, 2, 1),
            targets[first:end],
        )

    def _targets(self, cut, num_frames: int) -> np.ndarray:
        has = bool(cut.custom) and cut.custom.get("targets") is not None
        if not has and not self.require_targets:
            return np.full(num_frames, IGNORE_INDEX, dtype=np.int64)
        targets = load_targets(cut)
        if len(targets) != num_frames:
            raise ValueError(f"{len(targets)} targets for {num_frames} feature frames")
        return targets


class FrameLoader:
    """Resumable, sharded window / chunk batches, prepared by background worker processes.

    ``mode="window"`` -> 49-frame windows (``C = 1``); ``mode="chunk"`` -> rows
    of ``chunk_frames`` (default 100) targets with 48 frames of context. Other
    keywords go to :class:`FrameDataset`. ``rank`` / ``world_size`` default to
    ``torch.distributed``'s when it is initialised. ``num_workers`` processes
    prepare buckets (0 = in this process); ``prefetch_factor`` buckets per
    worker are prepared ahead (memory: one bucket is ~768 bytes per target
    frame of ``shuffle_buffer_frames``). ``device``: gather batches there (e.g.
    ``"cuda"``); each bucket is copied to it once.

    Iterating yields the rest of the current epoch, then moves to the next
    epoch. :meth:`state_dict` is ``{epoch, batches_done, seed, ...}``; after
    :meth:`load_state_dict` the next iteration yields exactly the batches an
    uninterrupted run would have yielded next, for any ``num_workers``.

    Example::

        loader = FrameLoader("exp/data/cuts.jsonl.gz", mode="window", batch_size=256, num_workers=2)
        for epoch in range(16):
            loader.set_epoch(epoch)
            for batch in loader:
                logits = model(batch["features"])      # (256, 1, classes)
    """

    def __init__(
        self,
        cuts,
        mode: str = "window",
        chunk_frames: int | None = None,
        num_workers: int = 1,
        prefetch_factor: int = 1,
        device: torch.device | str | None = None,
        rank: int | None = None,
        world_size: int | None = None,
        **dataset_options,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; choose one of {MODES}")
        if mode == "window":
            if chunk_frames not in (None, 1):
                raise ValueError("window mode trains one frame per row; use mode='chunk' for chunk_frames > 1")
            chunk_frames = 1
        elif chunk_frames is None:
            chunk_frames = 100
        if rank is None or world_size is None:
            default_rank, default_world = _distributed()
            rank = default_rank if rank is None else rank
            world_size = default_world if world_size is None else world_size
        self.mode = mode
        self.dataset = FrameDataset(
            cuts, chunk_frames=chunk_frames, rank=rank, world_size=world_size, **dataset_options
        )
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor
        self.device = device
        self.epoch = 0
        self.batches_done = 0
        self._prefetched: tuple[tuple[int, int], Iterator] | None = None  # (epoch, batch), its workers' buckets

    def __len__(self) -> int:
        """Batches per epoch (equal on every rank)."""
        return self.dataset.num_batches

    def set_epoch(self, epoch: int) -> None:
        """Start ``epoch`` from its beginning, unless it is the current (possibly resumed) epoch."""
        if epoch != self.epoch:
            self.epoch, self.batches_done = epoch, 0

    def _next_position(self) -> tuple[int, int]:
        """``(epoch, batch)`` the next iteration starts at."""
        if self.batches_done >= len(self):  # the current epoch is over: go on with the next
            return self.epoch + 1, 0
        return self.epoch, self.batches_done

    def _start_workers(self, epoch: int, start_batch: int) -> Iterator[tuple[int, dict]]:
        # the workers take a copy of the dataset as it is now: the position they prepare buckets from
        self.dataset.epoch, self.dataset.start_batch = epoch, start_batch
        return iter(
            DataLoader(
                self.dataset, batch_size=None, num_workers=self.num_workers,
                prefetch_factor=self.prefetch_factor, persistent_workers=False,
            )
        )

    def prefetch(self, epoch: int | None = None) -> None:
        """Start the background workers of the next iteration now (from ``epoch``'s start when given, as
        :meth:`set_epoch`), so that its first buckets are ready when it begins; nothing without workers.
        The batches are the same as without it."""
        if epoch is not None:
            self.set_epoch(epoch)
        position = self._next_position()
        if self.num_workers > 0 and (self._prefetched is None or self._prefetched[0] != position):
            self._prefetched = None  # shut down the workers of a position given up
            self._prefetched = (position, self._start_workers(*position))

    def __iter__(self) -> Iterator[dict]:
        self.epoch, self.batches_done = self._next_position()
        self.dataset.epoch, self.dataset.start_batch = self.epoch, self.batches_done
        prepared = None
        if self.num_workers > 0:
            if self._prefetched is not None and self._prefetched[0] == (self.epoch, self.batches_done):
                prepared = self._prefetched[1]
            else:
                prepared = self._start_workers(self.epoch, self.batches_done)
            self._prefetched = None
        for batch in self.dataset.batches(self.epoch, self.batches_done, prepared, self.device):
            self.batches_done += 1
            yield batch

    def state_dict(self) -> dict:
        """The position: ``epoch``, ``batches_done`` in it, ``seed``, and what it is valid for."""
        return dict(epoch=self.epoch, batches_done=self.batches_done, seed=self.dataset.seed,
                    **self.dataset.fingerprint())

    def load_state_dict(self, state: dict) -> None:
        """Resume at a saved position; refuses one saved with another plan (batch size, C, ranks, data)."""
        expected = self.dataset.fingerprint()
        for key, value in expected.items():
            if key in state and state[key] != value:
                raise ValueError(f"loader state was saved with {key}={state[key]}, this loader has {value}")
        self.epoch = int(state["epoch"])
        self.batches_done = int(state["batches_done"])
        self.dataset.seed = int(state["seed"])
        self._prefetched = None


def _distributed() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1
