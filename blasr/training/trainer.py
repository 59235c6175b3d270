"""Speech acoustic-model training as library functions (Big-Little Net, Appendix B.1).

Frame-level cross-entropy over the tied CD states (pdf-ids) of a Kaldi
alignment, on lhotse cuts with features and targets (``blasr.data``), in the
paper's window mode (one 49-frame window per row) or in chunk mode (dense
prediction over ``C`` frames per row). The recipe's defaults live in
:class:`~blasr.training.config.TrainConfig`.

One process per GPU under ``torchrun`` (DDP; NCCL on GPU, gloo on CPU), bf16
autocast on GPU. Checkpoints are written atomically every ``save_every_steps``
steps and after every epoch, with everything needed to continue *exactly*
(model, optimiser, schedule, loader position, partial metrics, RNG states): a
run killed at any point and resumed ends with the same weights as an
uninterrupted one (bitwise on CPU).

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
    final.pt                   the trained model with its priors and feature settings (blasr.export reads it)
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

import blasr  # noqa: F401  (registers the architectures)
from blasr.core.registry import create_model, get_entry
from blasr.data import FrameLoader
from blasr.features.extract import open_cuts
from blasr.training.config import TrainConfig, check, resolve, to_yaml
from blasr.training.model_file import TRAINING_FORMAT, feature_settings, model_info, save_model_file
from blasr.training.objective import frame_sums, mean_loss
from blasr.training.optim import build_optimizer, epoch_decay_schedule
from blasr.training.plots import plot_curves
from blasr.training.priors import analyze_counts, count_targets, write_counts
from blasr.training.sync_bn import convert_sync_batchnorm
from blasr.utils.checkpoint import (
    CheckpointError, atomic_save, atomic_write_text, checkpoint_name, list_checkpoints, load_checkpoint,
    load_latest_checkpoint, prune_checkpoints,
)
from blasr.utils.distributed import (
    DistContext, all_reduce, broadcast_buffers, reduce_sums, run_training, unwrap_model,
)
from blasr.utils.experiment import git_revision, rng_state, seed_everything, set_rng_state, write_run_info
from blasr.utils.progress import ScalarWriter, progress_bar

logger = logging.getLogger("blasr.train")

_NO_STEP = 2**62  # "no non-finite loss yet" for the all-reduce(min) of the first bad step


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite; the message names the step and the batch's utterances."""


