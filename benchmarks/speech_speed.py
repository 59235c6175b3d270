"""Speech model speed: dense and window inference, chunk and window training, against a 3x3-conv reference.

    python benchmarks/speech_speed.py --json speech_speed.json          # all 7 speech archs, width 1, 32000 classes
    python benchmarks/speech_speed.py --archs resnet22 bl_resnet22_a2b3 --modes dense window
    python benchmarks/speech_speed.py --profile resnet22 bl_resnet22_a2b3 --modes dense
    python benchmarks/speech_speed.py --quick --json /tmp/smoke.json    # CI smoke run: width 1/4, seconds
    python benchmarks/speech_speed.py --render /tmp/smoke.json          # print a saved report's tables again

For every architecture (``--archs``, default every registered speech one) and
mode (``--modes``):

* ``dense``: inference over ``--dense-batch`` long utterances of
  ``--dense-frames`` output frames (input ``+ 48`` context frames), as
  :func:`blasr.inference.dense_logits` runs them; target frames/s;
* ``window``: inference on batches of ``--window-batch`` 49-frame windows (the
  paper's training input, one target frame each); windows/s;
* ``train_chunk`` / ``train_window``: the training step of
  :meth:`blasr.acoustic.trainer.SpeechTrainer.train_step` (forward, float32
  frame cross-entropy, backward, gradient clipping at 10, Nesterov SGD with
  weight decay) on random features and targets, loader excluded
  (``benchmarks/train_speed.py`` times it with the loader); target frames/s.

in each variant (``--variants``):

* ``fp32``: the model as trained, NCHW, float32 (eval mode for inference);
* ``fp32-opt``: inference: batch norm folded into the convolutions and
  channels-last (:func:`blasr.inference.optimize_for_inference`), float32, same
  numbers up to rounding; training: channels-last;
* ``bf16-opt``: as ``fp32-opt`` under bf16 autocast (AMX on CPUs that have it,
  tensor cores on GPU): not the exported default, logits differ by ~1 %;
* ``compiled`` (dense inference only, not in the default set): ``torch.compile``
  with inductor's freezing (its own BN folding, conv + add + ReLU fusion,
  weight prepacking) on the fp32 model, fixed shapes; its compile time is
  reported (inductor's on-disk cache makes a second run compile faster).

Timing: ``--warmup`` untimed calls, then ``--repeats`` timed calls (training:
``--train-steps``) with ``time.perf_counter`` (``torch.cuda.synchronize`` on
GPU); the median is reported. Inference calls rotate over the architectures
(round robin), so a burst of load from another process is shared out instead of
falling on one model. Threads: ``torch.set_num_threads(--threads)``, reported.

Counting: MACs from :func:`blasr.core.cost.count_cost` on the exact timed
shapes (convolutions and the output layer; batch norm, ReLU, additions and
upsampling are not counted); **1 MAC = 2 FLOPs**; training GFLOP/s count 3x
the forward FLOPs (backward ~ 2x forward, a convention). The reference is the
machine's speed on one large 3x3 convolution (``--ref-shape``, default N=1,
256->256 channels, 64x128, padding 1) in the same run and threads: float32
NCHW, float32 channels-last and bf16 channels-last; the float32 variants are
held against the faster float32 layout, ``bf16-opt`` against bf16.

Output: Markdown tables (throughput; speed-up over resnet22 against its MAC
ratio; dense-vs-window ratios; targets met or not), the machine (CPU model,
threads, torch, date, load average before and after) and the exact command;
``--json PATH`` writes all of it with every timing. With ``--device cuda`` the
GPU paths run (cudnn.benchmark, bf16, channels-last, ``--cuda-graphs`` for
fixed-shape inference, utilisation from ``torch.cuda.utilization()``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import statistics
import sys
import threading
import time
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from blasr import create_model, list_models
from blasr.acoustic.optim import build_optimizer
from blasr.acoustic.trainer import optimizer_step
from blasr.core.cost import build_on_meta, count_cost
from blasr.inference import optimize_for_inference
from blasr.utils.experiment import describe_revision
from blasr.utils.machine import cpu_model, load_average

MODES = ("dense", "window", "train_chunk", "train_window")
VARIANTS = ("fp32", "fp32-opt", "bf16-opt", "compiled")
DEFAULT_VARIANTS = ("fp32", "fp32-opt", "bf16-opt")
BASELINE = "resnet22"
TARGET_GFLOPS_FRACTION = 0.6  # dense bl_resnet22_a2b3 vs the 3x3-conv reference
TARGET_DENSE_VS_WINDOW = 8.0


@dataclass
class Settings:
    """Sizes of one benchmark run (the defaults: full width, 32000 classes)."""

    width: float = 1.0
    num_classes: int = 32000
    dense_frames: int = 1000      # output frames per utterance (input + 48)
    dense_batch: int = 1
    window_batch: int = 64        # 49-frame windows per inference batch
    chunk_frames: int = 64        # target frames per training row (TrainConfig's default)
    chunk_batch: int = 4          # rows per chunk-mode step: 256 target frames, the recipe's per-GPU batch
    train_window_batch: int = 32  # windows per window-mode step (the recipe's 256 is 8x slower per step on CPU)
    warmup: int = 2
    repeats: int = 5
    train_warmup: int = 1
    train_steps: int = 3
    ref_shape: tuple[int, int, int, int] = (1, 256, 64, 128)  # (N, C, H, W) of the reference 3x3 conv

    @classmethod
    def quick(cls) -> "Settings":
        """A CI smoke run: width 1/4, tiny shapes, few calls; the numbers only prove the plumbing works.

        Not narrower: torch 2.13.0+cpu's channels-last backward of a strided 1x1 convolution with fewer
        than 16 input channels corrupts the heap (``fp32-opt`` / ``bf16-opt`` training at width 1/16).
        """
        return cls(width=1 / 4, num_classes=50, dense_frames=40, window_batch=4, chunk_frames=8, chunk_batch=2,
                   train_window_batch=4, warmup=1, repeats=2, train_warmup=1, train_steps=1,
                   ref_shape=(1, 32, 16, 32))


@dataclass
class Result:
    arch: str
    mode: str
    variant: str
    batch: str                      # rows x target frames (x input frames)
    target_frames: int              # per call
    macs: int                       # forward MACs per call
    seconds: list[float] = field(default_factory=list)
    compile_seconds: float | None = None
    max_abs_diff: float | None = None  # inference: vs the fp32 variant's logits on the same input

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def frames_per_second(self) -> float:
        return self.target_frames / self.median

    @property
    def gflops(self) -> float:
        """Achieved GFLOP/s, 1 MAC = 2 FLOPs; training counts 3x the forward."""
        factor = 3 if self.mode.startswith("train") else 1
        return 2 * factor * self.macs / self.median / 1e9

    def as_dict(self) -> dict:
        return {**asdict(self), "median_s": self.median, "frames_per_s": self.frames_per_second,
                "gflops_per_s": self.gflops}


# ---------------------------------------------------------------------- machine and timing


def cpu_flags() -> list[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = line.split(":", 1)[1].split()
                return [f for f in flags if f.startswith(("avx512f", "avx512_bf16", "amx", "avx2"))]
    except OSError:
        pass
    return []


def machine_info(device: torch.device) -> dict:
    info = dict(cpu=cpu_model(), cpu_flags=cpu_flags(), cores_visible=os.cpu_count(),
                torch_threads=torch.get_num_threads(), torch_interop_threads=torch.get_num_interop_threads(),
                torch=torch.__version__, python=platform.python_version(),
                os=f"{platform.system()} {platform.release()}", device=str(device),
                date=datetime.datetime.now().astimezone().isoformat(timespec="seconds"), git=describe_revision())
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn: Callable[[], object], device: torch.device) -> float:
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


class UtilizationSampler:
    """GPU utilisation (%) sampled every ``interval`` s from ``torch.cuda.utilization()`` (needs pynvml)."""

    def __init__(self, device: torch.device, interval: float = 0.05) -> None:
        self.device, self.interval, self.samples = device, interval, []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def available(self) -> bool:
        if self.device.type != "cuda":
            return False
        try:
            torch.cuda.utilization(self.device)
            return True
        except Exception:  # no pynvml / NVML: utilisation is simply not reported
            return False

    def __enter__(self) -> "UtilizationSampler":
        if self.available():
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.samples.append(torch.cuda.utilization(self.device))

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.samples) if self.samples else None


# ---------------------------------------------------------------------- reference convolution


def reference_conv(settings: Settings, device: torch.device) -> dict:
    """GFLOP/s of one large 3x3 convolution (bias, padding 1), float32 NCHW, channels-last, bf16 channels-last."""
    n, c, h, w = settings.ref_shape
    macs = n * c * c * 9 * h * w
    results = {}
    for name, memory_format, dtype in (("fp32", torch.contiguous_format, None),
                                       ("fp32-cl", torch.channels_last, None),
                                       ("bf16-cl", torch.channels_last, torch.bfloat16)):
        conv = nn.Conv2d(c, c, 3, padding=1).to(device, memory_format=memory_format).eval()
        x = torch.randn(n, c, h, w, device=device).contiguous(memory_format=memory_format)
        autocast = torch.autocast(device.type, dtype=dtype) if dtype else nullcontext()
        with torch.no_grad(), autocast:
            for _ in range(max(settings.warmup, 2)):
                conv(x)
            seconds = [time_call(lambda: conv(x), device) for _ in range(max(settings.repeats, 5))]
        median = statistics.median(seconds)
        results[name] = dict(seconds=seconds, median_s=median, gflops_per_s=2 * macs / median / 1e9)
    return dict(shape=list(settings.ref_shape), kernel=3, macs=macs, **results)


# ---------------------------------------------------------------------- models and calls


def build(arch: str, settings: Settings, device: torch.device) -> nn.Module:
    torch.manual_seed(0)
    return create_model(arch, width=settings.width, num_classes=settings.num_classes).to(device)


def forward_macs(arch: str, settings: Settings, shape: tuple[int, ...]) -> int:
    """Forward MACs (conv + output layer) of one call on ``shape``, counted on the meta device."""
    model = build_on_meta(lambda: create_model(arch, width=settings.width, num_classes=settings.num_classes))
    return count_cost(model, torch.empty(shape, device="meta")).macs * shape[0]


def inference_model(model: nn.Module, variant: str) -> tuple[nn.Module, torch.memory_format, bool]:
    """(model, input memory format, bf16 autocast) of an inference variant; ``model`` is in eval mode."""
    if variant == "fp32":
        return model, torch.contiguous_format, False
    if variant == "compiled":
        import torch._inductor.config as inductor_config

        inductor_config.freezing = True  # constant-fold BN and prepack weights: needs eval mode and no_grad
        return torch.compile(model), torch.contiguous_format, False
    optimized = optimize_for_inference(model, channels_last=True)
    return optimized, torch.channels_last, variant == "bf16-opt"


def make_inference_call(model: nn.Module, variant: str, x: torch.Tensor, device: torch.device,
                        cuda_graphs: bool) -> tuple[Callable[[], torch.Tensor], float | None]:
    """A no-argument callable running one forward, and the compile (or capture) time if any."""
    model, memory_format, bf16 = inference_model(model, variant)
    x = x.contiguous(memory_format=memory_format)

    def forward() -> torch.Tensor:
        with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            return model(x)

    setup = None
    if variant == "compiled":
        start = time.perf_counter()
        forward()
        synchronize(device)
        setup = time.perf_counter() - start
    if cuda_graphs and device.type == "cuda" and variant != "compiled":
        start = time.perf_counter()
        forward = cuda_graph(forward, device)
        setup = time.perf_counter() - start
    return forward, setup


def cuda_graph(forward: Callable[[], torch.Tensor], device: torch.device) -> Callable[[], torch.Tensor]:
    """Capture ``forward`` (fixed input tensor and shape) as a CUDA graph; replay it per call."""
    stream = torch.cuda.Stream(device)
    stream.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(stream):
        for _ in range(3):  # cudnn.benchmark picks its algorithms before the capture
            forward()
    torch.cuda.current_stream(device).wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        output = forward()

    def replay() -> torch.Tensor:
        graph.replay()
        return output

    return replay


@dataclass
class TrainStep:
    """:meth:`SpeechTrainer.train_step` on one process: :func:`~blasr.acoustic.trainer.optimizer_step` (no loader)."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    memory_format: torch.memory_format
    amp: bool
    device: torch.device
    grad_clip: float = 10.0

    def __call__(self, features: torch.Tensor, targets: torch.Tensor) -> None:
        features = features.to(self.device, memory_format=self.memory_format)
        optimizer_step(self.model, self.optimizer, features, targets.to(self.device), self.amp, self.grad_clip)


