"""Speech acoustic-model training as library functions (Big-Little Net, Appendix B.1).

Frame-level cross-entropy over the tied CD states (pdf-ids) of a Kaldi
alignment, on lhotse cuts with features and targets (``blasr.data``), in the
paper's window mode (one 49-frame window per row) or in chunk mode (dense
prediction over ``C`` frames per row). The recipe's defaults live in
:class:`~blasr.acoustic.config.TrainConfig`.

One process per GPU under ``torchrun`` (DDP; NCCL on GPU, gloo on CPU), bf16
autocast on GPU. The loop, checkpoints and exact resume are the shared
:class:`~blasr.training.loop.Trainer`'s: a run killed at any point and resumed
ends with the same weights as an uninterrupted one (bitwise on CPU).

Experiment directory (``--exp``)::

    config.yaml, config.json   resolved options (YAML, re-usable with --config; JSON with git revision,
                               versions, command line); config.resumed_at_step<N>.* for each resume
    model.json                 the architecture: model.describe() and the create_model options
    features.json              the feature settings the model expects
    priors.counts              class counts of the training targets (analyze-counts, +0.5), Kaldi text
    train.log, metrics.jsonl   rank 0's log; one JSON line per epoch
    tb/                        TensorBoard scalars
    curves.png                 loss and frame accuracy per epoch (updated after every epoch)
    checkpoints/epoch_003.pt, checkpoints/epoch_004_batch_001000.pt
    final.pt                   the selected model (--select, --avg: blasr.acoustic.selection) with its priors and
                               feature settings (blasr.export reads it)
    selection.json             which epochs final.pt averages, and every epoch's held-out metric
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from blasr.acoustic.config import TrainConfig, check, resolve, spec_augment_for, to_yaml
from blasr.acoustic.model_file import TRAINING_FORMAT, feature_settings, model_info
from blasr.acoustic.objective import frame_sums, mean_loss
from blasr.acoustic.optim import build_optimizer, epoch_decay_schedule
from blasr.acoustic.priors import ClassCountError, analyze_counts, count_targets, write_counts
from blasr.acoustic.selection import choose, select_model
from blasr.core.registry import create_model, get_entry
from blasr.data import FrameLoader
from blasr.data.targets import NUM_PDFS, read_num_pdfs
from blasr.features.extract import open_cuts
from blasr.training.loop import Step, Trainer, run
from blasr.training.plots import Curve
from blasr.training.sync_bn import convert_sync_batchnorm
from blasr.utils.checkpoint import CheckpointError, checkpoint_name
from blasr.utils.distributed import DistContext, all_reduce, broadcast_buffers, reduce_sums, unwrap_model
from blasr.utils.experiment import git_revision, seed_everything

logger = logging.getLogger("blasr.train")


def recorded_num_pdfs(cuts: str) -> int | None:
    """The class count written beside a manifest's targets (``num_pdfs``), or None for targets without one."""
    try:
        return read_num_pdfs(cuts)
    except FileNotFoundError:
        return None


