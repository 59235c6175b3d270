"""Speech acoustic-model training (Big-Little Net, Appendix B.1); see docs/training.md.

    python -m blasr.train --arch bl_resnet22_a2b3 --data exp/data/train/cuts.jsonl.gz \\
        --valid-data exp/data/valid/cuts.jsonl.gz --exp exp/bl_resnet22_a2b3
    torchrun --nproc-per-node 2 -m blasr.train ...same options...       # the paper's 2 x 256
    python -m blasr.train ... --resume auto                                # continue after a crash

Options come from the defaults (conf/default.yaml: the paper's recipe), then
each --config file in order (a path, or a packaged name: chunk, debug), then
the flags given here. Only parses options; the work is
:func:`blasr.acoustic.trainer.train`.
"""

from __future__ import annotations

import argparse
import sys

from blasr.acoustic.config import SELECT_METRICS, SELECTIONS, build_config, default_options
from blasr.acoustic.trainer import train
from blasr.training.loop import NonFiniteLossError
from blasr.utils import cli
from blasr.utils.checkpoint import CheckpointError

_HELP = {
    "valid_data": "held-out cuts with targets: frame accuracy and cross-entropy after every epoch",
    "num_pdfs": "output classes, the tree's pdfs (default: the num_pdfs file python -m blasr.targets wrote "
                "beside the training targets; given, it must agree with it)",
    "width": "channel multiplier (small experiments)",
    "upsample": "Big-Little upsampling (default: the architecture's, bilinear)",
    "mode": "window: 49-frame windows (the paper's); chunk: dense prediction over --chunk-frames",
    "chunk_frames": "target frames per row in chunk mode",
    "batch_size": "rows per process (default: 256 target frames: 256 windows, 256 // chunk-frames chunks)",
    "normalization": "mean/variance normalisation: utterance (the paper's), speaker, side, none",
    "cmvn": "CmvnTable .npz for speaker / side normalisation",
    "workers": "loader processes per training process",
    "spec_freq_masks": "SpecAugment: frequency masks per utterance on the training input (0: none)",
    "spec_freq_width": "SpecAugment: each frequency mask covers U{0..this} mel bins",
    "spec_time_masks": "SpecAugment: time masks per utterance on the training input (0: none)",
    "spec_time_width": "SpecAugment: each time mask covers U{0..min(this, fraction x frames)} frames",
    "spec_time_fraction": "SpecAugment: a time mask covers at most this fraction of the utterance",
    "spec_freq_warp": "VTLP: warp the mel axis of each training utterance by a factor from U[1 - this, 1 + this] "
                      "(Kaldi's VTLN warp; 0: none)",
    "epochs": "training epochs",
    "lr": "learning rate (default: base-lr x global target frames per step / base-batch-frames)",
    "base_lr": "learning rate per --base-batch-frames target frames per step",
    "lr_decay": "lr factor applied at the start of every epoch >= --lr-decay-from-epoch",
    "grad_clip": "clip the global gradient norm (0: off)",
    "label_smoothing": "training cross-entropy against 1 - this on the target state and this / classes on every "
                       "class (0: none, the paper's); validation stays plain",
    "device": "default: cuda when available",
    "amp": "bf16 autocast (default: on with CUDA)",
    "channels_last": "channels-last tensors (default: on with CUDA)",
    "compile": "torch.compile the model",
    "sync_bn": "batch-norm statistics over all processes (SyncBatchNorm)",
    "deterministic": "deterministic algorithms, no cuDNN autotuning (slower on GPU)",
    "resume": "continue from a checkpoint; 'auto': the newest good one in EXP/checkpoints, if any",
    "max_steps_per_epoch": "shorten epochs (smoke tests, benchmarks)",
    "save_every_steps": "also checkpoint every N steps (0: epoch ends only)",
    "keep_checkpoints": "epoch checkpoints to keep, newest first (0: all), plus those --select and --avg need",
    "log_every": "steps between log lines, TensorBoard points and NaN checks",
    "plot": "write EXP/curves.png",
    "select": "final.pt: the last epoch, or the best on --valid-data (by --select-metric)",
    "select_metric": "held-out cross-entropy (loss) or 100 - frame accuracy (frame_error)",
    "avg": "final.pt averages the checkpoints of this many epochs ending at the selected one (icefall's --avg)",
}
_CHOICES = {"mode": ("window", "chunk"), "upsample": ("bilinear", "nearest"),
            "normalization": ("utterance", "speaker", "side", "none"), "device": ("cuda", "cpu"),
            "select": SELECTIONS, "select_metric": SELECT_METRICS}
_TYPES = {"num_pdfs": int, "width": float, "batch_size": int, "lr": float, "max_steps_per_epoch": int,
          "valid_data": str, "cmvn": str, "device": str, "resume": str, "upsample": str}


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser("blasr.train", __doc__,
                   argument_default=argparse.SUPPRESS)  # only flags given override the files
    p.add_argument("--arch", required=True, help="speech architecture, e.g. bl_resnet22_a2b3")
    p.add_argument("--data", required=True, help="training cuts with features and targets (blasr.data)")
    p.add_argument("--exp", required=True, help="experiment directory")
    p.add_argument("--config", action="append", default=[], metavar="YAML",
                   help="options file (a path, or chunk / debug from blasr/acoustic/conf); repeatable")
    for name, default in default_options().items():
        if name in ("arch", "data", "exp"):
            continue
        flag = "--" + name.replace("_", "-")
        text = _HELP.get(name, "") + f" (default {default})"
        if isinstance(default, bool) or name in ("amp", "channels_last"):
            p.add_argument(flag, action=argparse.BooleanOptionalAction, help=text)
        else:
            kind = _TYPES.get(name, type(default))
            p.add_argument(flag, type=kind, choices=_CHOICES.get(name), help=text)
    return p


@cli.program
def main(argv: list[str] | None = None) -> None:
    args = vars(build_parser().parse_args(argv))
    config_files = args.pop("config")
    try:
        config = build_config(config_files, **args)
    except (ValueError, FileNotFoundError) as error:
        raise SystemExit(f"error: {error}") from None
    try:
        train(config)
    except (NonFiniteLossError, CheckpointError, FileNotFoundError, FileExistsError, ValueError):
        raise SystemExit(1) from None  # train() has logged the error (stderr and train.log)


if __name__ == "__main__":
    sys.exit(main())