def train_batch(mode: str, settings: Settings, model: nn.Module, device: torch.device,
                generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, str]:
    """Random (features, targets, description) of one training step in ``mode``."""
    if mode == "train_chunk":
        rows, per_row = settings.chunk_batch, settings.chunk_frames
    else:
        rows, per_row = settings.train_window_batch, 1
    features = torch.randn(rows, 3, 64, per_row + model.shrink, generator=generator)
    targets = torch.randint(0, settings.num_classes, (rows, per_row), generator=generator)
    return features.to(device), targets.to(device), f"{rows} x {per_row} ({per_row + model.shrink} in)"


# ---------------------------------------------------------------------- measurements


def measure_inference(archs: list[str], modes: list[str], variants: list[str], settings: Settings,
                      device: torch.device, cuda_graphs: bool, log: Callable[[str], None]) -> list[Result]:
    generator = torch.Generator().manual_seed(0)
    results: list[Result] = []
    for mode in (m for m in modes if m in ("dense", "window")):
        if mode == "dense":
            shape = (settings.dense_batch, 3, 64, settings.dense_frames + 48)
            target_frames, batch = settings.dense_batch * settings.dense_frames, \
                f"{settings.dense_batch} x {settings.dense_frames} ({settings.dense_frames + 48} in)"
        else:
            shape = (settings.window_batch, 3, 64, 49)
            target_frames, batch = settings.window_batch, f"{settings.window_batch} x 1 (49 in)"
        x = torch.randn(shape, generator=generator).to(device)
        calls: list[tuple[Result, Callable[[], torch.Tensor]]] = []
        for arch in archs:
            model = build(arch, settings, device).eval()
            macs = forward_macs(arch, settings, shape)
            reference = None
            for variant in variants:
                if variant == "compiled" and mode != "dense":
                    continue  # compile time (10-20 s a model) is spent on the dense mode only
                result = Result(arch, mode, variant, batch, target_frames, macs)
                call, result.compile_seconds = make_inference_call(model, variant, x, device, cuda_graphs)
                output = call().float()
                if reference is None:
                    reference = output
                else:
                    result.max_abs_diff = float((output - reference).abs().max())
                for _ in range(settings.warmup):
                    call()
                calls.append((result, call))
            log(f"{mode}: {arch} ready")
        with UtilizationSampler(device) as sampler:
            for _ in range(settings.repeats):  # round robin over architectures and variants
                for result, call in calls:
                    result.seconds.append(time_call(call, device))
        if sampler.mean is not None:
            log(f"{mode}: mean GPU utilisation {sampler.mean:.0f} %")
        results += [result for result, _ in calls]
        del calls
    return results