def optimizer_step(model: nn.Module, optimizer: torch.optim.Optimizer, features: torch.Tensor,
                   targets: torch.Tensor, amp: bool, grad_clip: float, world_size: int = 1,
                   label_smoothing: float = 0.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Forward (bf16 autocast when ``amp``), frame cross-entropy averaged over the global batch's valid
    frames (``label_smoothing`` as in :func:`frame_sums`), backward, gradient-norm clipping at ``grad_clip``
    (0: off), one optimiser step.

    Returns detached ``(summed cross-entropy, correct frames, valid frames, gradient norm before
    clipping)`` of this process's rows. The body of :meth:`SpeechTrainer.train_step`, which
    ``benchmarks/speech_speed.py`` times as it is.
    """
    with torch.autocast(features.device.type, dtype=torch.bfloat16, enabled=amp):
        logits = model(features)                      # (N, C, K)
    loss_sum, correct, count = frame_sums(logits, targets, label_smoothing)  # float32 cross-entropy
    global_count = all_reduce(count.clone())          # valid frames of the global batch
    loss = mean_loss(loss_sum, global_count, world_size)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    parameters = [p for p in model.parameters() if p.grad is not None]
    if grad_clip > 0:
        grad_norm = torch.nn.utils.clip_grad_norm_(parameters, grad_clip)
    else:
        grad_norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in parameters]))
    optimizer.step()
    return loss_sum.detach(), correct, count, grad_norm.detach()


class SpeechTrainer(Trainer):
    """Holds the model, optimiser, schedule and loaders of one run; :meth:`fit` trains it."""

    checkpoint_format = TRAINING_FORMAT
    checkpoint_kind = "speech-training"
    sum_names = ("loss", "correct", "frames")  # summed cross-entropy, correct frames, valid frames
    resume_options = ("epochs", "lr", "weight_decay", "mode", "chunk_frames", "seed", "grad_clip",
                      "max_steps_per_epoch", "lr_decay", "lr_decay_from_epoch", "sync_bn", "spec_freq_masks",
                      "spec_freq_width", "spec_time_masks", "spec_time_width", "spec_time_fraction",
                      "spec_freq_warp", "label_smoothing")
    curves = (Curve("loss", "train/loss", "cross-entropy (nats / frame)"),
              Curve("frame_acc", "train/frame_acc", "frame accuracy (%)"))
    batch_items = "utterances"
    non_finite_advice = "Lower --lr or check their features and targets"

    def __init__(self, config: TrainConfig, context: DistContext) -> None:
        config = resolve(check(config), context.world_size)
        super().__init__(config, context)
        cuda = self.device.type == "cuda"
        self.amp = config.amp if config.amp is not None else cuda
        channels_last = config.channels_last if config.channels_last is not None else cuda
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.plot = config.plot
        self.title = f"{config.arch} ({config.mode} mode) - {self.exp.name}"
        if get_entry(config.arch).domain != "speech":
            raise ValueError(f"--arch {config.arch} is an {get_entry(config.arch).domain} architecture; "
                             "list speech ones with `python -m blasr.profile --list`")

        features = feature_settings(next(iter(open_cuts(config.data))), config.normalization, config.norm_vars,
                                    config.cmvn)
        loader_options = dict(normalization=config.normalization, cmvn=config.cmvn, norm_vars=config.norm_vars,
                              rank=context.rank, world_size=context.world_size, device=self.device if cuda else None)
        self.train_loader = FrameLoader(
            config.data, mode=config.mode, chunk_frames=None if config.mode == "window" else config.chunk_frames,
            batch_size=config.batch_size, num_workers=config.workers, seed=config.seed,
            shuffle_buffer_frames=config.shuffle_buffer_frames,
            spec_augment=spec_augment_for(config.spec_augment, features), **loader_options)
        self.valid_loader = None
        if config.valid_data:  # never masked: the held-out metrics (and --select best) see the plain input
            self.valid_loader = FrameLoader(
                config.valid_data, mode="chunk", chunk_frames=config.valid_chunk_frames,
                batch_size=config.valid_batch_size, shuffle=False, num_workers=config.workers, **loader_options)
        self.steps_per_epoch = min(len(self.train_loader), config.max_steps_per_epoch or len(self.train_loader))

        num_pdfs, self.class_counts = self._num_pdfs()
        seed_everything(config.seed)  # same initial weights on every process
        self.model_options = {k: v for k, v in dict(num_classes=num_pdfs, width=config.width,
                                                     upsample=config.upsample).items() if v is not None}
        model = create_model(config.arch, **self.model_options)
        self.model_info = model_info(config.arch, self.model_options, model, self.class_counts, features)
        if config.sync_bn and context.is_distributed:
            model = convert_sync_batchnorm(model, self.device)
        model = model.to(self.device, memory_format=self.memory_format)
        self.model = model
        if context.is_distributed:
            self.model = DistributedDataParallel(model, device_ids=[self.device] if cuda else None)
        if config.compile:
            self.model = torch.compile(self.model)
        self.optimizer = build_optimizer(model, config.lr, config.momentum, config.nesterov, config.weight_decay)
        self.scheduler = epoch_decay_schedule(self.optimizer, self.steps_per_epoch, config.lr_decay,
                                              config.lr_decay_from_epoch)

    # ---------------------------------------------------------------- classes

    def _num_pdfs(self) -> tuple[int, np.ndarray]:
        """The model's number of output classes (the tree's pdfs) and the class counts of the training
        targets (+0.5 each).

        The one place the class count is decided: ``--num-pdfs`` if given, else
        the ``num_pdfs`` written beside the training targets (python -m
        blasr.targets). Neither, a ``num_pdfs`` beside the training or held-out
        targets that differs from it, or a target at or above it is a
        :class:`~blasr.acoustic.priors.ClassCountError`: never a guess from the
        largest target, which falls short of the tree whenever its last pdfs
        never occur in the alignments.
        """
        config = self.config
        manifests = [config.data] + ([config.valid_data] if config.valid_data else [])
        recorded = {manifest: recorded_num_pdfs(manifest) for manifest in manifests}
        num_pdfs = config.num_pdfs or recorded[config.data]
        if num_pdfs is None:
            raise ClassCountError(f"no --num-pdfs and no {NUM_PDFS} beside the training targets {config.data}: "
                                  "make the targets with python -m blasr.targets (it writes it), or give --num-pdfs "
                                  "(the tree's number of pdfs)")
        for manifest, count in recorded.items():
            if count is not None and count != num_pdfs:
                source = "--num-pdfs" if config.num_pdfs else f"the training targets' {NUM_PDFS}"
                raise ClassCountError(f"the targets of {manifest} have {count} classes ({NUM_PDFS} beside them), "
                                      f"the model {num_pdfs} ({source}); give targets and model the same tree")
        counts = self._count_targets(config.data, num_pdfs)
        if config.valid_data:  # a held-out target the model cannot output would fail the first evaluation
            self._count_targets(config.valid_data, num_pdfs)
        return num_pdfs, analyze_counts(counts)

    def _count_targets(self, cuts: str, num_pdfs: int) -> np.ndarray:
        """Target counts per class of a manifest; read by rank 0 and broadcast (errors too)."""
        result: list[Any] = [None]
        if self.context.is_main:
            try:
                result[0] = count_targets(cuts, num_pdfs)
            except (ValueError, OSError) as error:
                result[0] = error
        if self.context.is_distributed:
            dist.broadcast_object_list(result, src=0)
        error = result[0]
        if isinstance(error, ClassCountError):
            raise ClassCountError(f"{cuts}: {error}; make targets and model from the same tree "
                                  "(python -m blasr.targets checks the ids)")
        if isinstance(error, Exception):
            raise ValueError(f"cannot count the targets of {cuts}: {type(error).__name__}: {error}")
        return result[0]

    # ---------------------------------------------------------------- experiment files and checkpoints

    def write_experiment_files(self, resumed_at: int | None = None) -> None:
        """Resolved options (JSON and YAML), architecture, feature settings and priors (rank 0)."""
        super().write_experiment_files(resumed_at)
        suffix = "" if resumed_at is None else f".resumed_at_step{resumed_at}"
        (self.exp / f"config{suffix}.yaml").write_text(to_yaml(self.config))
        model = {"arch": self.config.arch, "model_options": self.model_options,
                 **self.model_info["architecture"]}
        (self.exp / "model.json").write_text(json.dumps(model, indent=1) + "\n")
        (self.exp / "features.json").write_text(json.dumps(self.model_info["features"], indent=1) + "\n")
        write_counts(self.class_counts, self.exp / "priors.counts")

    def extra_state(self) -> dict[str, Any]:
        return {"model_info": {**self.model_info, "training": self._training_summary()},
                "loader": self.train_loader.state_dict()}

    def check_state(self, path: Path, state: dict[str, Any]) -> None:
        info = state["model_info"]
        if info["arch"] != self.config.arch or info["model_options"] != self.model_options:
            raise CheckpointError(f"{path} holds {info['arch']} with {info['model_options']}; this run is "
                                  f"{self.config.arch} with {self.model_options}")

    def load_extra_state(self, path: Path, state: dict[str, Any]) -> None:
        if state["batch"] > 0:  # inside an epoch: the loader continues from its saved position
            try:
                self.train_loader.load_state_dict(state["loader"])
            except ValueError as error:
                raise CheckpointError(f"{path}: cannot continue its epoch: {error}") from error

    def _training_summary(self) -> dict[str, Any]:
        last = self.history[-1] if self.history else {}
        dataset = self.train_loader.dataset
        return dict(epochs=self.epoch, global_step=self.global_step, mode=self.config.mode,
                    valid_loss=last.get("valid_loss"), valid_frame_acc=last.get("valid_frame_acc"),
                    train_loss=last.get("train_loss"), git=git_revision(), data=str(self.config.data),
                    data_cuts=dataset.num_cuts, data_frames=dataset.total_frames,
                    target_frames=int(sum(record.get("train_frames", 0) for record in self.history)))

    def protected_checkpoints(self) -> set[str]:
        """With ``--keep-checkpoints K``, the epochs model selection may still need are kept too: the ``avg``
        newest (a later best or last epoch averages them) and the window of the best epoch so far."""
        config = self.config
        if not config.keep_checkpoints:
            return set()
        epochs = set(range(max(1, self.epoch - config.avg + 1), self.epoch + 1))
        if config.select == "best" and self.history:
            try:
                epochs.update(choose(self.history, config.select, config.select_metric, config.avg).epochs)
            except ValueError:  # no held-out metric yet
                pass
        return {checkpoint_name(epoch) for epoch in epochs}

    def finish(self) -> None:
        """``EXP/final.pt``: the selected (and averaged) epochs' weights with their description (rank 0)."""
        config = self.config
        select_model(self.exp, config.select, config.select_metric, config.avg, history=self.history)

    # ---------------------------------------------------------------- steps, evaluation, reports

    @property
    def has_validation(self) -> bool:
        return self.valid_loader is not None

    def train_batches(self) -> FrameLoader:
        self.train_loader.set_epoch(self.epoch)
        if self.valid_loader is not None:  # its first buckets ready when the epoch ends
            self.valid_loader.prefetch()
        return self.train_loader

    def prepare_epoch(self) -> None:
        self.train_loader.prefetch(self.epoch)

    def train_step(self, batch: dict) -> Step:
        """One optimiser step on this process's share of a global batch (:func:`optimizer_step`).

        ``sums``: summed cross-entropy, correct frames and valid frames of this
        process's rows; ``grad_norm``: before clipping.
        """
        features = batch["features"].to(self.device, non_blocking=True, memory_format=self.memory_format)
        targets = batch["targets"].to(self.device, non_blocking=True)
        loss_sum, correct, count, grad_norm = optimizer_step(
            self.model, self.optimizer, features, targets, self.amp, self.config.grad_clip, self.context.world_size,
            self.config.label_smoothing)
        sums = torch.stack([loss_sum.double(), correct.double(), count.double()])
        return Step(sums, loss=loss_sum, grad_norm=grad_norm, ids=batch["cut_ids"])

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Cross-entropy (nats/frame) and frame accuracy (%) over the whole held-out set (all processes)."""
        model = unwrap_model(self.model)
        model.eval()
        # without --sync-bn each process has its own running statistics: evaluate (and save) rank 0's
        broadcast_buffers(model)
        sums = torch.zeros(3, dtype=torch.float64, device=self.device)
        for batch in self.valid_loader:
            features = batch["features"].to(self.device, non_blocking=True, memory_format=self.memory_format)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
                logits = model(features)
            loss_sum, correct, count = frame_sums(logits, batch["targets"].to(self.device, non_blocking=True))
            sums += torch.stack([loss_sum.double(), correct.double(), count.double()])
        totals = reduce_sums({"loss": sums[0], "correct": sums[1], "frames": sums[2]}, self.device)
        frames = max(totals["frames"], 1.0)
        model.train()
        return {"valid_loss": totals["loss"] / frames, "valid_frame_acc": 100 * totals["correct"] / frames,
                "valid_frames": totals["frames"]}

    def interval_report(self, totals: dict[str, float], seconds: float) -> tuple[dict[str, float], str]:
        frames = max(totals["frames"], 1.0)
        scalars = {"train/loss": totals["loss"] / frames, "train/frame_acc": 100 * totals["correct"] / frames,
                   "train/frames_per_sec": totals["frames"] / seconds}
        return scalars, (f"loss {scalars['train/loss']:.4f} frame acc {scalars['train/frame_acc']:.2f}% "
                         f"{scalars['train/frames_per_sec']:.0f} frames/s")

    def epoch_metrics(self, totals: dict[str, float], new: dict[str, float], steps: int,
                      seconds: float) -> dict[str, float]:
        frames = max(totals["frames"], 1.0)
        return {"train_loss": totals["loss"] / frames, "train_frame_acc": 100 * totals["correct"] / frames,
                "train_frames": totals["frames"], "frames_per_sec": new["frames"] / max(seconds, 1e-9)}

    def epoch_report(self, record: dict[str, float]) -> tuple[dict[str, float], str]:
        text = f"train loss {record['train_loss']:.4f} frame acc {record['train_frame_acc']:.2f}%"
        scalars = {"train/epoch_loss": record["train_loss"], "train/epoch_frame_acc": record["train_frame_acc"]}
        if "valid_loss" in record:
            text += f" | valid loss {record['valid_loss']:.4f} frame acc {record['valid_frame_acc']:.2f}%"
            scalars.update({"valid/loss": record["valid_loss"], "valid/frame_acc": record["valid_frame_acc"]})
        return scalars, f"{text} | lr {record['lr']:.5f} | {record['frames_per_sec']:.0f} frames/s"

    def log_start(self) -> None:
        config = self.config
        params = sum(p.numel() for p in unwrap_model(self.model).parameters())
        dataset = self.train_loader.dataset
        logger.info(
            "%s (%.2f M params), %d classes; %d cuts, %d frames; %s mode, %d target frames per row; global batch "
            "%d rows = %d x %d processes; lr %g; %d steps per epoch, %d epochs; %s%s%s", config.arch, params / 1e6,
            self.model_options["num_classes"], dataset.num_cuts, dataset.total_frames, config.mode,
            config.chunk_frames, config.batch_size * self.context.world_size, config.batch_size,
            self.context.world_size, config.lr, self.steps_per_epoch, config.epochs, self.device,
            " bf16 autocast" if self.amp else "", " sync-bn" if config.sync_bn and self.context.is_distributed else "")
        if self.valid_loader is None:
            logger.warning("no --valid-data: no held-out frame accuracy")


def train(config: TrainConfig) -> list[dict[str, float]]:
    """Run (or resume) one training job; returns the per-epoch metrics of the whole run.

    Under ``torchrun`` every process calls this; it joins the process group
    (:func:`~blasr.utils.distributed.init_distributed`) and leaves it at the end.
    Errors are logged (to ``train.log`` too) and re-raised.
    """
    return run(SpeechTrainer, config, logger)
