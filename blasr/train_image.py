"""ImageNet training entry point (Big-Little Net, Appendix A.1); see docs/image_training.md.

    python -m blasr.train_image --arch bl_resnet50_a2b4 --data /data/imagenet --exp exp/bl_resnet50_a2b4
    torchrun --nproc-per-node 8 -m blasr.train_image --arch bl_resnet50_a2b4 --batch-size 32 \\
        --data /data/imagenet --exp exp/bl_resnet50_a2b4           # the paper's global batch 256

Only parses options; the work is :func:`blasr.image.trainer.train`.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields

from blasr.image.trainer import TrainConfig, train
from blasr.training.loop import NonFiniteLossError
from blasr.utils import cli
from blasr.utils.checkpoint import CheckpointError

_DEFAULTS = {f.name: f.default for f in fields(TrainConfig)}


def build_parser() -> argparse.ArgumentParser:
    d = _DEFAULTS
    p = cli.parser("blasr.train_image", __doc__)
    p.add_argument("--arch", required=True, help="image architecture, e.g. resnet50, bl_resnet50_a2b4")
    p.add_argument("--data", required=True, help="ROOT holding train/<class>/*.JPEG and val/<class>/*.JPEG")
    p.add_argument("--exp", required=True, help="experiment directory (config, log, metrics, tb/, checkpoints/)")
    p.add_argument("--epochs", type=int, default=d["epochs"], help="default %(default)s")
    p.add_argument("--batch-size", type=int, default=d["batch_size"], help="per process (default %(default)s)")
    p.add_argument("--lr", type=float, default=None, help="default: 0.1 x global batch / 256")
    p.add_argument("--momentum", type=float, default=d["momentum"], help="default %(default)s")
    p.add_argument("--weight-decay", type=float, default=d["weight_decay"], help="default %(default)s")
    p.add_argument("--decay-norm-bias", action=argparse.BooleanOptionalAction, default=d["decay_norm_bias"],
                   help="weight-decay batch-norm parameters and biases too (default: yes, as the paper states)")
    p.add_argument("--warmup-epochs", type=float, default=d["warmup_epochs"],
                   help="linear lr warm-up before the cosine (default %(default)s, as the paper)")
    p.add_argument("--workers", type=int, default=d["workers"],
                   help="loader processes per training process (default %(default)s)")
    p.add_argument("--crop-size", type=int, default=d["crop_size"], help="training crop (default %(default)s)")
    p.add_argument("--eval-crop-size", type=int, default=None,
                   help="evaluation centre crop (default: --crop-size; 256 for the paper's @256 rows)")
    p.add_argument("--eval-resize", type=int, default=None,
                   help="shorter side before the evaluation crop (default: crop x 8/7, 256 for 224, 292 for 256)")
    p.add_argument("--jitter", type=float, default=d["jitter"],
                   help="brightness/contrast/saturation jitter (default %(default)s)")
    p.add_argument("--lighting", type=float, default=d["lighting"],
                   help="PCA lighting noise std (default %(default)s; fb.resnet.torch uses 0.1)")
    p.add_argument("--upsample", choices=("bilinear", "nearest"), default=None,
                   help="Big-Little upsampling (default: the architecture's, bilinear)")
    p.add_argument("--width", type=float, default=None, help="channel multiplier (small experiments)")
    p.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                   help="bf16 autocast (default: on with CUDA, off on CPU)")
    p.add_argument("--device", choices=("cuda", "cpu"), default=None, help="default: cuda when available")
    p.add_argument("--resume", default=None, metavar="CHECKPOINT|auto",
                   help="continue from a checkpoint; 'auto': the newest in EXP/checkpoints, if any")
    p.add_argument("--seed", type=int, default=d["seed"], help="default %(default)s")
    p.add_argument("--max-steps-per-epoch", type=int, default=None, help="shorten epochs (smoke tests)")
    p.add_argument("--save-every-steps", type=int, default=d["save_every_steps"],
                   help="also checkpoint every N steps (default: epoch ends only)")
    p.add_argument("--keep-checkpoints", type=int, default=d["keep_checkpoints"],
                   help="epoch checkpoints to keep, newest first (default: 0 = all)")
    p.add_argument("--eval-every", type=int, default=d["eval_every"],
                   help="epochs between evaluations (default %(default)s)")
    p.add_argument("--log-every", type=int, default=d["log_every"],
                   help="steps between log lines and TensorBoard points (default %(default)s)")
    p.add_argument("--tensorboard", action=argparse.BooleanOptionalAction, default=d["tensorboard"],
                   help="write TensorBoard scalars to EXP/tb")
    p.add_argument("--deterministic", action="store_true",
                   help="deterministic algorithms, no cuDNN autotuning (slower on GPU)")
    return p


@cli.program
def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        train(TrainConfig(**vars(args)))
    except (NonFiniteLossError, CheckpointError, FileNotFoundError, FileExistsError, ValueError):
        raise SystemExit(1) from None  # train() has logged the error (stderr and train.log)


if __name__ == "__main__":
    sys.exit(main())