def measure_training(archs: list[str], modes: list[str], variants: list[str], settings: Settings,
                     device: torch.device, log: Callable[[str], None]) -> list[Result]:
    train_modes = [m for m in modes if m.startswith("train")]
    variants = [v for v in variants if v != "compiled"]
    results: list[Result] = []
    if not train_modes:
        return results
    generator = torch.Generator().manual_seed(0)
    for arch in archs:
        for variant in variants:
            model = build(arch, settings, device).train()
            memory_format = torch.channels_last if variant != "fp32" else torch.contiguous_format
            model = model.to(memory_format=memory_format)
            optimizer = build_optimizer(model, lr=0.03, momentum=0.9, nesterov=True, weight_decay=1e-6)
            step = TrainStep(model, optimizer, memory_format, amp=variant == "bf16-opt", device=device)
            batches = {}
            for mode in train_modes:
                features, targets, batch = train_batch(mode, settings, model, device, generator)
                macs = forward_macs(arch, settings, tuple(features.shape))
                batches[mode] = (Result(arch, mode, variant, batch, targets.numel(), macs), features, targets)
            for _ in range(settings.train_warmup):
                for _, features, targets in batches.values():
                    step(features, targets)
            for _ in range(settings.train_steps):  # alternate the modes step by step
                for result, features, targets in batches.values():
                    result.seconds.append(time_call(partial(step, features, targets), device))
            results += [result for result, _, _ in batches.values()]
            log(f"training: {arch} {variant} done")
            del model, optimizer, step, batches
    return results


