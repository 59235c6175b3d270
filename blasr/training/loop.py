"""The training loop every trainer shares (speech: :mod:`blasr.acoustic.trainer`, images: :mod:`blasr.image.trainer`).

:class:`Trainer` owns what does not depend on the data: the position in the
run (epochs done, batches into the next, optimiser steps), the epoch loop and
its metric sums, the non-finite-loss stop, log lines, TensorBoard scalars,
``metrics.jsonl``, ``curves.png``, and checkpoints: written atomically every
``save_every_steps`` steps and after every epoch, with everything needed to
continue *exactly* (model, optimiser, schedule, position, partial sums, RNG
states), and resumed from a path or with ``--resume auto`` from the newest
checkpoint that loads (falling back past unreadable ones). :func:`run` is a
trainer's whole job under ``torchrun`` or not.

A domain subclasses :class:`Trainer`. Its constructor calls
``super().__init__(config, context)``, then builds ``model`` (wrapped for DDP
if need be), ``optimizer``, ``scheduler`` (stepped once per optimiser step) and
``steps_per_epoch``, and it supplies:

* :meth:`~Trainer.train_batches` and :meth:`~Trainer.train_step`: this epoch's
  batches and one optimiser step on one of them, which returns a :class:`Step`
  (its sums, named by ``sum_names``, are added up over the epoch on the device);
* :meth:`~Trainer.evaluate` and :attr:`~Trainer.has_validation`;
* :meth:`~Trainer.interval_report`, :meth:`~Trainer.epoch_metrics`,
  :meth:`~Trainer.epoch_report`: scalars, records and log text from the sums;
* :meth:`~Trainer.extra_state`, :meth:`~Trainer.check_state`,
  :meth:`~Trainer.load_extra_state`: what its checkpoints add, and refusing
  ones of another run;
* optionally :meth:`~Trainer.log_start`, :meth:`~Trainer.prepare_epoch`, :meth:`~Trainer.finish`,
  :meth:`~Trainer.write_experiment_files`, :meth:`~Trainer.protected_checkpoints`,
  :attr:`~Trainer.curves`.

``config`` is the domain's options dataclass; the loop reads the fields of
:class:`RunOptions` from it.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable, Protocol, Sequence

import torch
import torch.distributed as dist
from torch import nn

from blasr.training.plots import Curve, plot_curves
from blasr.utils.checkpoint import (
    TEMPORARY,
    CheckpointError,
    atomic_save,
    checkpoint_name,
    list_checkpoints,
    load_checkpoint,
    load_latest_checkpoint,
    prune_checkpoints,
)
from blasr.utils.distributed import DistContext, all_reduce, reduce_sums, run_training, unwrap_model
from blasr.utils.errors import BlasrError
from blasr.utils.experiment import rng_state, set_rng_state, write_run_info
from blasr.utils.files import atomic_write_text
from blasr.utils.lock import remove_stale_temporaries
from blasr.utils.progress import ScalarWriter, draws_bar, progress_bar
from blasr.utils.threads import thread_tuner

logger = logging.getLogger("blasr.training")

_NO_STEP = 2**62  # "no non-finite loss yet" for the all-reduce(min) of the first bad step


class NonFiniteLossError(BlasrError, RuntimeError):
    """The training loss became NaN or infinite; the message names the step (and the batch's items)."""


class NoUsableCheckpointError(CheckpointError):
    """``--resume auto`` found checkpoints, but none of them loads into this run."""


class RunOptions(Protocol):
    """The options the loop reads from a domain's configuration (both trainers' ``TrainConfig`` have them)."""

    exp: str                          # experiment directory
    device: str | None
    resume: str | None                # checkpoint path, "auto", or None (a fresh start)
    epochs: int
    batch_size: int                   # per process (a mid-epoch checkpoint needs the same global batch)
    save_every_steps: int             # 0: epoch ends only
    keep_checkpoints: int             # epoch-end checkpoints kept, newest first; 0 keeps all
    log_every: int                    # steps between log lines, TensorBoard points and NaN checks
    tensorboard: bool
    deterministic: bool               # torch.use_deterministic_algorithms, no cuDNN autotuning


@dataclass
class Step:
    """What :meth:`Trainer.train_step` tells the loop about one batch."""

    sums: torch.Tensor                      # float64 (len(sum_names),) on the device, added to the epoch's
    loss: torch.Tensor | None = None        # the detached loss; None: no optimiser step (nothing to learn from)
    grad_norm: torch.Tensor | None = None   # gradient norm before clipping, if the domain computes it
    ids: Sequence[str] = ()                 # the batch's items, named if its loss is not finite


class Trainer:
    """Holds one run's model, optimiser, schedule and position; :meth:`fit` trains it. Subclass per domain."""

    checkpoint_format: ClassVar[str]          # e.g. "blasr.train/1"; a checkpoint of another is refused
    checkpoint_kind: ClassVar[str]            # e.g. "speech-training", for that refusal
    sum_names: ClassVar[tuple[str, ...]]      # what Step.sums holds, e.g. ("loss", "correct", "frames")
    resume_options: ClassVar[tuple[str, ...]] = ()  # options whose change makes a resumed run differ (warned)
    valid_prefix: ClassVar[str] = "valid"     # the records' held-out metrics: valid_loss, ...
    curves: ClassVar[tuple[Curve, ...]] = ()  # curves.png panels (none: no step points, no plot)
    batch_items: ClassVar[str | None] = None  # what Step.ids name ("utterances"); None: batches are not named
    non_finite_advice: ClassVar[str] = "Lower --lr or check the data"

    # built by the domain's constructor
    model: nn.Module                 # as trained (DDP, torch.compile); unwrap_model gives the network
    optimizer: torch.optim.Optimizer
    scheduler: Any                   # an lr scheduler, stepped once per optimiser step
    steps_per_epoch: int

    def __init__(self, config: Any, context: DistContext) -> None:
        self.config, self.context, self.device = config, context, context.device
        # CPU threads follow the load (blasr.utils.threads); --deterministic keeps them fixed
        self.thread_tuner = thread_tuner() if self.device.type == "cpu" and not config.deterministic else None
        self.exp = Path(config.exp)
        self.checkpoint_dir = self.exp / "checkpoints"
        if context.is_main:
            self.exp.mkdir(parents=True, exist_ok=True)
        if config.deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = not config.deterministic
        self.eval_every = 1                  # evaluate every N epochs (and after the last)
        self.plot = bool(self.curves)        # draw curves.png
        self.title = self.exp.name           # of curves.png

        self.epoch, self.batch, self.global_step = 0, 0, 0  # position: epochs done, batches into the next
        self.epoch_sums: torch.Tensor | None = None        # train sums of a partly done epoch
        self.history: list[dict[str, float]] = []
        self.step_points: list[list[float]] = []           # (step, each curve's scalar) every log_every steps
        self.first_bad_step = torch.full((), _NO_STEP, dtype=torch.int64, device=self.device)
        self.recent_batches: dict[int, list[str]] = {}     # step -> ids, since the last NaN check
        self.writer = ScalarWriter(self.exp / "tb", enabled=False)  # fit() opens the real one

    # ---------------------------------------------------------------- what a domain supplies

    @property
    def has_validation(self) -> bool:
        return False

    def train_batches(self) -> Iterable:
        """This epoch's batches from the current position on (``self.epoch``, ``self.batch``)."""
        raise NotImplementedError

    def prepare_epoch(self) -> None:
        """Start preparing epoch ``self.epoch``'s first batches in the background (called after the previous
        epoch's last step, before its validation and checkpoint); by default nothing."""

    def train_step(self, batch: Any) -> Step:
        """One optimiser step (forward, backward, ``optimizer.step()``; not the scheduler) on this process's batch."""
        raise NotImplementedError

    def evaluate(self) -> dict[str, float]:
        """Held-out metrics over the whole set (all processes), keys prefixed ``valid_prefix``."""
        raise NotImplementedError

    def interval_report(self, totals: dict[str, float], seconds: float) -> tuple[dict[str, float], str]:
        """TensorBoard scalars and a short log text from the sums of the last ``log_every`` steps (all processes)."""
        raise NotImplementedError

    def epoch_metrics(self, totals: dict[str, float], new: dict[str, float], steps: int,
                      seconds: float) -> dict[str, float]:
        """The epoch's training metrics from its sums (``totals``), those since this call of :meth:`train_epoch`
        began (``new``: a resumed epoch started earlier) and its ``steps`` and ``seconds`` since then."""
        raise NotImplementedError

    def epoch_report(self, record: dict[str, float]) -> tuple[dict[str, float], str]:
        """TensorBoard scalars and the log text of one epoch's record (after "epoch 3/16: ")."""
        raise NotImplementedError

    def extra_state(self) -> dict[str, Any]:
        """What the domain adds to a checkpoint (tensors and plain containers only)."""
        return {}

    def check_state(self, path: Path, state: dict[str, Any]) -> None:
        """Raise :class:`CheckpointError` if the checkpoint is of another run (architecture, classes)."""

    def load_extra_state(self, path: Path, state: dict[str, Any]) -> None:
        """Restore what :meth:`extra_state` saved."""

    def log_start(self) -> None:
        """Log what is about to be trained (rank 0 shows INFO)."""

    def protected_checkpoints(self) -> set[str]:
        """Names of epoch checkpoints that ``--keep-checkpoints`` must not prune (e.g. for model selection)."""
        return set()

    def finish(self) -> None:
        """After the last epoch, on rank 0 (e.g. write the final model)."""

    def write_experiment_files(self, resumed_at: int | None = None) -> None:
        """The resolved options as ``config.json`` (``config.resumed_at_step<N>.json`` for a resumed run; rank 0)."""
        name = "config.json" if resumed_at is None else f"config.resumed_at_step{resumed_at}.json"
        write_run_info(self.exp, {"world_size": self.context.world_size, **asdict(self.config)}, name=name)

    # ---------------------------------------------------------------- checkpoints

    def state_dict(self) -> dict[str, Any]:
        """Everything to continue exactly; only tensors and plain containers (``weights_only`` loading)."""
        return {
            "format": self.checkpoint_format,
            **self.extra_state(),
            "model": unwrap_model(self.model).state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "epoch": self.epoch,              # epochs completed
            "batch": self.batch,              # batches done in epoch `epoch` (0-based)
            "global_step": self.global_step,
            "epoch_sums": None if self.epoch_sums is None else self.epoch_sums.cpu(),
            "history": self.history,
            "step_points": torch.tensor(self.step_points, dtype=torch.float64).reshape(-1, 1 + len(self.curves)),
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
        prune_checkpoints(self.checkpoint_dir, self.config.keep_checkpoints, keep_recent=2,
                          protect=self.protected_checkpoints())
        return path

    def load(self, path: str | os.PathLike) -> None:
        """Continue from a checkpoint written by :meth:`save`."""
        path = Path(path)
        state = load_checkpoint(path)
        self._check(path, state)
        self._restore(path, state)

    def load_latest(self) -> bool:
        """Continue from the newest checkpoint that loads (falling back past bad ones); False if there is none."""
        try:
            found = load_latest_checkpoint(self.checkpoint_dir, check=self._check)
        except CheckpointError as error:
            raise NoUsableCheckpointError(
                f"{error}. To resume, move the unreadable checkpoints out of {self.checkpoint_dir} (an older "
                "good one is then used) or give --resume a checkpoint path; to start afresh, choose another "
                "--exp") from error
        if found is None:
            logger.info("no checkpoint in %s: starting afresh", self.checkpoint_dir)
            return False
        self._restore(*found)
        return True

    def resume(self, how: str | None) -> bool:
        """``--resume``: None (a fresh start), ``"auto"`` (:meth:`load_latest`) or a path; True if resumed."""
        if how == "auto":
            return self.load_latest()
        if how is not None:
            self.load(how)
            return True
        return False

    def _check(self, path: Path, state: Any) -> None:
        if not isinstance(state, dict) or state.get("format") != self.checkpoint_format:
            raise CheckpointError(f"{path} is not a blasr {self.checkpoint_kind} checkpoint "
                                  f"({self.checkpoint_format})")
        self.check_state(path, state)
        global_batch = (state["config"]["batch_size"] * state["world_size"],
                        self.config.batch_size * self.context.world_size)
        if state["batch"] > 0 and global_batch[0] != global_batch[1]:
            raise CheckpointError(f"{path} stops inside an epoch at global batch {global_batch[0]}; resume it "
                                  f"with the same global batch (this run: {global_batch[1]})")

    def _restore(self, path: Path, state: dict[str, Any]) -> None:
        saved = state["config"]
        changed = sorted(k for k in self.resume_options if saved.get(k) != getattr(self.config, k))
        if state["world_size"] != self.context.world_size:
            changed.append("world size")
        if changed:
            logger.warning("resuming %s with changed %s: the run will not repeat an uninterrupted one", path,
                           ", ".join(changed))
        unwrap_model(self.model).load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.load_extra_state(path, state)
        self.epoch, self.batch, self.global_step = state["epoch"], state["batch"], state["global_step"]
        sums = state["epoch_sums"]
        self.epoch_sums = None if sums is None else sums.to(self.device)
        self.history = list(state["history"])
        points = state.get("step_points")  # absent from image checkpoints written before the shared loop
        self.step_points = [] if points is None else points.tolist()
        set_rng_state(state["rng"])
        logger.info("resumed from %s: %d epochs + %d batches done, step %d",
                    path, self.epoch, self.batch, self.global_step)

    # ---------------------------------------------------------------- steps and epochs

    def _check_finite(self) -> None:
        """Stop every process if any saw a NaN/inf loss; name the first such step (and its batch's items)."""
        first = int(all_reduce(self.first_bad_step.clone(), "min"))
        if first < _NO_STEP:
            where = f"epoch {(first - 1) // self.steps_per_epoch + 1} of {self.config.epochs}"
            named = ""
            if self.batch_items:
                mine = self.recent_batches.get(first, []) if int(self.first_bad_step) == first else []
                gathered = [mine]
                if self.context.is_distributed:
                    gathered = [None] * self.context.world_size
                    dist.all_gather_object(gathered, mine)
                items = sorted({item for part in gathered for item in part if item})
                shown = ", ".join(items[:20]) + (f" and {len(items) - 20} more" if len(items) > 20 else "")
                where += f", batch {(first - 1) % self.steps_per_epoch + 1}"
                named = f"; {self.batch_items} of that batch: {shown or 'unknown'}"
            raise NonFiniteLossError(
                f"the training loss is NaN or infinite at step {first} ({where}){named}; stopped. "
                f"{self.non_finite_advice}; the last checkpoint in {self.checkpoint_dir} precedes it")
        self.recent_batches.clear()

    def train_epoch(self) -> dict[str, float]:
        """Train from the current position to the end of epoch ``self.epoch``; the epoch's metrics."""
        config = self.config
        self.model.train()
        batches = self.train_batches()
        # the domain's sums (+ gradient norms in the interval): on the device, no per-step synchronisation
        sums = self.epoch_sums if self.epoch_sums is not None else torch.zeros(
            len(self.sum_names), dtype=torch.float64, device=self.device)
        start_sums = sums.clone()
        interval = torch.zeros(len(self.sum_names) + 1, dtype=torch.float64, device=self.device)
        interval_norms, start_step = 0, self.global_step
        tick = start = time.perf_counter()
        lr = self.optimizer.param_groups[0]["lr"]
        bar = progress_bar(batches, total=self.steps_per_epoch - self.batch,
                           desc=f"epoch {self.epoch + 1}/{config.epochs}", enabled=self.context.is_main)
        for batch in bar:
            lr = self.optimizer.param_groups[0]["lr"]  # the rate this step uses
            started = time.perf_counter()
            step = self.train_step(batch)
            if self.thread_tuner is not None:
                self.thread_tuner.update(time.perf_counter() - started)
            self.batch += 1
            sums += step.sums
            if step.loss is not None:
                self.scheduler.step()
                self.global_step += 1
                interval[:-1] += step.sums
                if step.grad_norm is not None:
                    interval[-1] += step.grad_norm.double()
                    interval_norms += 1
                self.first_bad_step = torch.where(torch.isfinite(step.loss), self.first_bad_step,
                                                  torch.clamp(self.first_bad_step, max=self.global_step))
                if self.batch_items:
                    self.recent_batches[self.global_step] = list(step.ids)
                if self.global_step % config.log_every == 0:
                    self._check_finite()
                    now = time.perf_counter()
                    self._log_interval(interval, interval_norms, now - tick, lr, bar)
                    interval.zero_()
                    interval_norms, tick = 0, now
            if self.batch >= self.steps_per_epoch:
                break
            if step.loss is not None and config.save_every_steps and self.global_step % config.save_every_steps == 0:
                self.epoch_sums = sums
                self.save()
        bar.close()
        self._check_finite()
        names = list(self.sum_names)
        reduced = reduce_sums({**dict(zip(names, sums)), **{"new " + n: v for n, v in zip(names, sums - start_sums)}},
                              self.device)
        elapsed = time.perf_counter() - start
        self.epoch, self.batch, self.epoch_sums = self.epoch + 1, 0, None
        metrics = self.epoch_metrics({n: reduced[n] for n in names}, {n: reduced["new " + n] for n in names},
                                     self.global_step - start_step, elapsed)
        return {**metrics, "lr": lr, "train_seconds": elapsed}

    def _log_interval(self, interval: torch.Tensor, norms: int, seconds: float, lr: float, bar) -> None:
        totals = reduce_sums(dict(zip((*self.sum_names, "grad_norm"), interval)), self.device)
        scalars, text = self.interval_report(totals, seconds)
        scalars["train/lr"] = lr
        if norms:
            scalars["train/grad_norm"] = totals["grad_norm"] / (self.context.world_size * norms)
        self.writer.add_scalars(self.global_step, scalars)
        if self.curves:
            self.step_points.append([self.global_step, *(scalars[curve.scalar] for curve in self.curves)])
        bar.set_postfix_str(text)
        if not draws_bar(bar):  # no bar on screen: a log line instead
            logger.info("epoch %d step %d: %s lr %.5f", self.epoch + 1, self.global_step, text, lr)

    def fit(self) -> list[dict[str, float]]:
        """Train to ``config.epochs``, evaluating and checkpointing after each epoch; per-epoch metrics."""
        config = self.config
        self.log_start()
        self.writer = ScalarWriter(self.exp / "tb", enabled=self.context.is_main and config.tensorboard)
        try:
            while self.epoch < config.epochs:
                record: dict[str, float] = {"epoch": self.epoch + 1}
                record.update(self.train_epoch())
                if self.epoch < config.epochs:
                    self.prepare_epoch()
                if self.has_validation and (self.epoch % self.eval_every == 0 or self.epoch == config.epochs):
                    record.update(self.evaluate())
                record["step"] = self.global_step
                self.history.append(record)
                self._log_epoch(record)
                self.save()
            if self.context.is_main:
                self.finish()
                self._plot()
        finally:
            self.writer.close()
        return self.history

    def _log_epoch(self, record: dict[str, float]) -> None:
        scalars, text = self.epoch_report(record)
        logger.info("epoch %d/%d: %s", record["epoch"], self.config.epochs, text)
        self.writer.add_scalars(self.global_step, scalars)
        self.writer.flush()
        if self.context.is_main:
            atomic_write_text(self.exp / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in self.history))
            self._plot()

    def _plot(self) -> None:
        if self.plot and self.curves and self.history:
            plot_curves(self.history, self.step_points, self.steps_per_epoch, self.exp / "curves.png",
                        self.curves, valid=self.valid_prefix, title=self.title)


def run(make_trainer: Callable[[Any, DistContext], Trainer], config: RunOptions,
        log: logging.Logger) -> list[dict[str, float]]:
    """Run (or resume, ``config.resume``) one training job; the per-epoch metrics of the whole run.

    Under ``torchrun`` every process calls this; it joins the process group
    (:func:`~blasr.utils.distributed.init_distributed`) and leaves it at the end.
    Another run holding ``config.exp`` stops it (:class:`~blasr.utils.lock.DirectoryInUseError`).
    Errors are logged to ``log`` (to ``EXP/train.log`` too) and re-raised.
    """
    return run_training(config.device, config.exp, lambda context: _run(make_trainer, config, context), log)


def _run(make_trainer: Callable[[Any, DistContext], Trainer], config: RunOptions,
         context: DistContext) -> list[dict[str, float]]:
    if config.resume is None and list_checkpoints(Path(config.exp) / "checkpoints"):
        raise FileExistsError(f"{config.exp} already holds checkpoints; continue with --resume auto "
                              "(or a checkpoint path) or choose another --exp")
    if context.is_main:  # run_training holds the directory's lock: these are a killed run's leftovers
        remove_stale_temporaries(Path(config.exp) / "checkpoints", TEMPORARY)
        remove_stale_temporaries(config.exp, ".*.tmp")  # final.pt, metrics.jsonl
    trainer = make_trainer(config, context)
    resumed = trainer.resume(config.resume)
    if context.is_main:  # a resumed run keeps the original config files beside its own
        trainer.write_experiment_files(resumed_at=trainer.global_step if resumed else None)
    return trainer.fit()
