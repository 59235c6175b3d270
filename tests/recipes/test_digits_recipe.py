"""The digits recipe end to end, reduced (60 training utterances, one epoch): every stage runs and scores."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from blasr.decode import main as decode_main
from blasr.gmm import main as gmm_main
from blasr.kaldi.formats.io import read_int_vectors

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "digits" / "run.sh"
BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "contention.py"


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (local/install_espeak.sh)")
def test_digits_recipe_smoke(tmp_path):
    data, exp = tmp_path / "data", tmp_path / "exp"
    # the held-out test conditions: test_other needs flite (local/install_flite.sh), test_tel only the test set
    tests = ["test", "test_other", "test_tel"] if shutil.which("flite") else ["test", "test_tel"]
    command = ["bash", str(RECIPE), "--data", str(data), "--exp", str(exp), "--num-train", "60", "--num-dev", "10",
               "--num-test", "12", "--num-leaves", "40", "--total-gauss", "200", "--epochs", "1",
               "--archs", "bl_resnet22_a2b3", "--extra-tests", " ".join(tests[1:])]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]

    # stage 0: the split is by voice
    speakers = {part: {line.split()[1] for line in (data / "corpus" / part / "utt2spk").read_text().splitlines()}
                for part in ("train", "dev", "test")}
    assert not speakers["train"] & speakers["test"] and not speakers["train"] & speakers["dev"]
    # the extra test sets hear the 12 test utterances (same words) another way: flite's voices, 8 kHz
    test_text = (data / "corpus" / "test" / "text").read_text()
    assert (data / "corpus" / "test_tel" / "text").read_text() == test_text
    if "test_other" in tests:
        other = [line.split(maxsplit=1) for line in (data / "corpus" / "test_other" / "text").read_text().splitlines()]
        by_index = {utt.rsplit("-", 1)[1]: words for utt, words in other}
        assert by_index == {line.split(maxsplit=1)[0].rsplit("-", 1)[1]: line.split(maxsplit=1)[1]
                            for line in test_text.splitlines()}
        assert all(utt.startswith("flite_") for utt, _ in other)
    # stage 2: a tree of at most the requested size (as Kaldi's build-tree, leaves merged back after splitting
    # and rounded down to a multiple of 8), every training utterance aligned and given targets
    num_pdfs = int((exp / "gmm" / "tri" / "graph" / "num_pdfs").read_text())
    assert 8 <= num_pdfs <= 40 and num_pdfs % 8 == 0
    assert (data / "targets" / "train" / "num_pdfs").read_text().strip() == str(num_pdfs)
    assert "kept 60, skipped 0" in done.stderr  # the targets' summary, logged
    # stages 3-5: a model, Kaldi archives, and one table with a WER per system and set
    assert (exp / "bl_resnet22_a2b3" / "final.pt").is_file()
    assert (exp / "bl_resnet22_a2b3" / "loglikes_test" / "loglikes.scp").is_file()
    table = (exp / "results.md").read_text().splitlines()
    assert table[0] == "| system | params | MACs/frame | dev WER % | " + " | ".join(f"{t} WER %" for t in tests) + " |"
    rows = {line.split("|")[1].strip(): re.findall(r"([0-9.]+) \(\d+/(\d+)\)", line) for line in table[2:]}
    assert sorted(rows) == ["GMM triphone", "bl_resnet22_a2b3"]
    # a WER for every set, each scored on the test set's words (the extra sets say the same digit strings)
    words = [int(n) for _, n in rows["GMM triphone"]]
    assert len(words) == 1 + len(tests) and words[2:] == [words[1]] * (len(tests) - 1)
    assert all(len(r) == len(words) for r in rows.values())
    for system in ("gmm/tri", "bl_resnet22_a2b3"):  # every test set decoded with the setting chosen on dev
        assert all((exp / system / f"decode_{t}" / "wer").is_file() for t in tests)
        chosen = re.findall(rf"LM weight \S+, penalty \S+ from {re.escape(str(exp / system / 'decode_dev'))}\n",
                            done.stdout + done.stderr)
        assert len(chosen) == len(tests) and len(set(chosen)) == 1, chosen
    rows = {name: [wer for wer, _ in r] for name, r in rows.items()}
    gmm_test, bl_test = float(rows["GMM triphone"][1]), float(rows["bl_resnet22_a2b3"][1])
    # loose bounds: 60 utterances and one epoch only prove that the pipeline works
    assert gmm_test < 30.0, table
    assert bl_test < 100.0, table

    # realignment from a score matrix (align-compiled-mapped) reproduces the GMM's own alignment of dev
    # when the matrix holds that GMM's log-likelihoods (stage 2's compute-likes)
    realigned = exp / "gmm" / "tri_ali_dev_mapped"
    assert gmm_main(["align", "--model", str(exp / "gmm" / "tri"), "--lang", str(data / "lang"),
                     "--data", str(data / "fbank" / "dev" / "cuts.jsonl.gz"), "--out", str(realigned),
                     "--loglikes", f"scp:{exp / 'gmm' / 'tri' / 'loglikes_dev' / 'loglikes.scp'}"]) == 0
    gmm_ali = read_int_vectors(exp / "gmm" / "tri_ali_dev" / "ali.1.gz")  # aligned with --nj 2 (two processes)
    one_job = exp / "gmm" / "tri_ali_dev_nj1"
    assert gmm_main(["align", "--model", str(exp / "gmm" / "tri"), "--lang", str(data / "lang"),
                     "--data", str(data / "fbank" / "dev" / "cuts.jsonl.gz"), "--out", str(one_job), "--nj", "1"]) == 0
    serial = read_int_vectors(one_job / "ali.1.gz")
    assert list(serial) == list(gmm_ali) and all(np.array_equal(serial[u], gmm_ali[u]) for u in serial)
    mapped = read_int_vectors(realigned / "ali.1.gz")
    assert mapped.keys() == gmm_ali.keys() and len(mapped) == 10
    same = sum(int(np.sum(mapped[u] == gmm_ali[u])) for u in mapped)
    assert same / sum(len(a) for a in gmm_ali.values()) > 0.99

    # decoding straight from the network (no archive), in two processes: the words of stage 5's test decoding
    bl, tri = exp / "bl_resnet22_a2b3", exp / "gmm" / "tri"
    assert decode_main(["--graph", str(tri / "graph"), "--model", str(tri / "final.mdl"),
                        "--nnet", str(bl / "final.pt"), "--data", str(data / "fbank" / "test" / "cuts.jsonl.gz"),
                        "--out", str(bl / "decode_test_nnet"), "--setting-from", str(bl / "decode_dev"),
                        "--nj", "2"]) == 0
    assert (bl / "decode_test_nnet" / "text").read_text() == (bl / "decode_test" / "text").read_text()

    # stage 6: a system directory per system; transcribing the test audio through it gives stage 5's words
    # (from the audio, without the stored features' lilcom rounding: one word may differ on a near tie)
    for system in ("gmm/tri", "bl_resnet22_a2b3"):
        assert (exp / system / "system" / "system.json").is_file() and (exp / system / "system" / "README.md").is_file()
    test_set = data / "corpus" / "test"
    done = subprocess.run([sys.executable, "-m", "blasr.transcribe", str(bl / "system"),
                           str(test_set / "cuts.jsonl.gz"), "--text", str(test_set / "text")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    transcribed = dict(line.split(maxsplit=1) if " " in line else (line, "") for line in done.stdout.splitlines())
    decoded = dict(line.split(maxsplit=1) if " " in line else (line, "")
                   for line in (bl / "decode_test" / "text").read_text().splitlines())
    assert transcribed.keys() == decoded.keys() and len(decoded) == 12
    assert sum(transcribed[u] != decoded[u] for u in decoded) <= 1, (transcribed, decoded)

    # the contention benchmark's CI-sized run on this recipe's data: training, export and decoding, idle and
    # with a competing process, the threads left to follow the load (BLASR_THREADS unset)
    env = {k: v for k, v in os.environ.items() if k != "BLASR_THREADS"}
    report = tmp_path / "contention.json"
    done = subprocess.run([sys.executable, str(BENCHMARK), "--data", str(data), "--exp", str(exp), "--runs", "1",
                           "--train-steps", "4", "--json", str(report)], capture_output=True, text=True,
                          timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(report.read_text())["results"]
    assert set(results) == {"train", "export", "decode"}
    assert all(len(rates[c]) == 1 and rates[c][0] > 0 for rates in results.values() for c in ("idle", "loaded"))
    assert "| train |" in done.stdout and "| decode |" in done.stdout