# ---------------------------------------------------------------------- summaries


def find(results: list[Result], arch: str, mode: str, variant: str) -> Result | None:
    return next((r for r in results if (r.arch, r.mode, r.variant) == (arch, mode, variant)), None)


def comparisons(results: list[Result]) -> list[dict]:
    """Per (arch, mode, variant): speed-up over resnet22 and its MAC ratio (per target frame)."""
    rows = []
    for r in results:
        base = find(results, BASELINE, r.mode, r.variant)
        if base is None:
            continue
        rows.append(dict(arch=r.arch, mode=r.mode, variant=r.variant,
                         speedup=r.frames_per_second / base.frames_per_second,
                         mac_ratio=(base.macs / base.target_frames) / (r.macs / r.target_frames)))
    return rows


def dense_vs_window(results: list[Result]) -> list[dict]:
    """Per (arch, variant): target frames/s of dense over window, in inference and in training."""
    rows = []
    pairs = (("dense", "window", "inference"), ("train_chunk", "train_window", "training"))
    for dense_mode, window_mode, kind in pairs:
        for r in results:
            if r.mode != dense_mode:
                continue
            w = find(results, r.arch, window_mode, r.variant)
            if w is None:
                continue
            rows.append(dict(arch=r.arch, variant=r.variant, kind=kind, ratio=r.frames_per_second / w.frames_per_second,
                             mac_ratio=(w.macs / w.target_frames) / (r.macs / r.target_frames)))
    return rows


