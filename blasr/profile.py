"""``python -m blasr.profile``: parameters and FLOPs of the registered architectures.

Prints Table 3 of Big-Little Net as counted from the real modules (see
:mod:`blasr.speech.cost` for the counting convention), plus the cost per output
frame when a model runs densely over a long utterance; with ``--domain image``,
Tables 1, 2 and 11 (:mod:`blasr.image.cost`).

    python -m blasr.profile                     # every speech architecture
    python -m blasr.profile --domain image      # every image architecture, @224 and @256
    python -m blasr.profile --arch 'bl_*' --width 0.25 --num-classes 500
    python -m blasr.profile --json costs.json   # also write the numbers as JSON
"""

from __future__ import annotations

import json
import sys

from blasr.core.registry import list_models
from blasr.image.cost import ImageCost, image_cost
from blasr.speech.cost import SpeechCost, speech_cost
from blasr.utils import cli


def speech_table(costs: list[SpeechCost]) -> str:
    """A Markdown table; FLOPs ratios are relative to the first ``resnet22`` row if present."""
    reference = next((c for c in costs if c.arch == "resnet22"), None)
    lines = [
        "| arch | params | params (1e7) | GFLOPs / 49-frame window | vs resnet22 "
        "| MMACs / frame (dense) | context (left, right) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for c in costs:
        ratio = f"{reference.window_flops / c.window_flops:.2f}x" if reference else "-"
        lines.append(
            f"| {c.arch} | {c.params:,} | {c.params / 1e7:.2f} | {c.window_flops / 1e9:.2f} "
            f"| {ratio} | {c.dense_macs_per_frame / 1e6:.1f} | ({c.left_context}, {c.right_context}) |"
        )
    return "\n".join(lines)


def image_table(costs: list[ImageCost]) -> str:
    """A Markdown table: params (1e6) and GFLOPs (conv MACs) at 224 and 256 pixels."""
    lines = [
        "| arch | params | params (1e6) | GFLOPs @224 | GFLOPs @256 |",
        "|---|---:|---:|---:|---:|",
    ]
    for c in costs:
        lines.append(
            f"| {c.arch} | {c.params:,} | {c.params / 1e6:.2f} | {c.conv_macs_224 / 1e9:.2f} "
            f"| {c.conv_macs_256 / 1e9:.2f} |"
        )
    return "\n".join(lines)


@cli.program
def main(argv: list[str] | None = None) -> int:
    parser = cli.parser("blasr.profile", __doc__)
    parser.add_argument("--domain", choices=("speech", "image", "all"), default="speech",
                        help="which architectures: speech (Table 3), image (Tables 1, 2, 11) or both")
    parser.add_argument("--arch", default="*", help="shell-style pattern over registered names")
    parser.add_argument("--width", type=float, default=None,
                        help="channel width multiplier (default: each architecture's own)")
    parser.add_argument("--num-classes", type=int, default=None,
                        help="output classes (default: each architecture's own)")
    parser.add_argument("--list", action="store_true", help="only list the matching architectures")
    parser.add_argument("--json", metavar="PATH", help="also write the numbers to PATH as JSON")
    args = parser.parse_args(argv)
    cli.setup_logging()

    domains = ("speech", "image") if args.domain == "all" else (args.domain,)
    names = {domain: list_models(args.arch, domain=domain) for domain in domains}
    if not any(names.values()):
        parser.error(f"no {args.domain} architecture matches {args.arch!r}")
    if args.list:
        print("\n".join(n for domain in domains for n in names[domain]))
        return 0
    options = dict(width=args.width, num_classes=args.num_classes)
    tables, results = [], {}
    if names.get("speech"):
        costs = [speech_cost(n, **options) for n in names["speech"]]
        tables.append(speech_table(costs))
        results["speech"] = [c.as_dict() for c in costs]
    if names.get("image"):
        costs = [image_cost(n, **options) for n in names["image"]]
        tables.append(image_table(costs))
        results["image"] = [c.as_dict() for c in costs]
    print("\n\n".join(tables))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
