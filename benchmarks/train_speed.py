"""Speech training throughput (target frames per second) in window and chunk mode, on this machine.

    python benchmarks/train_speed.py                                # bl_resnet22_a2b3, widths 1 and 1/4, 3 runs
    python benchmarks/train_speed.py --widths 0.25 --runs 1 --steps 3   # quick look

Each measurement runs the real training step (:meth:`SpeechTrainer.train_step`:
forward, frame cross-entropy, backward, gradient clipping, Nesterov SGD) on
batches from the real :class:`~blasr.data.FrameLoader`, on a generated corpus
(tones and noise, 8 kHz, 5 s utterances, random targets over
``--num-classes``) that fits one shuffle bucket. Per run: ``--warmup`` steps
(bucket preparation, first-touch allocations), then ``--steps`` timed steps;
frames/s = valid target frames of the timed steps / their wall time,
loader included. The table gives the median over ``--runs`` runs.

Modes: window = the paper's 49-frame windows (``--window-batch`` rows);
chunk = ``--chunk-frames`` target frames per row (+ 48 context), ``--chunk-batch``
rows: 256 target frames per step by default, like the paper's per-GPU batch.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile
import torch

from blasr.acoustic.config import TrainConfig
from blasr.acoustic.trainer import SpeechTrainer
from blasr.data import attach_targets, cuts_from_audio_files
from blasr.features import FbankConfig, compute_features
from blasr.utils.distributed import DistContext
from blasr.utils.experiment import describe_revision
from blasr.utils.machine import cpu_model, load_average


def synthetic(num_samples: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(num_samples) / sample_rate
    freqs = rng.uniform(100, 0.4 * sample_rate, 3)
    x = sum(np.sin(2 * np.pi * f * t) for f in freqs) / 3 * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    x = 0.5 * x + 0.05 * rng.standard_normal(num_samples)
    return (np.clip(x, -1, 1) * 32767).astype(np.int16)


def make_corpus(root: Path, minutes: float, num_classes: int, rng: np.random.Generator) -> Path:
    paths = []
    for i in range(max(1, round(minutes * 60 / 5))):
        paths.append(root / "wav" / f"utt{i:04d}.wav")
        paths[-1].parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(paths[-1], synthetic(5 * 8000, 8000, rng), 8000, subtype="PCM_16")
    cuts, _ = cuts_from_audio_files(paths, sample_rate=8000)
    features, _ = compute_features(cuts, root / "fbank", FbankConfig(sample_rate=8000), progress=False)
    from lhotse import CutSet

    alignments = {c.id: rng.integers(0, num_classes, c.features.num_frames) for c in CutSet.from_file(features)}
    alignments[next(iter(alignments))][0] = num_classes - 1  # the model gets exactly num_classes outputs
    manifest, _ = attach_targets(features, alignments, root / "targets", num_pdfs=num_classes)
    return manifest


def measure(trainer: SpeechTrainer, warmup: int, steps: int) -> tuple[float, float]:
    """(target frames per second, seconds per step) over ``steps`` timed steps after ``warmup``."""
    frames, seconds, done = 0, 0.0, 0
    batches = iter(trainer.train_loader)
    while done < warmup + steps:
        start = time.perf_counter()
        try:
            batch = next(batches)
        except StopIteration:  # the end of an epoch: go on with the next
            batches = iter(trainer.train_loader)
            continue
        count = trainer.train_step(batch).sums[2]  # valid target frames
        elapsed = time.perf_counter() - start
        if done >= warmup:
            frames += int(count)
            seconds += elapsed
        done += 1
    return frames / seconds, seconds / steps


def machine() -> str:
    cpu = cpu_model()
    return (f"{cpu}, {os.cpu_count()} cores visible, {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}, torch {torch.__version__}")


def load() -> str:
    values = load_average()
    return " ".join(f"{v:g}" for v in values) if values else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="bl_resnet22_a2b3")
    parser.add_argument("--widths", type=float, nargs="+", default=[1.0, 0.25])
    parser.add_argument("--num-classes", type=int, default=32000)
    parser.add_argument("--window-batch", type=int, default=32, help="rows (windows) per step in window mode")
    parser.add_argument("--chunk-frames", type=int, default=64)
    parser.add_argument("--chunk-batch", type=int, default=4, help="rows (chunks) per step in chunk mode")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=4, help="timed steps per run")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps per run")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--minutes", type=float, default=3.0, help="corpus size (one shuffle bucket)")
    args = parser.parse_args()
    logging.disable(logging.INFO)
    torch.set_num_threads(args.threads)
    print(f"machine: {machine()}; torch threads {args.threads}")
    print(f"command: python {' '.join(sys.argv)}")
    print(f"median of {args.runs} runs x {args.steps} timed steps (after {args.warmup} warm-up); "
          f"load average before: {load()}\n")
    print("| model | mode | batch (rows x target frames) | frames/s | s/step |\n|---|---|---|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        manifest = make_corpus(Path(tmp), args.minutes, args.num_classes, np.random.default_rng(0))
        for width in args.widths:
            for mode, rows, per_row in (("window", args.window_batch, 1),
                                        ("chunk", args.chunk_batch, args.chunk_frames)):
                config = TrainConfig(arch=args.arch, data=str(manifest), exp=str(Path(tmp) / "exp"), width=width,
                                     mode=mode, chunk_frames=args.chunk_frames, batch_size=rows, workers=0,
                                     device="cpu", tensorboard=False, plot=False, save_every_steps=0)
                trainer = SpeechTrainer(config, DistContext())
                results = [measure(trainer, args.warmup, args.steps) for _ in range(args.runs)]
                fps = statistics.median(r[0] for r in results)
                step = statistics.median(r[1] for r in results)
                print(f"| `{args.arch}` width {width:g}, {args.num_classes} classes | {mode} | "
                      f"{rows} x {per_row} | {fps:,.1f} | {step:.2f} |", flush=True)
    print(f"\nload average after: {load()}; git revision: {describe_revision()}")


if __name__ == "__main__":
    main()