def targets(results: list[Result], reference: dict, speedups: list[dict], ratios: list[dict]) -> list[dict]:
    """The issue's targets, one row per (target, variant); ``per_arch`` holds each architecture's check."""
    out = []
    for r in results:
        if r.arch == "bl_resnet22_a2b3" and r.mode == "dense":
            # float32 variants against the faster of the two float32 layouts of the reference
            ref_name = "bf16-cl" if r.variant == "bf16-opt" else max(
                ("fp32", "fp32-cl"), key=lambda name: reference[name]["gflops_per_s"])
            fraction = r.gflops / reference[ref_name]["gflops_per_s"]
            out.append(dict(target=f"dense bl_resnet22_a2b3 GFLOP/s >= {TARGET_GFLOPS_FRACTION:.0%} of the "
                                   f"{ref_name} 3x3-conv reference", variant=r.variant,
                            value=f"{r.gflops:.0f} / {reference[ref_name]['gflops_per_s']:.0f} GFLOP/s "
                                  f"= {fraction:.0%}", met=fraction >= TARGET_GFLOPS_FRACTION))

    def grouped(target: str, checks: list[tuple[str, str, str, bool]]) -> None:
        for variant in dict.fromkeys(v for _, v, _, _ in checks):
            mine = [(arch, value, met) for arch, v, value, met in checks if v == variant]
            out.append(dict(target=target, variant=variant, met=all(met for _, _, met in mine),
                            value="; ".join(f"{arch} {value}{'' if met else ' (not met)'}"
                                            for arch, value, met in mine),
                            per_arch={arch: dict(value=value, met=met) for arch, value, met in mine}))

    grouped(f"dense speed-up over {BASELINE} >= the MAC ratio (measured vs MAC ratio)",
            [(s["arch"], s["variant"], f"{s['speedup']:.3f}x vs {s['mac_ratio']:.3f}x", s["speedup"] >= s["mac_ratio"])
             for s in speedups if s["mode"] == "dense" and s["arch"] != BASELINE])
    for kind in ("inference", "training"):
        grouped(f"{kind}: dense/window throughput per target frame >= {TARGET_DENSE_VS_WINDOW:g}x",
                [(q["arch"], q["variant"], f"{q['ratio']:.1f}x", q["ratio"] >= TARGET_DENSE_VS_WINDOW)
                 for q in ratios if q["kind"] == kind])
    return out


