"""Data-parallel training under ``torchrun``, and its single-process fallback.

* :func:`init_distributed` reads the variables ``torchrun`` exports (``RANK``,
  ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``) and joins
  the process group: NCCL when the process drives a GPU, gloo on CPU. Without
  them (plain ``python -m ...``) it returns a one-process context and no group
  is created, so every helper below degrades to a no-op.
* :func:`all_reduce` / :func:`reduce_sums` combine metrics across processes.
* :class:`ShardedBatchSampler` shards an epoch's permutation across processes
  (like ``torch.utils.data.DistributedSampler`` + ``BatchSampler``, seeded by
  ``seed + epoch``), can start part-way into an epoch (exact resume), and can
  hand each sample its own augmentation seed, so augmentations do not depend on
  the number of loader workers.
* :func:`setup_logging` (a context manager) logs INFO and up on rank 0 only;
  other ranks print warnings and errors, prefixed with their rank.
* :func:`run_training` is a trainer's entry point under ``torchrun`` or not:
  join the group, lock the experiment directory (one run at a time), log
  (to ``EXP/train.log`` too), run, report errors, leave;
  :func:`unwrap_model` gives the network inside DDP / ``torch.compile``.

Domain-agnostic: the image and speech trainers share it.
"""

from __future__ import annotations

import logging
import os
import sys
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, TypeVar

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from blasr.utils.lock import DirectoryInUseError, lock_directory
from blasr.utils.logs import formatter

logger = logging.getLogger(__name__)

_TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")

T = TypeVar("T")


@dataclass(frozen=True)
class DistContext:
    """Where this process sits in the job, and the device it drives."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    owns_group: bool = False  # True when init_distributed created the process group

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1


def init_distributed(device: str | None = None) -> DistContext:
    """Join the ``torchrun`` process group, or return a single-process context.

    ``device``: ``"cuda"``, ``"cpu"`` or ``None`` (CUDA when available). Under
    ``torchrun`` each process drives GPU ``LOCAL_RANK`` and uses NCCL; on CPU the
    group uses gloo. A group that already exists (initialised by the caller) is
    reused and left for the caller to destroy.
    """
    use_cuda = torch.cuda.is_available() if device is None else device.startswith("cuda")
    if use_cuda and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was requested but torch.cuda.is_available() is False")
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if world_size > 1:
        missing = [name for name in _TORCHRUN_VARS if name not in os.environ]
        if missing:
            raise RuntimeError(
                f"WORLD_SIZE={world_size} but {', '.join(missing)} unset; launch with "
                "`torchrun --nproc-per-node N -m ...`, which sets all of them"
            )
    if use_cuda:
        torch.cuda.set_device(local_rank)
        torch_device = torch.device("cuda", local_rank)
    else:
        torch_device = torch.device("cpu")
    owns_group = False
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo", rank=rank, world_size=world_size)
        owns_group = True
    if dist.is_initialized():
        rank, world_size = dist.get_rank(), dist.get_world_size()
    return DistContext(rank, world_size, local_rank, torch_device, owns_group)


def cleanup(context: DistContext) -> None:
    """Destroy the process group if :func:`init_distributed` created it."""
    if context.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def run_training(device: str | None, exp: str | os.PathLike, run: Callable[[DistContext], T],
                 log: logging.Logger) -> T:
    """``run(context)`` inside the process group (:func:`init_distributed`), holding ``exp``'s lock
    (:func:`~blasr.utils.lock.lock_directory`, rank 0), with :func:`setup_logging` (rank 0 also to
    ``exp/train.log``); an error is logged to ``log`` and re-raised; the group is left at the end.
    Every process under ``torchrun`` calls this; a directory another run holds stops all of them.
    """
    context = init_distributed(device)
    try:
        with ExitStack() as held:
            refused: list[str | None] = [None]
            if context.is_main:
                try:
                    held.enter_context(lock_directory(exp, "wait for it to finish, stop it, or choose another --exp"))
                except DirectoryInUseError as error:
                    refused[0] = str(error)
            if context.is_distributed:
                dist.broadcast_object_list(refused, src=0)
            if refused[0] is not None:
                if context.is_main:  # before train.log opens: that log is the other run's
                    with setup_logging(context.rank):
                        log.error("%s: %s", DirectoryInUseError.__name__, refused[0])
                raise DirectoryInUseError(refused[0])
            with setup_logging(context.rank, Path(exp) / "train.log" if context.is_main else None):
                try:
                    return run(context)
                except Exception as error:
                    log.error("%s: %s", type(error).__name__, error)
                    raise
    finally:
        cleanup(context)


def unwrap_model(model: nn.Module) -> nn.Module:
    """The network itself, out of ``torch.compile`` and :class:`DistributedDataParallel` wrappers."""
    model = getattr(model, "_orig_mod", model)  # torch.compile
    return model.module if isinstance(model, DistributedDataParallel) else model


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def all_reduce(tensor: torch.Tensor, op: str = "sum") -> torch.Tensor:
    """In-place all-reduce (``op``: sum, min, max) across processes; identity without a group."""
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(tensor, op={"sum": dist.ReduceOp.SUM, "min": dist.ReduceOp.MIN,
                                    "max": dist.ReduceOp.MAX}[op])
    return tensor


def broadcast_buffers(module: torch.nn.Module, src: int = 0) -> None:
    """Copy rank ``src``'s buffers (e.g. batch-norm running statistics) to every process."""
    if dist.is_initialized() and dist.get_world_size() > 1:
        for buffer in module.buffers():
            dist.broadcast(buffer, src)