def optimizer_step(model: nn.Module, optimizer: torch.optim.Optimizer, features: torch.Tensor,
                   targets: torch.Tensor, amp: bool, grad_clip: float, world_size: int = 1,
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Forward (bf16 autocast when ``amp``), frame cross-entropy averaged over the global batch's valid
    frames, backward, gradient-norm clipping at ``grad_clip`` (0: off), one optimiser step.

    Returns detached ``(summed cross-entropy, correct frames, valid frames, gradient norm before
    clipping)`` of this process's rows. The body of :meth:`SpeechTrainer.train_step`, which
    ``benchmarks/speech_speed.py`` times as it is.
    """
    with torch.autocast(features.device.type, dtype=torch.bfloat16, enabled=amp):
        logits = model(features)                      # (N, C, K)
    loss_sum, correct, count = frame_sums(logits, targets)  # float32 cross-entropy
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


class SpeechTrainer:
    """Holds the model, optimiser, schedule and loaders of one run; :meth:`fit` trains it."""

    def __init__(self, config: TrainConfig, context: DistContext) -> None:
        self.context = context
        self.config = config = resolve(check(config), context.world_size)
        self.device = context.device
        cuda = self.device.type == "cuda"
        self.amp = config.amp if config.amp is not None else cuda
        channels_last = config.channels_last if config.channels_last is not None else cuda
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.exp = Path(config.exp)
        self.checkpoint_dir = self.exp / "checkpoints"
        if context.is_main:
            self.exp.mkdir(parents=True, exist_ok=True)
        if config.deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = not config.deterministic
        if get_entry(config.arch).domain != "speech":
            raise ValueError(f"--arch {config.arch} is an {get_entry(config.arch).domain} architecture; "
                             "list speech ones with `python -m blasr.profile --list`")

        loader_options = dict(normalization=config.normalization, cmvn=config.cmvn, norm_vars=config.norm_vars,
                              rank=context.rank, world_size=context.world_size, device=self.device if cuda else None)
        self.train_loader = FrameLoader(
            config.data, mode=config.mode, chunk_frames=None if config.mode == "window" else config.chunk_frames,
            batch_size=config.batch_size, num_workers=config.workers, seed=config.seed,
            shuffle_buffer_frames=config.shuffle_buffer_frames, **loader_options)
        self.valid_loader = None
        if config.valid_data:
            self.valid_loader = FrameLoader(
                config.valid_data, mode="chunk", chunk_frames=config.valid_chunk_frames,
                batch_size=config.valid_batch_size, shuffle=False, num_workers=config.workers, **loader_options)
        self.steps_per_epoch = min(len(self.train_loader), config.max_steps_per_epoch or len(self.train_loader))

        counts = self._count_targets()
        num_classes = config.num_classes or len(counts)
        self.class_counts = analyze_counts(np.pad(counts, (0, num_classes - len(counts))))

        seed_everything(config.seed)  # same initial weights on every process
        self.model_options = {k: v for k, v in dict(num_classes=num_classes, width=config.width,
                                                     upsample=config.upsample).items() if v is not None}
        model = create_model(config.arch, **self.model_options)
        self.model_info = model_info(
            config.arch, self.model_options, model, self.class_counts,
            feature_settings(next(iter(open_cuts(config.data))), config.normalization, config.norm_vars,
                             config.cmvn))
        if config.sync_bn and context.is_distributed:
            model = convert_sync_batchnorm(model, self.device)
        model = model.to(self.device, memory_format=self.memory_format)
        self.model: nn.Module = model
        if context.is_distributed:
            self.model = DistributedDataParallel(model, device_ids=[self.device] if cuda else None)
        if config.compile:
            self.model = torch.compile(self.model)
        self.optimizer = build_optimizer(model, config.lr, config.momentum, config.nesterov, config.weight_decay)
        self.scheduler = epoch_decay_schedule(self.optimizer, self.steps_per_epoch, config.lr_decay,
                                              config.lr_decay_from_epoch)

        self.epoch, self.batch, self.global_step = 0, 0, 0  # position: epochs done, batches into the next
        self.epoch_sums: torch.Tensor | None = None        # train sums of a partly done epoch
        self.history: list[dict[str, float]] = []
        self.step_points: list[list[float]] = []           # (step, loss, frame acc %) every log_every steps
        self.first_bad_step = torch.full((), _NO_STEP, dtype=torch.int64, device=self.device)
        self.recent_batches: dict[int, list[str]] = {}     # step -> utterances, since the last NaN check
        self.writer = ScalarWriter(self.exp / "tb", enabled=context.is_main and config.tensorboard)

    def _count_targets(self) -> np.ndarray:
        """Training target counts per class; read by rank 0 and broadcast (errors too)."""
        result: list[Any] = [None]
        if self.context.is_main:
            try:
                result[0] = count_targets(self.config.data, self.config.num_classes)
            except (ValueError, OSError) as error:
                result[0] = f"{type(error).__name__}: {error}"
        if self.context.is_distributed:
            dist.broadcast_object_list(result, src=0)
        if isinstance(result[0], str):
            raise ValueError(f"cannot count the training targets of {self.config.data}: {result[0]}")
        return result[0]

    # ---------------------------------------------------------------- experiment files

    def write_experiment_files(self, resumed_at: int | None = None) -> None:
        """Resolved options, architecture, feature settings and priors (rank 0)."""
        config = asdict(self.config)
        suffix = "" if resumed_at is None else f".resumed_at_step{resumed_at}"
        write_run_info(self.exp, {"world_size": self.context.world_size, **config}, name=f"config{suffix}.json")
        (self.exp / f"config{suffix}.yaml").write_text(to_yaml(self.config))
        model = {"arch": self.config.arch, "model_options": self.model_options,
                 **self.model_info["architecture"]}
        (self.exp / "model.json").write_text(json.dumps(model, indent=1) + "\n")
        (self.exp / "features.json").write_text(json.dumps(self.model_info["features"], indent=1) + "\n")
        write_counts(self.class_counts, self.exp / "priors.counts")

    # ---------------------------------------------------------------- checkpoints

    def state_dict(self) -> dict[str, Any]:
        """Everything to continue exactly; only tensors and plain containers (``weights_only`` loading)."""
        return {
            "format": TRAINING_FORMAT,
            "model_info": {**self.model_info, "training": self._training_summary()},
            "model": unwrap_model(self.model).state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "loader": self.train_loader.state_dict(),
            "epoch": self.epoch,              # epochs completed
            "batch": self.batch,              # batches done in epoch `epoch` (0-based)
            "global_step": self.global_step,
            "epoch_sums": None if self.epoch_sums is None else self.epoch_sums.cpu(),
            "history": self.history,
            "step_points": torch.tensor(self.step_points, dtype=torch.float64).reshape(-1, 3),
            "rng": rng_state(),
            "world_size": self.context.world_size,
            "config": asdict(self.config),
        }

    def save(self) -> Path | None:
        """Write the checkpoint of the current position (rank 0), then prune superseded ones."""
        self._check_finite()  # never save weights that went NaN
        if not self.context.is_main:
            return None
        path = atomic_save(self.state_dict(), self.checkpoint_dir / checkpoint_name(self.epoch, self.batch))
        # keep the previous mid-epoch checkpoint too: the fallback if the newest turns out unreadable
        prune_checkpoints(self.checkpoint_dir, self.config.keep_checkpoints, keep_recent=2)
        return path

    def _check_state(self, path: Path, state: Any) -> None:
        if not isinstance(state, dict) or state.get("format") != TRAINING_FORMAT:
            raise CheckpointError(f"{path} is not a blasr speech-training checkpoint ({TRAINING_FORMAT})")
        info = state["model_info"]
        if info["arch"] != self.config.arch or info["model_options"] != self.model_options:
            raise CheckpointError(f"{path} holds {info['arch']} with {info['model_options']}; this run is "
                                  f"{self.config.arch} with {self.model_options}")
        global_batch = (state["config"]["batch_size"] * state["world_size"],
                        self.config.batch_size * self.context.world_size)
        if state["batch"] > 0 and global_batch[0] != global_batch[1]:
            raise CheckpointError(f"{path} stops inside an epoch at global batch {global_batch[0]}; resume it "
                                  f"with the same global batch (this run: {global_batch[1]})")

    def load(self, path: str | os.PathLike) -> None:
        """Continue from a checkpoint written by :meth:`save`."""
        path = Path(path)
        state = load_checkpoint(path)
        self._check_state(path, state)
        self._restore(path, state)

    def load_latest(self) -> bool:
        """Continue from the newest checkpoint that loads (falling back past bad ones); False if none."""
        found = load_latest_checkpoint(self.checkpoint_dir, check=self._check_state)
        if found is None:
            logger.info("no checkpoint in %s: starting afresh", self.checkpoint_dir)
            return False
        self._restore(*found)
        return True

    def _restore(self, path: Path, state: dict[str, Any]) -> None:
        saved = state["config"]
        changed = sorted(k for k in ("epochs", "lr", "weight_decay", "mode", "chunk_frames", "seed", "grad_clip",
                                     "max_steps_per_epoch", "lr_decay", "lr_decay_from_epoch", "sync_bn")
                         if saved.get(k) != getattr(self.config, k))
        if changed or state["world_size"] != self.context.world_size:
            logger.warning("resuming %s with changed %s: the run will not repeat an uninterrupted one", path,
                           ", ".join(changed + (["world size"] if state["world_size"] != self.context.world_size
                                                else [])))
        unwrap_model(self.model).load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if state["batch"] > 0:  # inside an epoch: the loader continues from its saved position
            try:
                self.train_loader.load_state_dict(state["loader"])
            except ValueError as error:
                raise CheckpointError(f"{path}: cannot continue its epoch: {error}") from error
        self.epoch, self.batch, self.global_step = state["epoch"], state["batch"], state["global_step"]
        sums = state["epoch_sums"]
        self.epoch_sums = None if sums is None else sums.to(self.device)
        self.history = list(state["history"])
        self.step_points = state["step_points"].tolist()
        set_rng_state(state["rng"])
        logger.info("resumed from %s: %d epochs + %d batches done, step %d",
                    path, self.epoch, self.batch, self.global_step)

    def _training_summary(self) -> dict[str, Any]:
        last = self.history[-1] if self.history else {}
        return dict(epochs=self.epoch, global_step=self.global_step, mode=self.config.mode,
                    valid_loss=last.get("valid_loss"), valid_frame_acc=last.get("valid_frame_acc"),
                    train_loss=last.get("train_loss"), git=git_revision())

    def save_final(self) -> Path:
        """``EXP/final.pt``: the current weights with their description (rank 0)."""
        info = {**self.model_info, "training": self._training_summary()}
        return save_model_file(self.exp / "final.pt", unwrap_model(self.model).state_dict(), info)

    # ---------------------------------------------------------------- steps and epochs

    def train_step(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """One optimiser step on this process's share of a global batch.

        Returns detached device tensors ``(summed cross-entropy, correct frames,
        valid frames, gradient norm before clipping)`` of this process's rows.
        """
        features = batch["features"].to(self.device, non_blocking=True, memory_format=self.memory_format)
        targets = batch["targets"].to(self.device, non_blocking=True)
        result = optimizer_step(self.model, self.optimizer, features, targets, self.amp, self.config.grad_clip,
                                self.context.world_size)
        self.scheduler.step()
        self.global_step += 1
        return result

    def _check_finite(self) -> None:
        """Stop every process if any saw a NaN/inf loss; name the first such step and its utterances."""
        first = int(all_reduce(self.first_bad_step.clone(), "min"))
        if first < _NO_STEP:
            mine = self.recent_batches.get(first, []) if int(self.first_bad_step) == first else []
            gathered = [mine]
            if self.context.is_distributed:
                gathered = [None] * self.context.world_size
                dist.all_gather_object(gathered, mine)
            utterances = sorted({u for part in gathered for u in part if u})
            shown = ", ".join(utterances[:20]) + (f" and {len(utterances) - 20} more" if len(utterances) > 20 else "")
            epoch, batch = (first - 1) // self.steps_per_epoch + 1, (first - 1) % self.steps_per_epoch + 1
            raise NonFiniteLossError(
                f"the training loss is NaN or infinite at step {first} (epoch {epoch} of {self.config.epochs}, "
                f"batch {batch}); utterances of that batch: {shown or 'unknown'}; stopped. Lower --lr or check "
                f"their features and targets; the last checkpoint in {self.checkpoint_dir} precedes it")
        self.recent_batches.clear()

    def train_epoch(self) -> dict[str, float]:
        """Train from the current position to the end of epoch ``self.epoch``; epoch metrics."""
        config, world = self.config, self.context.world_size
        self.model.train()
        self.train_loader.set_epoch(self.epoch)
        # summed cross-entropy, correct frames, valid frames (+ grad norm in the interval): no per-step sync
        sums = self.epoch_sums if self.epoch_sums is not None else torch.zeros(3, dtype=torch.float64,
                                                                                device=self.device)
        interval = torch.zeros(4, dtype=torch.float64, device=self.device)
        interval_steps, tick, start, start_frames = 0, time.perf_counter(), time.perf_counter(), float(sums[2])
        lr = self.optimizer.param_groups[0]["lr"]
        bar = progress_bar(self.train_loader, total=self.steps_per_epoch - self.batch,
                           desc=f"epoch {self.epoch + 1}/{config.epochs}", enabled=self.context.is_main)
        for batch in bar:
            lr = self.optimizer.param_groups[0]["lr"]  # the rate this step uses
            loss_sum, correct, count, grad_norm = self.train_step(batch)
            self.batch += 1
            local = torch.stack([loss_sum.double(), correct.double(), count.double()])
            sums += local
            interval[:3] += local
            interval[3] += grad_norm.double()
            interval_steps += 1
            self.first_bad_step = torch.where(torch.isfinite(loss_sum), self.first_bad_step,
                                              torch.clamp(self.first_bad_step, max=self.global_step))
            self.recent_batches[self.global_step] = batch["cut_ids"]

            if self.global_step % config.log_every == 0:
                self._check_finite()
                totals = reduce_sums(dict(zip(("loss", "correct", "frames", "grad_norm"), interval)), self.device)
                now = time.perf_counter()
                frames = max(totals["frames"], 1.0)
                scalars = {"train/loss": totals["loss"] / frames, "train/frame_acc": 100 * totals["correct"] / frames,
                           "train/lr": lr, "train/frames_per_sec": totals["frames"] / (now - tick),
                           "train/grad_norm": totals["grad_norm"] / (world * interval_steps)}
                self.writer.add_scalars(self.global_step, scalars)
                self.step_points.append([self.global_step, scalars["train/loss"], scalars["train/frame_acc"]])
                bar.set_postfix(loss=f"{scalars['train/loss']:.3f}", acc=f"{scalars['train/frame_acc']:.1f}%",
                                fps=f"{scalars['train/frames_per_sec']:.0f}")
                if bar.disable:  # no bar on screen: a log line instead
                    logger.info("epoch %d step %d: loss %.4f frame acc %.2f%% lr %.5f %.0f frames/s",
                                self.epoch + 1, self.global_step, scalars["train/loss"], scalars["train/frame_acc"],
                                lr, scalars["train/frames_per_sec"])
                interval.zero_()
                interval_steps, tick = 0, now
            if self.batch >= self.steps_per_epoch:
                break
            if config.save_every_steps and self.global_step % config.save_every_steps == 0:
                self.epoch_sums = sums
                self.save()
        bar.close()
        self._check_finite()
        totals = reduce_sums({"loss": sums[0], "correct": sums[1], "frames": sums[2],
                              "new_frames": sums[2] - start_frames}, self.device)  # new: since this call began
        elapsed = time.perf_counter() - start
        self.epoch, self.batch, self.epoch_sums = self.epoch + 1, 0, None
        frames = max(totals["frames"], 1.0)
        return {"train_loss": totals["loss"] / frames, "train_frame_acc": 100 * totals["correct"] / frames,
                "train_frames": totals["frames"], "lr": lr, "train_seconds": elapsed,
                "frames_per_sec": totals["new_frames"] / max(elapsed, 1e-9)}

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

    def fit(self) -> list[dict[str, float]]:
        """Train to ``config.epochs``, evaluating and checkpointing after each epoch; per-epoch metrics."""
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
        while self.epoch < config.epochs:
            record: dict[str, float] = {"epoch": self.epoch + 1}
            record.update(self.train_epoch())
            if self.valid_loader is not None:
                record.update(self.evaluate())
            record["step"] = self.global_step
            self.history.append(record)
            self._log_epoch(record)
            self.save()
        if self.context.is_main:
            path = self.save_final()
            logger.info("wrote %s", path)
            self._plot()
        self.writer.close()
        return self.history

    def _plot(self) -> None:
        if self.config.plot and self.history:
            plot_curves(self.history, self.step_points, self.steps_per_epoch, self.exp / "curves.png",
                        title=f"{self.config.arch} ({self.config.mode} mode) - {self.exp.name}")

    def _log_epoch(self, record: dict[str, float]) -> None:
        line = (f"epoch {record['epoch']}/{self.config.epochs}: train loss {record['train_loss']:.4f} "
                f"frame acc {record['train_frame_acc']:.2f}%")
        scalars = {"train/epoch_loss": record["train_loss"], "train/epoch_frame_acc": record["train_frame_acc"]}
        if "valid_loss" in record:
            line += f" | valid loss {record['valid_loss']:.4f} frame acc {record['valid_frame_acc']:.2f}%"
            scalars.update({"valid/loss": record["valid_loss"], "valid/frame_acc": record["valid_frame_acc"]})
        logger.info("%s | lr %.5f | %.0f frames/s", line, record["lr"], record["frames_per_sec"])
        self.writer.add_scalars(self.global_step, scalars)
        self.writer.flush()
        if self.context.is_main:
            atomic_write_text(self.exp / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in self.history))
            self._plot()


def train(config: TrainConfig) -> list[dict[str, float]]:
    """Run (or resume) one training job; returns the per-epoch metrics of the whole run.

    Under ``torchrun`` every process calls this; it joins the process group
    (:func:`~blasr.utils.distributed.init_distributed`) and leaves it at the end.
    Errors are logged (to ``train.log`` too) and re-raised.
    """
    return run_training(config.device, config.exp, lambda context: _run(config, context), logger)


def _run(config: TrainConfig, context: DistContext) -> list[dict[str, float]]:
    checkpoints = Path(config.exp) / "checkpoints"
    if config.resume is None and list_checkpoints(checkpoints):
        raise FileExistsError(f"{config.exp} already holds checkpoints; continue with --resume auto "
                              "(or a checkpoint path) or choose another --exp")
    trainer = SpeechTrainer(config, context)
    resumed = False
    if config.resume == "auto":
        resumed = trainer.load_latest()
    elif config.resume is not None:
        trainer.load(config.resume)
        resumed = True
    if context.is_main:  # a resumed run keeps the original config files beside its own
        trainer.write_experiment_files(resumed_at=trainer.global_step if resumed else None)
    return trainer.fit()
