"""The parallel programs with ``--cmd blasr-slurm`` on the tests' single-node Slurm write what they write without
``--cmd`` (tests/launch/test_cmd.py does the same through blasr-run)."""

from __future__ import annotations

import json

from blasr.gmm import main as gmm_main
from tests.launch.test_cmd import tones  # noqa: F401  (the tiny tone corpus, its lang and GMM)


def contents(directory):
    """``{relative path: bytes}`` of the outputs: logs, Slurm's q/ files and the timed summary left out."""
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*"))
            if p.is_file() and "log" not in p.parts and p.name != "summary.json"}


def test_gmm_align(slurm, tones, tmp_path):  # noqa: F811
    root, cuts = tones
    common = ["align", "--model", str(root / "gmm" / "tri"), "--data", str(cuts), "--lang", str(root / "lang"),
              "--nj", "2"]
    assert gmm_main([*common, "--out", str(tmp_path / "default")]) == 0
    assert gmm_main([*common, "--out", str(tmp_path / "slurm"), "--cmd", "blasr-slurm --mem 500M"]) == 0
    default = contents(tmp_path / "default")
    assert "ali.1.gz" in default and contents(tmp_path / "slurm") == default
    summaries = [json.loads((tmp_path / d / "summary.json").read_text()) for d in ("default", "slurm")]
    for summary in summaries:
        del summary["seconds"]
    assert summaries[0] == summaries[1] and summaries[0]["alignment"].startswith("aligned 10 of 10")
    for job in (1, 2):  # each job ran as a task of one array, logged beside the others
        log = (tmp_path / "slurm" / "log" / f"align.{job}.log").read_text().splitlines()
        assert f"--job {job} --nj 2" in log[0] and log[-1].startswith("# Ended (code 0)")
    assert sorted(p.name for p in (tmp_path / "slurm" / "log" / "q").iterdir()) == ["align.1.out", "align.2.out",
                                                                                   "align.sh"]