def results_from(report: dict) -> list[Result]:
    return [Result(**{k: v for k, v in r.items() if k in Result.__dataclass_fields__}) for r in report["results"]]


def markdown(report: dict) -> str:
    lines = [f"Command: `{report['command']}`", ""]
    m = report["machine"]
    lines.append(f"Machine: {m['cpu']} ({', '.join(m['cpu_flags'])}), {m['cores_visible']} cores visible, "
                 f"{m['torch_threads']} torch threads; torch {m['torch']}, Python {m['python']}, {m['os']}; "
                 f"device {m['device']}{', ' + m['gpu'] if 'gpu' in m else ''}; {m['date']}; git {m['git']}; "
                 f"load average before {report['load_before']}, after {report['load_after']}.")
    ref = report["reference"]
    lines += ["", f"Reference: 3x3 conv {ref['shape'][1]}->{ref['shape'][1]} channels, N={ref['shape'][0]}, "
                  f"{ref['shape'][2]}x{ref['shape'][3]}: fp32 NCHW {ref['fp32']['gflops_per_s']:.0f}, "
                  f"fp32 channels-last {ref['fp32-cl']['gflops_per_s']:.0f}, "
                  f"bf16 channels-last {ref['bf16-cl']['gflops_per_s']:.0f} GFLOP/s (1 MAC = 2 FLOPs)."]
    s = report["settings"]
    lines += ["", f"Width {s['width']:g}, {s['num_classes']} classes; median of {s['repeats']} calls after "
                  f"{s['warmup']} warm-up (training: {s['train_steps']} steps after {s['train_warmup']})."]
    results = results_from(report)
    speedups = {(c["arch"], c["mode"], c["variant"]): c for c in report["speedups"]}
    lines += ["", "| arch | mode | variant | batch (rows x target frames) | ms / call | target frames/s "
                  "| GFLOP/s | vs resnet22 (MAC ratio) |", "|---|---|---|---|---:|---:|---:|---:|"]
    for r in results:
        c = speedups.get((r.arch, r.mode, r.variant))
        ratio = f"{c['speedup']:.2f}x ({c['mac_ratio']:.2f}x)" if c else "-"
        lines.append(f"| {r.arch} | {r.mode} | {r.variant} | {r.batch} | {r.median * 1e3:,.1f} "
                     f"| {r.frames_per_second:,.0f} | {r.gflops:.0f} | {ratio} |")
    if report["dense_vs_window"]:
        lines += ["", "| arch | variant | inference dense/window (MAC ratio) | training chunk/window (MAC ratio) |",
                  "|---|---|---:|---:|"]
        keyed = {(q["arch"], q["variant"], q["kind"]): q for q in report["dense_vs_window"]}
        for arch, variant in dict.fromkeys((q["arch"], q["variant"]) for q in report["dense_vs_window"]):
            cells = []
            for kind in ("inference", "training"):
                q = keyed.get((arch, variant, kind))
                cells.append(f"{q['ratio']:.1f}x ({q['mac_ratio']:.1f}x)" if q else "-")
            lines.append(f"| {arch} | {variant} | {cells[0]} | {cells[1]} |")
    compiled = [r for r in results if r.compile_seconds is not None]
    if compiled:
        lines += ["", "Compile / capture time: " + "; ".join(
            f"{r.arch} {r.mode} {r.variant} {r.compile_seconds:.1f} s" for r in compiled)]
    diffs = [r for r in results if r.max_abs_diff is not None]
    if diffs:
        lines += ["", "Max |logit difference| vs fp32: " + "; ".join(
            f"{r.arch} {r.mode} {r.variant} {r.max_abs_diff:.2g}" for r in diffs)]
    if report["targets"]:
        lines += ["", "| target | variant | measured | met |", "|---|---|---|---|"]
        for t in report["targets"]:
            lines.append(f"| {t['target']} | {t['variant']} | {t['value']} | {'met' if t['met'] else 'not met'} |")
    if report.get("profile"):
        lines += ["", profile_markdown(report["profile"])]
    return "\n".join(lines)


