"""Results tables: systems (a blasr experiment or a GMM directory), their size and cost, and their WERs.

* :func:`results_table`: params, dense MACs per frame and ``WER % (errors / words)`` per set
  (``python -m blasr.results``);
* :func:`hub5_table`: Table 3's layout, GFLOPs per 49-frame window, params (1e7) and the
  Hub5'00 WERs of ``decode_<set>/hub5.json`` (``python -m blasr.hub5 table``);
* :func:`parse_systems`: the ``NAME=DIR`` arguments both programs take.

A system directory is a blasr training experiment (``model.json``: params and
dense MACs per frame are counted from the architecture, as ``blasr.profile``
does) or a GMM model directory (``final.mdl``: params = Gaussians x (2 dim + 1);
MACs per frame = Gaussians x 2 dim, the diagonal log-likelihoods). WERs are
read from ``DIR/decode_<set>/wer`` (Kaldi's ``%WER`` line); a missing one is
shown as ``-``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from blasr.kaldi.formats.model import read_model
from blasr.speech.cost import speech_cost

_WER = re.compile(r"%WER\s+([0-9.]+)\s+\[\s*(\d+)\s*/\s*(\d+)")


@dataclass
class SystemCost:
    params: int
    macs_per_frame: float


def system_cost(directory: Path) -> SystemCost:
    """Params and per-frame MACs of a training experiment (``model.json``) or a GMM (``final.mdl``)."""
    if (directory / "model.json").is_file():
        model = json.loads((directory / "model.json").read_text())
        cost = speech_cost(model["arch"], **model.get("model_options", {}))
        return SystemCost(cost.params, cost.dense_macs_per_frame)
    if (directory / "final.mdl").is_file():
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


def results_table(systems: Sequence[tuple[str, Path]], sets: Sequence[str]) -> str:
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


def parse_systems(specs: Sequence[str]) -> list[tuple[str, Path]]:
    """``NAME=DIR`` arguments as ``(name, directory)`` pairs, in order; ValueError names a malformed one."""
    systems = []
    for spec in specs:
        name, sep, directory = spec.rpartition("=")
        if not sep or not name:
            raise ValueError(f"--system {spec!r}: expected NAME=DIR")
        systems.append((name, Path(directory)))
    return systems


def hub5_table(systems: Sequence[tuple[str, Path]], test_set: str = "eval2000", tune_set: str | None = None) -> str:
    """Table 3's layout: GFLOPs per 49-frame window, params (1e7), WER avg / SWB / CH (+ tune set WER)."""
    header = "| system | GFLOPs | params (1e7) | WER avg | Hub5 SWB | Hub5 CH | total |"
    rule = "|---|---:|---:|---:|---:|---:|---:|"
    if tune_set:
        header += f" {tune_set} |"
        rule += "---:|"
    lines = [header, rule]
    for name, directory in systems:
        gflops = params = "-"
        if (directory / "model.json").is_file():
            model = json.loads((directory / "model.json").read_text())
            cost = speech_cost(model["arch"], **model.get("model_options", {}))
            gflops, params = f"{cost.window_flops / 1e9:.2f}", f"{cost.params / 1e7:.2f}"
        path = directory / f"decode_{test_set}" / "hub5.json"
        cells = ["-"] * 4
        if path.is_file():
            summary = json.loads(path.read_text())
            sub = summary["subset_wer"]
            cells = [f"{summary['average']:.2f}" if summary["average"] is not None else "-",
                     f"{sub['swbd']:.2f}" if "swbd" in sub else "-",
                     f"{sub['callhome']:.2f}" if "callhome" in sub else "-", f"{summary['wer']:.2f}"]
        row = f"| {name} | {gflops} | {params} | " + " | ".join(cells) + " |"
        if tune_set:
            tune = read_wer(directory / f"decode_{tune_set}" / "wer")
            row += f" {tune[0]:.2f} |" if tune else " - |"
        lines.append(row)
    return "\n".join(lines)