def reduce_sums(values: dict[str, float | torch.Tensor], device: torch.device) -> dict[str, float]:
    """Sum each named scalar over all processes with a single collective.

    Pass sums (of losses, correct predictions, sample counts), never means:
    processes may hold different numbers of samples. float64 keeps sample counts
    of a full ImageNet epoch exact.
    """
    names = list(values)
    packed = torch.stack([torch.as_tensor(values[n], dtype=torch.float64, device=device).reshape(())
                          for n in names]) if names else torch.zeros(0, dtype=torch.float64)
    all_reduce(packed)
    return dict(zip(names, packed.tolist()))


class ShardedBatchSampler:
    """Per-process batches of one epoch's (shuffled) sample order.

    The epoch order is ``randperm(num_samples)`` from a generator seeded with
    ``seed + epoch`` (identical on every process); process ``rank`` takes
    positions ``rank, rank + world_size, ...``, so step ``s`` of all processes
    together covers positions ``[s * B * W, (s + 1) * B * W)`` of the order, for
    any world size ``W`` and per-process batch ``B``.

    * ``drop_last=True`` (training): the order is cut to a whole number of global
      batches, every process yields ``num_samples // (B * W)`` full batches.
    * ``drop_last=False`` (evaluation): every sample exactly once, no padding;
      the last batch may be short and processes may differ by one sample.
    * ``with_seeds=True``: each element is ``(index, sample_seed)``, the seed drawn
      from the same epoch generator (a function of the position in the order),
      for per-sample augmentation independent of worker processes.
    * ``set_epoch(epoch, start_batch)``: the next iteration yields epoch
      ``epoch`` from its batch ``start_batch`` on (resume inside an epoch).
    * ``max_batches``: stop each epoch after that many batches (smoke tests).
    """

    def __init__(self, num_samples: int, batch_size: int, *, rank: int = 0, world_size: int = 1,
                 shuffle: bool = True, drop_last: bool = True, seed: int = 0,
                 with_seeds: bool = False, max_batches: int | None = None) -> None:
        if batch_size < 1 or num_samples < 0 or not 0 <= rank < world_size:
            raise ValueError(f"bad sampler arguments: batch_size={batch_size}, "
                             f"num_samples={num_samples}, rank={rank}, world_size={world_size}")
        if drop_last and num_samples < batch_size * world_size:
            raise ValueError(
                f"{num_samples} samples do not fill one global batch of {batch_size} x {world_size} "
                "processes; lower --batch-size"
            )
        self.num_samples, self.batch_size = num_samples, batch_size
        self.rank, self.world_size = rank, world_size
        self.shuffle, self.drop_last, self.seed, self.with_seeds = shuffle, drop_last, seed, with_seeds
        self.max_batches = max_batches
        self.epoch, self.start_batch = 0, 0

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        self.epoch, self.start_batch = epoch, start_batch

    def batches_per_epoch(self) -> int:
        if self.drop_last:
            batches = self.num_samples // (self.batch_size * self.world_size)
        else:
            batches = -(-len(range(self.rank, self.num_samples, self.world_size)) // self.batch_size)
        return batches if self.max_batches is None else min(batches, self.max_batches)

    def __len__(self) -> int:
        return max(0, self.batches_per_epoch() - self.start_batch)

    def __iter__(self) -> Iterator[list]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        n = self.num_samples
        order = torch.randperm(n, generator=generator) if self.shuffle else torch.arange(n)
        seeds = torch.randint(0, 2**62, (n,), generator=generator) if self.with_seeds else None
        used = (n // (self.batch_size * self.world_size)) * self.batch_size * self.world_size \
            if self.drop_last else n
        positions = range(self.rank, used, self.world_size)
        for b in range(self.start_batch, self.batches_per_epoch()):
            batch = positions[b * self.batch_size:(b + 1) * self.batch_size]
            if seeds is None:
                yield [int(order[p]) for p in batch]
            else:
                yield [(int(order[p]), int(seeds[p])) for p in batch]


@contextmanager
def setup_logging(rank: int = 0, log_file: str | os.PathLike | None = None,
                  name: str = "blasr") -> Iterator[logging.Logger]:
    """Within the block, the ``blasr`` logger writes INFO and up on rank 0 (stderr and ``log_file``),
    WARNING and up elsewhere (prefixed ``[rank r]``), in the one format (:func:`blasr.utils.logs.formatter`);
    on exit its earlier state returns.
    """
    log = logging.getLogger(name)
    saved = log.handlers[:], log.level
    log.handlers = []
    log.setLevel(logging.INFO if rank == 0 else logging.WARNING)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file is not None and rank == 0:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file))
    for handler in handlers:
        handler.setFormatter(formatter("" if rank == 0 else f"[rank {rank}] "))
        log.addHandler(handler)
    try:
        yield log
    finally:
        for handler in handlers:
            handler.close()
        log.handlers, log.level = saved
