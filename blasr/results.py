"""``python -m blasr.results``: one table of systems, their size and cost, and their WERs.

    python -m blasr.results --system "GMM tri=exp/gmm/tri" --system "ResNet-22=exp/resnet22" \\
        --sets dev test --out RESULTS.table

A system directory is a blasr training experiment (``model.json``: params and
dense MACs per frame are counted from the architecture, as ``blasr.profile``
does) or a GMM model directory (``final.mdl``: params = Gaussians x (2 dim + 1);
MACs per frame = Gaussians x 2 dim, the diagonal log-likelihoods). WERs are
read from ``DIR/decode_<set>/wer`` (Kaldi's ``%WER`` line); a missing one is
shown as ``-``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from blasr.kaldi.scoring.results import parse_systems, results_table
from blasr.utils import cli


@cli.program
def main(argv: list[str] | None = None) -> int:
    p = cli.parser("blasr.results", __doc__)
    p.add_argument("--system", action="append", required=True, metavar="NAME=DIR",
                   help="a system: its name and its directory (repeatable, in table order)")
    p.add_argument("--sets", nargs="+", default=["dev", "test"], help="decode_<set> directories to read")
    p.add_argument("--out", help="also write the table to this file")
    args = p.parse_args(argv)
    cli.setup_logging()
    table = results_table(parse_systems(args.system), args.sets)
    print(table)
    if args.out:
        Path(args.out).write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
