"""Choose the model of a finished experiment again, without retraining; see docs/training.md.

    python -m blasr.average --exp exp/bl_resnet22_a2b3 --avg 3                 # the last 3 epochs, averaged
    python -m blasr.average --exp exp/bl_resnet22_a2b3 --select best           # the best epoch on the held-out set
    python -m blasr.average --exp exp/bl_resnet22_a2b3 --select best --avg 3 --select-metric frame_error

Reads EXP/metrics.jsonl and EXP/checkpoints/epoch_NNN.pt, writes EXP/final.pt
(atomically; the model python -m blasr.export reads) and EXP/selection.json
(which epochs, every epoch's held-out metric); refused while a training holds
EXP. The same as training with --select / --select-metric / --avg. Only parses
options; the work is :func:`blasr.acoustic.selection.select_model`.
"""

from __future__ import annotations

import argparse
import sys

from blasr.acoustic.selection import METRICS, select_model
from blasr.training.averaging import SELECTIONS
from blasr.utils import cli
from blasr.utils.distributed import setup_logging
from blasr.utils.lock import lock_directory


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser("blasr.average", __doc__)
    p.add_argument("--exp", required=True, help="experiment directory of python -m blasr.train")
    p.add_argument("--select", choices=SELECTIONS, default="last",
                   help="last: the last epoch; best: the lowest --select-metric on the held-out set")
    p.add_argument("--select-metric", choices=METRICS, default="loss",
                   help="held-out cross-entropy (loss) or 100 - frame accuracy (frame_error)")
    p.add_argument("--avg", type=int, default=1,
                   help="average the checkpoints of this many epochs ending at the selected one (icefall's --avg)")
    p.add_argument("--out", default=None, help="the model file to write (default: EXP/final.pt)")
    return p


@cli.program
def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    with setup_logging(0):
        with lock_directory(args.exp, "wait for its training to finish, or stop it"):
            select_model(args.exp, args.select, args.select_metric, args.avg, out=args.out)


if __name__ == "__main__":
    sys.exit(main())
