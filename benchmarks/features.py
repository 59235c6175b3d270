"""Feature-extraction speed and loader throughput on this machine.

    python benchmarks/features.py                      # defaults: 60 min of 8 kHz audio, 3 runs
    python benchmarks/features.py --minutes 5 --runs 1 # quick look

Measures, each as the median of ``--runs`` runs:

1. ``logmel()`` alone on one 60 s waveform (8 and 16 kHz): x real time on one core.
2. ``compute_features`` over a generated corpus of 5 s utterances (read WAV,
   log-mel, lilcom-compress, write): x real time, and per job, for each ``--jobs``.
3. ``FrameLoader`` over that corpus with random targets: target frames per
   second for window mode (batch 256) and chunk mode (C = 100, batch 16), for
   each ``--workers``, batches consumed as fast as possible (no model); with
   ``--spec-augment``, each again with SpecAugment masks (m_F = 2, F = 20,
   m_T = 2, T = 40, p = 0.2); with ``--spec-warp W``, again with VTLP warps
   alone (factor from U[1 - W, 1 + W]).

Audio is tones plus noise, generated into a temporary directory.
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

from blasr.data import FrameLoader, attach_targets, cuts_from_audio_files
from blasr.data.spec_augment import SpecAugment
from blasr.features import FbankConfig, compute_features, logmel
from blasr.utils.experiment import describe_revision
from blasr.utils.machine import cpu_model


def synthetic(num_samples: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(num_samples) / sample_rate
    freqs = rng.uniform(100, 0.4 * sample_rate, 3)
    x = sum(np.sin(2 * np.pi * f * t) for f in freqs) / 3 * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    x = 0.5 * x + 0.05 * rng.standard_normal(num_samples)
    return (np.clip(x, -1, 1) * 32767).astype(np.int16)


def median_time(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def machine() -> str:
    cpu = cpu_model()
    import kaldi_native_fbank
    import lhotse

    return (
        f"{cpu}, {os.cpu_count()} cores visible, {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}, torch {torch.__version__}, numpy {np.__version__}, "
        f"lhotse {lhotse.__version__}, kaldi-native-fbank {kaldi_native_fbank.__version__}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=60.0, help="corpus size (minutes of 8 kHz audio)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--spec-augment", action="store_true", help="time the loader with SpecAugment masks too")
    parser.add_argument("--spec-warp", type=float, default=0.0,
                        help="time the loader with VTLP warps (factor from U[1 - this, 1 + this]) too; 0: not")
    parser.add_argument("--skip-features", action="store_true", help="only the loader (features at 1 job, untimed)")
    args = parser.parse_args()
    logging.disable(logging.INFO)
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    print(f"machine: {machine()}")
    print(f"command: python {' '.join(sys.argv)}")
    print(f"median of {args.runs} runs\n")

    print("| measurement | setting | result |\n|---|---|---:|")
    for rate in (8000, 16000) if not args.skip_features else ():
        wave = synthetic(60 * rate, rate, rng)
        seconds = median_time(lambda wave=wave, rate=rate: logmel(wave, rate), args.runs)
        print(f"| `logmel()` on 60 s | {rate // 1000} kHz, 1 process | {60 / seconds:,.0f} x real time |")

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        num_utts = max(1, round(args.minutes * 60 / 5))
        paths = []
        for i in range(num_utts):
            paths.append(root / "wav" / f"utt{i:05d}.wav")
            paths[-1].parent.mkdir(parents=True, exist_ok=True)
            soundfile.write(paths[-1], synthetic(5 * 8000, 8000, rng), 8000, subtype="PCM_16")
        cuts, _ = cuts_from_audio_files(paths, sample_rate=8000)
        audio = sum(c.duration for c in cuts)
        config = FbankConfig(sample_rate=8000)
        manifest = None
        for jobs in args.jobs if not args.skip_features else [1]:
            def run(jobs=jobs):
                return compute_features(cuts, root / f"fbank{jobs}", config, num_jobs=jobs, progress=False,
                                        overwrite=True)
            if args.skip_features:
                manifest = run()[0]
                break
            seconds = median_time(run, args.runs)
            manifest = run()[0]
            print(f"| `compute_features` ({audio / 60:.0f} min, 5 s cuts) | {jobs} job(s) | "
                  f"{audio / seconds:,.0f} x real time, {audio / seconds / jobs:,.0f} per job |")

        from lhotse import CutSet

        alignments = {c.id: rng.integers(0, 32000, c.features.num_frames) for c in CutSet.from_file(manifest)}
        with_targets, _ = attach_targets(manifest, alignments, root / "targets", num_pdfs=32000)
        frames = sum(len(v) for v in alignments.values())
        masks = [None, SpecAugment(2, 20, 2, 40, 0.2)] if args.spec_augment else [None]
        masks += [SpecAugment(freq_warp=args.spec_warp, high_hz=4000.0)] if args.spec_warp > 0 else []
        for mode, chunk, batch in (("window", None, 256), ("chunk", 100, 16)):
            for workers in args.workers:
                for spec_augment in masks:
                    loader = FrameLoader(with_targets, mode=mode, chunk_frames=chunk, batch_size=batch,
                                         num_workers=workers, spec_augment=spec_augment)

                    def epoch(loader=loader):
                        for _ in loader:
                            pass

                    seconds = median_time(epoch, args.runs)
                    label = f"C = 1, batch {batch}" if mode == "window" else f"C = {chunk}, batch {batch}"
                    if spec_augment is not None:
                        label += ", VTLP warp" if spec_augment.freq_warp > 0 else ", SpecAugment"
                    print(f"| `FrameLoader` {mode} mode ({frames:,} frames) | {label}, {workers} worker(s) | "
                          f"{frames / seconds:,.0f} frames/s |")
    print()
    print(f"git revision: {describe_revision()}")


if __name__ == "__main__":
    main()
