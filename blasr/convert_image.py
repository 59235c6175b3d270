"""``python -m blasr.convert_image SRC DST``: a released Big-Little Net ImageNet checkpoint as a blasr checkpoint.

    python -m blasr.convert_image ImageNet-bLResNet-50-a2-b4.pth.tar bl_resnet50_a2b4.pt --arch bl_resnet50_a2b4

Every entry of the released ``state_dict`` is renamed onto the blasr model
(built with ``upsample="nearest"``, as the weights were trained); anything
missing, left over or of the wrong shape is an error listing them.
:func:`blasr.image.convert.load_converted` rebuilds the model. The work is
:func:`blasr.image.convert.convert_checkpoint`.
"""

from __future__ import annotations

import sys

from blasr.image.convert import convert_checkpoint
from blasr.utils import cli


@cli.program
def main(argv: list[str] | None = None) -> int:
    p = cli.parser("blasr.convert_image", __doc__)
    p.add_argument("src", help="released checkpoint, e.g. ImageNet-bLResNet-50-a2-b4.pth.tar")
    p.add_argument("dst", help="output file (.pt)")
    p.add_argument("--arch", help="blasr architecture (default: told by the source file name)")
    args = p.parse_args(argv)
    cli.setup_logging()
    path = convert_checkpoint(args.src, args.dst, args.arch)
    print(f"wrote {path} (upsample=nearest, as the weights were trained)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
