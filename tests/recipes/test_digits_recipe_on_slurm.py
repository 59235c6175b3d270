"""The digits recipe with ``--cmd blasr-slurm`` on the tests' single-node Slurm (issue [6/8] #18's done-when): its
parallel stages (features, GMM training passes, alignment, export, decoding) run as Slurm job arrays and the
recipe writes what it writes with its default local processes, down to the WER table."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import kaldiio
import numpy as np
import pytest

from blasr.kaldi.formats.io import read_int_vectors

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "digits" / "run.sh"
ARCH = "bl_resnet22_a2b3"
DECODES = ["gmm/tri/decode_dev", "gmm/tri/decode_test", f"{ARCH}/decode_dev", f"{ARCH}/decode_test"]


def run_recipe(root: Path, *options: str) -> subprocess.CompletedProcess:
    command = ["bash", str(RECIPE), "--data", str(root / "data"), "--exp", str(root / "exp"), "--num-train", "40",
               "--num-dev", "8", "--num-test", "8", "--num-leaves", "40", "--total-gauss", "160", "--epochs", "1",
               "--archs", ARCH, "--extra-tests", "", "--speeds", "1.0", "--augment", "", "--nj", "2", *options]
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("BLASR_SLURM_RECIPE") != "1",
                    reason="runs the digits recipe twice (about 20 min on 2 loaded cores, beyond CI's budget): "
                    "set BLASR_SLURM_RECIPE=1")
@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (local/install_espeak.sh)")
def test_digits_recipe_through_slurm(slurm, tmp_path):
    local, cluster = tmp_path / "local", tmp_path / "slurm"
    run_recipe(local)
    run_recipe(cluster, "--cmd", "blasr-slurm --mem 1G")

    assert (cluster / "exp" / "results.md").read_text() == (local / "exp" / "results.md").read_text()
    for decode in DECODES:
        for name in ("text", "wer", "per_utt", "failed"):
            assert (cluster / "exp" / decode / name).read_bytes() == (local / "exp" / decode / name).read_bytes()
    alignments = [read_int_vectors(sorted((d / "exp" / "gmm" / "tri_ali_dev").glob("ali.*.gz"))) for d in
                  (local, cluster)]
    assert alignments[0].keys() == alignments[1].keys()
    assert all(np.array_equal(alignments[0][utt], alignments[1][utt]) for utt in alignments[0])
    for part in ("dev", "test"):
        scores = [kaldiio.load_scp(str(d / "exp" / ARCH / f"loglikes_{part}" / "loglikes.scp")) for d in
                  (local, cluster)]
        assert list(scores[0]) == list(scores[1])
        for key in scores[0]:
            np.testing.assert_allclose(scores[1][key], scores[0][key], rtol=1e-5, atol=1e-5)
        assert (cluster / "exp" / ARCH / f"loglikes_{part}" / "loglikes.2.ark").is_file()  # job 2's archive
    # every parallel stage ran as a Slurm array, each job logged in Kaldi's place
    for logs in (cluster / "data" / "fbank" / "train" / "log", cluster / "exp" / "gmm" / "tri_ali_dev" / "log",
                 cluster / "exp" / ARCH / "loglikes_test" / "log", cluster / "exp" / ARCH / "decode_dev" / "log"):
        names = sorted(p.name for p in logs.glob("*.log"))
        assert len(names) == 2 and all((logs / n).read_text().splitlines()[-1].startswith("# Ended (code 0)")
                                       for n in names), logs
        assert (logs / "q").is_dir() and any((logs / "q").glob("*.sh")), logs
