"""The speech models' output layer (512 -> K classes, one row per frame) through MKL's sgemm or oneDNN.

``F.linear`` runs the layer as MKL's sgemm; ``torch.ops.mkldnn._linear_pointwise`` (the operator
inductor emits) runs it through oneDNN, optionally with the weight reordered ahead of time for a
given batch. Which is faster depends on the CPU (docs/benchmarks.md, "Speed work on the CPU").
Timed alone, then (``--archs``) inside the whole dense forward of each model's inference copy
(batch norm folded, channels-last), with its speed-up over resnet22. Median of alternating calls::

    python benchmarks/output_layer.py --frames 1000 256 4000 --archs resnet22 bl_resnet22_a4b1 bl_resnet22_a2b3
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from blasr import create_model
from blasr.inference import optimize_for_inference


def onednn_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``F.linear(x, weight, bias)`` through oneDNN (``weight`` plain or reordered by ``_reorder_linear_weight``)."""
    rows = x.reshape(-1, x.shape[-1])
    out = torch.ops.mkldnn._linear_pointwise(rows, weight, bias, "none", [], "")
    return out.view(*x.shape[:-1], out.shape[-1])


class OneDnnLinear(nn.Linear):
    """An ``nn.Linear`` whose forward is :func:`onednn_linear`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return onednn_linear(x, self.weight, self.bias)


def median_ms(calls: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median milliseconds of each call, the calls alternating round robin after two warm-up rounds each."""
    seconds: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(2):
        for call in calls.values():
            call()
    for _ in range(repeats):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            seconds[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) * 1e3 for name, values in seconds.items()}


def layer_alone(frames: int, channels: int, classes: int, repeats: int) -> list[str]:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(1, frames, channels, generator=generator)
    weight = torch.randn(classes, channels, generator=generator) * 0.05
    bias = torch.randn(classes, generator=generator)
    packed = torch.ops.mkldnn._reorder_linear_weight(weight, frames)
    calls = {
        "F.linear (MKL)": lambda: F.linear(x, weight, bias),
        "oneDNN": lambda: onednn_linear(x, weight, bias),
        "oneDNN, prepacked": lambda: onednn_linear(x, packed, bias),
    }
    reference = F.linear(x, weight, bias)
    lines = []
    for name, ms in median_ms(calls, repeats).items():
        difference = (calls[name]() - reference).abs().max().item()
        gflops = 2 * frames * channels * classes / ms / 1e6
        lines.append(f"layer {frames} x {channels} -> {classes}: {name:18s} {ms:9.2f} ms {gflops:6.1f} GFLOP/s"
                     f" (max |difference| {difference:.1e})")
    return lines


def dense_forward(archs: list[str], classes: int, frames: int, repeats: int) -> list[str]:
    models = {}
    for arch in archs:
        model = optimize_for_inference(create_model(arch, num_classes=classes).eval())
        onednn = copy.deepcopy(model)
        onednn.output.__class__ = OneDnnLinear
        models[(arch, "F.linear (MKL)")] = model
        models[(arch, "oneDNN")] = onednn
    x = torch.randn(1, 3, 64, frames + 48).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        times = median_ms({key: (lambda m=model: m(x)) for key, model in models.items()}, repeats)
    lines = []
    for (arch, layer), ms in times.items():
        line = f"dense {arch:22s} output layer {layer:16s} {ms:9.1f} ms"
        if ("resnet22", layer) in times:
            line += f"  speed-up over resnet22 {times[('resnet22', layer)] / ms:.3f}"
        lines.append(line)
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                allow_abbrev=False)
    p.add_argument("--frames", type=int, nargs="+", default=[1000], help="rows (frames) of the layer alone")
    p.add_argument("--channels", type=int, default=512, help="the layer's inputs (the models' head channels)")
    p.add_argument("--classes", type=int, default=32000, help="the layer's outputs (CD states)")
    p.add_argument("--archs", nargs="*", default=[], help="also time these models' dense forward (1000 frames)")
    p.add_argument("--dense-frames", type=int, default=1000, help="output frames of the dense forward")
    p.add_argument("--repeats", type=int, default=7, help="timed calls of each (the median is reported)")
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    with torch.no_grad():
        for frames in args.frames:
            print("\n".join(layer_alone(frames, args.channels, args.classes, args.repeats)), flush=True)
    if args.archs:
        print("\n".join(dense_forward(args.archs, args.classes, args.dense_frames, args.repeats)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
