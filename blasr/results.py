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

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

_WER = re.compile(r"%WER\s+([0-9.]+)\s+\[\s*(\d+)\s*/\s*(\d+)")


@dataclass
class SystemCost:
    params: int
    macs_per_frame: float


def system_cost(directory: Path) -> SystemCost:
    """Params and per-frame MACs of a training experiment (``model.json``) or a GMM (``final.mdl``)."""
    if (directory / "model.json").is_file():
        from blasr.speech.cost import speech_cost

        model = json.loads((directory / "model.json").read_text())
        cost = speech_cost(model["arch"], **model.get("model_options", {}))
        return SystemCost(cost.params, cost.dense_macs_per_frame)
    if (directory / "final.mdl").is_file():
        from blasr.kaldi.model_io import read_model

        _, acoustic_model = read_model(directory / "final.mdl")
        gaussians = sum(len(gmm.weights) for gmm in acoustic_model.pdfs)
        dim = acoustic_model.pdfs[0].dim
        return SystemCost(gaussians * (2 * dim + 1), float(gaussians * 2 * dim))
    raise FileNotFoundError(f"{directory}: neither model.json (a blasr experiment) nor final.mdl (a GMM)")


def read_wer(path: Path) -> tuple[float, int, int] | None:
    """``(WER %, errors, words)`` from a Kaldi ``%WER`` line, or None when the file does not exist."""
    if not path.is_file():
        return None
    match = _WER.search(path.read_text())
    if match is None:
        raise ValueError(f"{path}: no %WER line")
    return float(match.group(1)), int(match.group(2)), int(match.group(3))


def results_table(systems: list[tuple[str, Path]], sets: list[str]) -> str:
    """A Markdown table: system, params, MACs/frame, then ``WER % (errors / words)`` per set."""
    header = "| system | params | MACs/frame | " + " | ".join(f"{s} WER %" for s in sets) + " |"
    lines = [header, "|---|---:|---:|" + "---:|" * len(sets)]
    for name, directory in systems:
        cost = system_cost(directory)
        cells = []
        for name_of_set in sets:
            wer = read_wer(directory / f"decode_{name_of_set}" / "wer")
            cells.append("-" if wer is None else f"{wer[0]:.2f} ({wer[1]}/{wer[2]})")
        lines.append(f"| {name} | {cost.params:,} | {cost.macs_per_frame / 1e6:.2f} M | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m blasr.results", description=__doc__.split("\n")[0])
    p.add_argument("--system", action="append", required=True, metavar="NAME=DIR",
                   help="a system: its name and its directory (repeatable, in table order)")
    p.add_argument("--sets", nargs="+", default=["dev", "test"], help="decode_<set> directories to read")
    p.add_argument("--out", help="also write the table to this file")
    args = p.parse_args(argv)
    systems = []
    for spec in args.system:
        name, sep, directory = spec.rpartition("=")
        if not sep or not name:
            print(f"error: --system {spec!r}: expected NAME=DIR", file=sys.stderr)
            return 1
        systems.append((name, Path(directory)))
    try:
        table = results_table(systems, args.sets)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(table)
    if args.out:
        Path(args.out).write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