# ---------------------------------------------------------------------- profile


def _region_name(name: str, module: nn.Module) -> str | None:
    """Profiler region for a module: the stem, each stage, the head, the output layer, and bL branches."""
    parts = name.split(".")
    if name in ("stem", "head", "output") or (len(parts) == 2 and parts[0] == "stages"):
        return name
    if type(module).__name__ == "Branch" and len(parts) == 5 and parts[3] == "branches":
        return f"{parts[0]}.{parts[1]} branch {parts[4]}"  # stages.k.<layer>.branches.i
    return None


@contextmanager
def regions(model: nn.Module):
    """Wrap chosen modules' forwards in ``torch.profiler.record_function`` regions (via hooks)."""
    handles, open_regions = [], {}
    for name, module in model.named_modules():
        region = _region_name(name, module)
        if region is None:
            continue

        def pre(_module, _inputs, region=region):
            open_regions[region] = torch.profiler.record_function(f"region::{region}")
            open_regions[region].__enter__()

        def post(_module, _inputs, _output, region=region):
            open_regions.pop(region).__exit__(None, None, None)

        handles += [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def profile_dense(arch: str, variant: str, settings: Settings, device: torch.device, calls: int = 3) -> dict:
    """torch.profiler over ``calls`` dense forwards: time per region (stage, branch) and per op type."""
    from torch.profiler import ProfilerActivity, profile

    model = build(arch, settings, device).eval()
    model, memory_format, bf16 = inference_model(model, variant)
    x = torch.randn(settings.dense_batch, 3, 64, settings.dense_frames + 48, device=device)
    x = x.contiguous(memory_format=memory_format)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        for _ in range(2):
            model(x)
        with regions(model), profile(activities=activities) as prof:
            for _ in range(calls):
                model(x)
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events) / calls / 1e3  # ms per forward
    stages = {e.key[len("region::"):]: e.cpu_time_total / calls / 1e3 for e in events
              if e.key.startswith("region::")}
    ops = sorted(((e.key, e.self_cpu_time_total / calls / 1e3) for e in events
                  if not e.key.startswith("region::")), key=lambda kv: -kv[1])
    return dict(arch=arch, variant=variant, ms_per_forward=total, regions_ms=stages,
                ops_ms=dict(ops[:10]), other_ops_ms=sum(ms for _, ms in ops[10:]))


