"""ImageNet training as library functions (Big-Little Net, Appendix A.1).

The paper's recipe, as defaults of :class:`TrainConfig`: 110 epochs, batch 256,
Nesterov SGD with momentum 0.9, lr 0.1 per 256 images (scaled linearly with the
global batch, Goyal et al. 2017), weight decay 1e-4 on every parameter, cosine
learning rate without restarts, annealed per step (as in the works the paper
cites for it, Huang et al. 2017a and Loshchilov & Hutter 2017), random-resized
crop 224 + flip + colour jitter, evaluation at resize 256 / centre crop 224,
top-1 / top-5 accuracy.

One process per GPU under ``torchrun`` (DDP; gloo on CPU), bf16 autocast on
GPU. The loop, checkpoints and exact resume are the shared
:class:`~blasr.training.loop.Trainer`'s: a resumed run yields the same weights
as an uninterrupted one (bitwise on CPU); ``--resume auto`` falls back past an
unreadable newest checkpoint to the previous good one.

Experiment directory (``--exp``)::

    config.json            resolved configuration, git revision, versions, argv
    train.log              the log of rank 0
    metrics.jsonl          one line per epoch (train loss/top-1, val loss/top-1/top-5, lr, speed)
    tb/                    TensorBoard scalars
    checkpoints/epoch_003.pt             after epoch 3
    checkpoints/epoch_004_batch_000500.pt  inside epoch 4, after 500 batches
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from blasr.core.registry import create_model, get_entry
from blasr.image.data import IMAGE_EXTENSIONS, EvalTransform, ImageFolder, TrainTransform, collate, default_resize
from blasr.training.loop import Step, Trainer, run
from blasr.utils.checkpoint import CheckpointError
from blasr.utils.distributed import DistContext, ShardedBatchSampler, broadcast_buffers, reduce_sums, unwrap_model
from blasr.utils.experiment import seed_everything

logger = logging.getLogger("blasr.image.train")

CHECKPOINT_FORMAT = "blasr.image.train/1"


@dataclass
class TrainConfig:
    """Every option of ``python -m blasr.train_image``; ``None`` means "derive it" (see :func:`resolve`)."""

    arch: str
    data: str                      # ROOT holding train/<class>/* and val/<class>/*
    exp: str                       # experiment directory
    epochs: int = 110
    batch_size: int = 256          # per process; global batch = batch_size * world size
    lr: float | None = None        # None: 0.1 * global batch / 256
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 1e-4
    decay_norm_bias: bool = True   # False: decay conv/linear weights only (tensorpack's '.*/W')
    warmup_epochs: float = 0.0     # linear warm-up before the cosine; the paper uses none
    workers: int = 8               # loader processes per training process
    crop_size: int = 224           # training crop
    eval_crop_size: int | None = None  # None: crop_size (256 for the paper's "@256" rows)
    eval_resize: int | None = None     # None: eval_crop_size * 8 // 7 (256 for 224, 292 for 256)
    jitter: float = 0.4
    lighting: float = 0.0          # PCA lighting std (fb.resnet.torch uses 0.1; not in the paper)
    upsample: str | None = None    # model override; None keeps the architecture's default
    width: float | None = None     # model override (channel multiplier) for small experiments
    amp: bool | None = None        # bf16 autocast; None: on for CUDA, off for CPU
    device: str | None = None      # None: CUDA when available
    resume: str | None = None      # checkpoint path, or "auto" (newest in exp/checkpoints, if any)
    seed: int = 0
    max_steps_per_epoch: int | None = None  # shorten epochs (smoke tests)
    save_every_steps: int = 0      # 0: checkpoints at epoch ends only
    keep_checkpoints: int = 0      # epoch checkpoints kept (newest); 0 keeps all
    eval_every: int = 1            # evaluate every N epochs (and after the last)
    log_every: int = 50            # steps between log lines / TensorBoard points
    tensorboard: bool = True
    deterministic: bool = False    # torch.use_deterministic_algorithms, no cuDNN autotuning


def resolve(config: TrainConfig, world_size: int) -> TrainConfig:
    """Fill the derived options: learning rate, evaluation sizes."""
    eval_crop = config.eval_crop_size or config.crop_size
    return replace(
        config,
        lr=config.lr if config.lr is not None else 0.1 * config.batch_size * world_size / 256,
        eval_crop_size=eval_crop,
        eval_resize=config.eval_resize or default_resize(eval_crop),
    )


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.SGD:
    """Nesterov SGD. With ``decay_norm_bias=False`` only ≥2-d weights (conv, linear) are decayed."""
    if config.decay_norm_bias:
        groups = [{"params": list(model.parameters())}]
    else:
        decay = [p for p in model.parameters() if p.ndim > 1]
        no_decay = [p for p in model.parameters() if p.ndim <= 1]
        groups = [{"params": decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, nesterov=config.nesterov,
                           weight_decay=config.weight_decay)


def cosine_schedule(optimizer: torch.optim.Optimizer, total_steps: int,
                    warmup_steps: int = 0) -> torch.optim.lr_scheduler.LambdaLR:
    """lr(t) = lr0 * (1 + cos(pi * t / T)) / 2 for optimizer step t of T, after an optional linear warm-up.

    Stepped once per optimizer step. Only the step count is checkpointed; the
    curve comes from the current configuration.
    """
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def topk_correct(logits: torch.Tensor, targets: torch.Tensor, ks: tuple[int, ...] = (1, 5)) -> torch.Tensor:
    """Number of samples whose target is among the top-k logits, for each k: ``(len(ks),)``.

    ``logits (N, K)``, ``targets (N,)``; k larger than K counts every sample.
    """
    top = logits.topk(min(max(ks), logits.shape[1]), dim=1).indices  # (N, k_max)
    hits = top.eq(targets[:, None])
    return torch.stack([hits[:, :k].any(dim=1).sum() for k in ks])


class ImageTrainer(Trainer):
    """Holds the model, optimiser, schedule and loaders of one run; :meth:`fit` trains it."""

    checkpoint_format = CHECKPOINT_FORMAT
    checkpoint_kind = "image-training"
    sum_names = ("loss", "correct", "count", "bad")  # loss sum, correct top-1, samples, unreadable files
    resume_options = ("epochs", "batch_size", "lr", "weight_decay", "crop_size", "seed", "max_steps_per_epoch",
                      "warmup_epochs", "decay_norm_bias")
    valid_prefix = "val"

    def __init__(self, config: TrainConfig, context: DistContext) -> None:
        config = resolve(config, context.world_size)
        super().__init__(config, context)
        self.amp = config.amp if config.amp is not None else self.device.type == "cuda"
        self.eval_every = config.eval_every

        root = Path(config.data)
        self.train_set = ImageFolder(root / "train", TrainTransform(config.crop_size, jitter=config.jitter,
                                                                    lighting=config.lighting))
        val_root = root / "val"
        self.val_set = ImageFolder(val_root, EvalTransform(config.eval_crop_size, config.eval_resize),
                                   class_to_idx=self.train_set.class_to_idx) if val_root.is_dir() else None
        self.train_sampler = ShardedBatchSampler(
            len(self.train_set), config.batch_size, rank=context.rank, world_size=context.world_size,
            shuffle=True, drop_last=True, seed=config.seed, with_seeds=True,
            max_batches=config.max_steps_per_epoch)
        self.train_loader = self._loader(self.train_set, self.train_sampler)
        if self.val_set is not None:
            self.val_loader = self._loader(self.val_set, ShardedBatchSampler(
                len(self.val_set), config.batch_size, rank=context.rank, world_size=context.world_size,
                shuffle=False, drop_last=False))
        self.steps_per_epoch = self.train_sampler.batches_per_epoch()

        entry = get_entry(config.arch)
        if entry.domain != "image":
            raise ValueError(f"--arch {config.arch} is a {entry.domain} architecture; "
                             "list image ones with `python -m blasr.profile --list`")
        seed_everything(config.seed)  # same initial weights on every process
        model = create_model(config.arch, num_classes=len(self.train_set.classes),
                             upsample=config.upsample, width=config.width)
        self.memory_format = torch.channels_last if self.device.type == "cuda" else torch.contiguous_format
        model = model.to(self.device, memory_format=self.memory_format)
        self.model = model
        if context.is_distributed:
            device_ids = [self.device] if self.device.type == "cuda" else None
            self.model = DistributedDataParallel(model, device_ids=device_ids)
        self.optimizer = build_optimizer(model, config)
        self.scheduler = cosine_schedule(self.optimizer, config.epochs * self.steps_per_epoch,
                                         round(config.warmup_epochs * self.steps_per_epoch))
        self.seen_bad: set[str] = set()  # unreadable files reported this epoch

    def _loader(self, dataset: ImageFolder, sampler: ShardedBatchSampler) -> DataLoader:
        workers = self.config.workers
        # A private generator: the loader must not draw from the global torch RNG
        # (whose state is checkpointed); augmentation seeds come from the sampler.
        return DataLoader(dataset, batch_sampler=sampler, num_workers=workers, collate_fn=collate,
                          pin_memory=self.device.type == "cuda", persistent_workers=workers > 0,
                          generator=torch.Generator().manual_seed(self.config.seed))

    # ---------------------------------------------------------------- checkpoints

    def extra_state(self) -> dict[str, Any]:
        return {"arch": self.config.arch, "classes": list(self.train_set.classes)}

    def check_state(self, path: Path, state: dict[str, Any]) -> None:
        if state["arch"] != self.config.arch or state["classes"] != list(self.train_set.classes):
            raise CheckpointError(
                f"{path} was trained as {state['arch']} on {len(state['classes'])} classes; this run is "
                f"{self.config.arch} on {len(self.train_set.classes)} classes from {self.config.data}")

    # ---------------------------------------------------------------- steps, evaluation, reports

    @property
    def has_validation(self) -> bool:
        return self.val_set is not None

    def _report_bad_files(self, notes: list[str], seen: set[str]) -> None:
        for note in notes:
            if note not in seen:
                seen.add(note)
                logger.warning("skipping unreadable image %s", note)

    def train_batches(self) -> DataLoader:
        self.train_sampler.set_epoch(self.epoch, self.batch)
        self.seen_bad = set()
        return self.train_loader

    def train_step(self, batch: tuple[torch.Tensor, torch.Tensor, list[str]]) -> Step:
        """Cross-entropy (bf16 autocast when ``amp``), backward, one optimiser step; none when every image of
        the batch is unreadable. ``sums``: loss x images, correct top-1, images, unreadable files."""
        images, targets, bad = batch
        sums = torch.zeros(len(self.sum_names), dtype=torch.float64, device=self.device)
        sums[3] = len(bad)
        if bad:
            self._report_bad_files(bad, self.seen_bad)
        if targets.numel() == 0:
            if self.context.is_distributed:  # skipping here would leave the other processes waiting
                raise RuntimeError(f"every image of a batch is unreadable: {'; '.join(bad)}")
            return Step(sums)
        images = images.to(self.device, non_blocking=True, memory_format=self.memory_format)
        targets = targets.to(self.device, non_blocking=True)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            logits = self.model(images)               # (N, K)
            loss = F.cross_entropy(logits, targets)  # autocast computes it in float32
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        loss, n = loss.detach(), targets.numel()
        sums[0] = loss.double() * n
        sums[1] = (logits.detach().argmax(dim=1) == targets).sum()
        sums[2] = n
        return Step(sums, loss=loss)

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Loss, top-1 and top-5 accuracy (%) over the whole validation set (all processes)."""
        model = unwrap_model(self.model)
        model.eval()
        # Each process updated its batch-norm statistics on its own last batch;
        # evaluate (and checkpoint) with rank 0's, as DDP does at every forward.
        broadcast_buffers(model)
        sums = torch.zeros(5, dtype=torch.float64, device=self.device)  # loss, top1, top5, count, bad
        seen: set[str] = set()
        for images, targets, bad in self.val_loader:
            if bad:
                self._report_bad_files(bad, seen)
                sums[4] += len(bad)
            if targets.numel() == 0:
                continue
            images = images.to(self.device, non_blocking=True, memory_format=self.memory_format)
            targets = targets.to(self.device, non_blocking=True)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
                logits = model(images).float()  # (N, K)
            sums[0] += F.cross_entropy(logits, targets, reduction="sum")
            sums[1:3] += topk_correct(logits, targets, (1, 5))
            sums[3] += targets.numel()
        totals = reduce_sums(dict(zip(("loss", "top1", "top5", "count", "bad"), sums)), self.device)
        count = max(totals["count"], 1.0)
        return {"val_loss": totals["loss"] / count, "val_top1": 100 * totals["top1"] / count,
                "val_top5": 100 * totals["top5"] / count, "val_skipped": totals["bad"]}

    def interval_report(self, totals: dict[str, float], seconds: float) -> tuple[dict[str, float], str]:
        scalars = {"train/loss": totals["loss"] / max(totals["count"], 1.0),
                   "train/images_per_sec": totals["count"] / seconds}
        return scalars, f"loss {scalars['train/loss']:.4f} {scalars['train/images_per_sec']:.0f} img/s"

    def epoch_metrics(self, totals: dict[str, float], new: dict[str, float], steps: int,
                      seconds: float) -> dict[str, float]:
        count = max(totals["count"], 1.0)
        return {"train_loss": totals["loss"] / count, "train_top1": 100 * totals["correct"] / count,
                "train_skipped": totals["bad"],
                "images_per_sec": steps * self.config.batch_size * self.context.world_size / max(seconds, 1e-9)}

    def epoch_report(self, record: dict[str, float]) -> tuple[dict[str, float], str]:
        for kind in ("train", "val"):
            if record.get(f"{kind}_skipped"):
                logger.warning("epoch %d: skipped %d unreadable %s images (named above)",
                               record["epoch"], record[f"{kind}_skipped"], kind)
        text = f"train loss {record['train_loss']:.4f} top-1 {record['train_top1']:.2f}%"
        scalars = {"train/epoch_loss": record["train_loss"], "train/top1": record["train_top1"]}
        if "val_top1" in record:
            text += (f" | val loss {record['val_loss']:.4f} top-1 {record['val_top1']:.2f}% "
                     f"top-5 {record['val_top5']:.2f}%")
            scalars.update({"val/loss": record["val_loss"], "val/top1": record["val_top1"],
                            "val/top5": record["val_top5"]})
        return scalars, f"{text} | lr {record['lr']:.5f} | {record['images_per_sec']:.0f} img/s"

    def log_start(self) -> None:
        config = self.config
        model_params = sum(p.numel() for p in unwrap_model(self.model).parameters())
        logger.info(
            "%s (%.2f M params), %d classes, %d train / %d val images; global batch %d = %d x %d processes, "
            "lr %g, %d steps per epoch, %d epochs, %s%s", config.arch, model_params / 1e6,
            len(self.train_set.classes), len(self.train_set), len(self.val_set or []),
            config.batch_size * self.context.world_size, config.batch_size, self.context.world_size, config.lr,
            self.steps_per_epoch, config.epochs, self.device, " bf16 autocast" if self.amp else "")
        for dataset in (self.train_set, self.val_set):
            if dataset is not None and dataset.num_ignored:
                logger.warning("%s: ignored %d files that are not %s images", dataset.root,
                               dataset.num_ignored, "/".join(IMAGE_EXTENSIONS))
        if self.val_set is None:
            logger.warning("%s has no val/ folder: no evaluation", config.data)


def train(config: TrainConfig) -> list[dict[str, float]]:
    """Run (or resume) one training job; returns the per-epoch metrics of the whole run.

    Under ``torchrun`` every process calls this; it joins the process group
    (:func:`~blasr.utils.distributed.init_distributed`) and leaves it at the end.
    Errors are logged (to ``train.log`` too) and re-raised.
    """
    return run(ImageTrainer, config, logger)
