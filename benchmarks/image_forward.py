"""CPU forward time of image models, one process, median of repeated runs.

    python benchmarks/image_forward.py --archs resnet50 bl_resnet50_a2b4 --batch 8 --size 224 --repeats 7

Eval mode, no_grad, float32, ``torch.set_num_threads(--threads)``; each model is
warmed up before timing. Prints a Markdown table (and JSON with --json).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch

from blasr import create_model
from blasr.image.cost import image_cost


def time_forward(arch: str, batch: int, size: int, repeats: int, warmup: int, upsample: str | None = None) -> list[float]:
    torch.manual_seed(0)
    overrides = {"upsample": upsample} if upsample and arch.startswith("bl_") else {}
    model = create_model(arch, **overrides).eval()
    images = torch.randn(batch, 3, size, size)
    times = []
    with torch.no_grad():
        for i in range(warmup + repeats):
            start = time.perf_counter()
            model(images)
            if i >= warmup:
                times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--archs", nargs="+", default=["resnet50", "bl_resnet50_a2b4"])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--upsample", choices=["bilinear", "nearest"], help="override the bL models' upsampling")
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    rows = []
    for arch in args.archs:
        times = time_forward(arch, args.batch, args.size, args.repeats, args.warmup, args.upsample)
        rows.append(dict(arch=arch, median_s=statistics.median(times), times_s=times,
                         gflops=image_cost(arch).conv_macs_224 / 1e9 * (args.size / 224) ** 2))
    reference = rows[0]
    machine = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"
    upsample = f", bL upsampling {args.upsample}" if args.upsample else ""
    print(f"batch {args.batch}, {args.size}x{args.size}, median of {args.repeats} runs{upsample}; {machine}\n")
    print("| arch | GFLOPs/image | median ms/batch | speed-up vs first | FLOPs ratio |")
    print("|---|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['arch']} | {row['gflops']:.2f} | {row['median_s'] * 1e3:.0f} "
              f"| {reference['median_s'] / row['median_s']:.2f}x | {reference['gflops'] / row['gflops']:.2f}x |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(machine=machine, args=vars(args), rows=rows), f, indent=2)


if __name__ == "__main__":
    main()
