"""Throughput of training, export and decoding on an idle machine and with one competing CPU-bound process.

    bash recipes/digits/run.sh                                    # once: the data, models and graph it measures
    python benchmarks/contention.py --data recipes/digits/data --exp recipes/digits/exp
    python benchmarks/contention.py ... --runs 1 --train-steps 20          # a quick look (tests/recipes runs it)

Each measurement runs the real programs as a user would, in a subprocess with
the environment this script was started with:

* **train**: ``python -m blasr.train`` (``--arch``, the recipe's ``conf/train.yaml``,
  one epoch cut to ``--train-steps`` steps, loader included) on the recipe's
  training targets; frames/s is what the trainer itself reports for the epoch
  (``metrics.jsonl``: valid target frames over the epoch's wall time, start-up
  excluded);
* **export**: ``python -m blasr.export`` of the dev set with the recipe's
  trained ``--arch`` model; frames/s from its report (start-up excluded);
* **decode**: ``python -m blasr.decode --nj 2`` of those exported scores on
  the recipe's HCLG; frames/s = frames / the command's wall time (start-up
  included: the decoder's own RTF sums per-process times, which hides waiting).

Every run measures each program idle and then loaded (a ``python -c 'while
True: pass'`` at the same priority in a session of its own, started by this
script and killed right after), in that order, ``--runs`` times; the table gives medians and the
loaded/idle ratio of the same run. Results go to stdout as Markdown and, with
``--json``, to a file. Nothing else should run on the machine meanwhile
(the load average before and after is reported).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from blasr.utils.machine import cpu_model, load_average

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "digits"


@contextmanager
def competing_process(enabled: bool):
    """One CPU-bound Python busy loop at the caller's priority while the block runs (nothing when disabled)."""
    if not enabled:
        yield
        return
    # in a session of its own, as a job started from another terminal would be (the kernel's autogroups
    # then share the CPU between the two sessions, not between their threads)
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
    try:
        time.sleep(0.5)  # let it take its core
        yield
    finally:
        hog.kill()
        hog.wait()


def run(command: list[str], log: Path) -> float:
    """Run a program to completion; its output goes to ``log``. Returns the wall time."""
    start = time.perf_counter()
    with open(log, "w") as out:
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed with exit code {done.returncode}; see {log}")
    return seconds


def train_rate(args, work: Path) -> float:
    exp = work / "train"
    command = [sys.executable, "-m", "blasr.train", "--arch", args.arch, "--config", str(args.train_config),
               "--data", str(args.data / "targets" / "train" / "cuts.jsonl.gz"), "--exp", str(exp),
               "--epochs", "1", "--max-steps-per-epoch", str(args.train_steps), "--log-every", "1000",
               "--no-plot", "--no-tensorboard", "--device", "cpu"]
    run(command, work / "train.log")
    record = json.loads((exp / "metrics.jsonl").read_text().splitlines()[-1])
    return float(record["frames_per_sec"])


def export_rate(args, work: Path) -> tuple[float, Path]:
    out = work / "export"
    command = [sys.executable, "-m", "blasr.export", "--model", str(args.exp / args.arch / "final.pt"),
               "--data", str(args.data / "fbank" / args.set / "cuts.jsonl.gz"), "--out", str(out),
               "--device", "cpu"]
    run(command, work / "export.log")
    stats = json.loads((out / "export.report.json").read_text())["stats"]
    return float(stats["frames_per_sec"]), out


def decode_rate(args, work: Path, scores: Path) -> float:
    graph = args.exp / "gmm" / "tri"
    command = [sys.executable, "-m", "blasr.decode", "--graph", str(graph / "graph"), "--model",
               str(graph / "final.mdl"), "--loglikes", f"scp:{scores / 'loglikes.scp'}", "--out",
               str(work / "decode"), "--nj", "2"]
    seconds = run(command, work / "decode.log")
    # the decoding's summary, logged once: "... INFO decoded N utterances (F frames, ..."
    summary = re.search(r"\bdecoded \d+ utterances \((\d+) frames", (work / "decode.log").read_text())
    if summary is None:
        raise RuntimeError(f"no decoding summary in {work / 'decode.log'}")
    return int(summary.group(1)) / seconds


def measure(args) -> dict:
    results: dict[str, dict[str, list[float]]] = {
        program: {"idle": [], "loaded": []} for program in ("train", "export", "decode")}
    for repeat in range(args.runs):
        for condition in ("idle", "loaded"):
            with tempfile.TemporaryDirectory(prefix="blasr-contention-") as tmp, \
                    competing_process(condition == "loaded"):
                work = Path(tmp)
                results["train"][condition].append(train_rate(args, work))
                rate, scores = export_rate(args, work)
                results["export"][condition].append(rate)
                results["decode"][condition].append(decode_rate(args, work, scores))
            print(f"run {repeat + 1}/{args.runs} {condition}: "
                  + ", ".join(f"{p} {v[condition][-1]:,.0f} frames/s" for p, v in results.items()),
                  file=sys.stderr, flush=True)
    return results


def table(results: dict) -> str:
    lines = ["| program | idle frames/s | loaded frames/s | loaded / idle (same run, median) |",
             "|---|---:|---:|---:|"]
    for program, rates in results.items():
        ratios = [loaded / idle for idle, loaded in zip(rates["idle"], rates["loaded"])]
        lines.append(f"| {program} | {statistics.median(rates['idle']):,.0f} | "
                     f"{statistics.median(rates['loaded']):,.0f} | {100 * statistics.median(ratios):.1f} % |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=RECIPE / "data", help="the digits recipe's data directory")
    p.add_argument("--exp", type=Path, default=RECIPE / "exp", help="the digits recipe's experiment directory")
    p.add_argument("--arch", default="bl_resnet22_a2b3", help="the trained architecture to measure")
    p.add_argument("--train-config", type=Path, default=RECIPE / "conf" / "train.yaml", help="training config")
    p.add_argument("--train-steps", type=int, default=150, help="training steps per measurement")
    p.add_argument("--set", default="dev", help="the set exported and decoded")
    p.add_argument("--runs", type=int, default=3, help="idle + loaded measurements of each program")
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args()
    load_before = load_average()
    results = measure(args)
    info = {"machine": f"{cpu_model()}, {os.cpu_count()} cores, {platform.python_version()}",
            "environment": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "BLASR_THREADS")
                            if k in os.environ},
            "load_average_before": load_before, "load_average_after": load_average(),
            "arch": args.arch, "train_steps": args.train_steps, "set": args.set, "runs": args.runs,
            "results": results}
    print(f"{info['machine']}; load average before {load_before}, after {info['load_average_after']}; "
          f"environment {info['environment'] or 'default'}\n")
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(info, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