def profile_markdown(profiles: list[dict]) -> str:
    lines = ["Profile (torch.profiler, dense inference, ms per forward; regions include their children):"]
    for p in profiles:
        total = p["ms_per_forward"]
        regions_text = ", ".join(f"{k} {v:.0f} ({v / total:.0%})" for k, v in p["regions_ms"].items())
        ops_text = ", ".join(f"{k} {v:.1f} ({v / total:.0%})" for k, v in p["ops_ms"].items())
        lines += ["", f"- {p['arch']} {p['variant']}: {total:.0f} ms. Regions: {regions_text}.",
                  f"  Ops (self time): {ops_text}; other {p['other_ops_ms']:.1f}."]
    return "\n".join(lines)


# ---------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--archs", nargs="+", default=None, help="speech archs (default: every registered one)")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(DEFAULT_VARIANTS))
    parser.add_argument("--quick", action="store_true", help="CI smoke settings (width 1/4, tiny shapes, few calls)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    parser.add_argument("--cuda-graphs", action="store_true", help="replay inference as CUDA graphs (GPU)")
    parser.add_argument("--profile", nargs="*", metavar="ARCH", default=None,
                        help="also profile dense inference of these archs (fp32 and fp32-opt)")
    parser.add_argument("--json", metavar="PATH", help="write everything as JSON")
    parser.add_argument("--render", metavar="PATH", help="only print the tables of a JSON report written by --json")
    sizes = parser.add_argument_group("sizes (override the defaults or --quick)")
    for name, value in asdict(Settings()).items():
        if name != "ref_shape":
            sizes.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=None)
    sizes.add_argument("--ref-shape", type=int, nargs=4, default=None, metavar=("N", "C", "H", "W"))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render:  # the targets are judged again, with this version's rules and wording
        report = json.loads(Path(args.render).read_text())
        report["targets"] = targets(results_from(report), report["reference"], report["speedups"],
                                    report["dense_vs_window"])
        print(markdown(report))
        return 0
    command = "python " + " ".join(shlex.quote(a) for a in [sys.argv[0] if argv is None else
                                                             "benchmarks/speech_speed.py", *(argv or sys.argv[1:])])
    settings = Settings.quick() if args.quick else Settings()
    overrides = {k: getattr(args, k) for k in asdict(settings) if getattr(args, k) is not None}
    if "ref_shape" in overrides:
        overrides["ref_shape"] = tuple(overrides["ref_shape"])
    settings = replace(settings, **overrides)
    speech = list_models(domain="speech")
    archs = args.archs or speech
    unknown = [a for a in archs if a not in speech]
    if unknown:
        raise SystemExit(f"not speech architectures: {unknown}; choose from {speech}")
    device = torch.device(args.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("--device cuda: no CUDA device here")
        torch.backends.cudnn.benchmark = True
    if args.threads:
        torch.set_num_threads(args.threads)

    def log(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    load_before, machine = load_average(), machine_info(device)  # the date is the start's
    log(f"load average {load_before}; {torch.get_num_threads()} threads; {settings}")
    reference = reference_conv(settings, device)
    results = measure_inference(archs, args.modes, args.variants, settings, device, args.cuda_graphs, log)
    results += measure_training(archs, args.modes, args.variants, settings, device, log)
    speedups, ratios = comparisons(results), dense_vs_window(results)
    profiles = []
    for arch in args.profile or []:
        for variant in ("fp32", "fp32-opt"):
            profiles.append(profile_dense(arch, variant, settings, device))
    report = dict(command=command, machine=machine, load_before=load_before, load_after=load_average(),
                  settings=asdict(settings), reference=reference, results=[r.as_dict() for r in results],
                  speedups=speedups, dense_vs_window=ratios, targets=targets(results, reference, speedups, ratios),
                  profile=profiles,
                  gpu="measured" if device.type == "cuda" else "not measured: no GPU on this machine")
    print(markdown(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
