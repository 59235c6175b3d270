"""The read-speech recipe end to end, tiny (about 2 minutes of speech, one epoch): every stage runs and scores."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "readspeech" / "run.sh"


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (local/install_espeak.sh)")
def test_readspeech_recipe_smoke(tmp_path):
    data, exp = tmp_path / "data", tmp_path / "exp"
    command = ["bash", str(RECIPE), "--data", str(data), "--exp", str(exp), "--hours", "0.03", "--num-dev", "8",
               "--num-test", "8", "--mono-utterances", "100", "--mono-gauss", "300", "--num-leaves", "200",
               "--total-gauss", "400", "--lm-prune", "1e-6", "--lm-weights", "10:10", "--beam", "8",
               "--max-active", "300", "--epochs", "1", "--archs", "bl_resnet22_a2b3"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, done.stderr[-3000:]

    # stage 0: speakers and sentences of dev / test never in training; the LM text holds no dev / test sentence
    corpus = data / "corpus"
    speakers, texts = {}, {}
    for part in ("train", "dev", "test"):
        speakers[part] = {line.split()[1] for line in (corpus / part / "utt2spk").read_text().splitlines()}
        texts[part] = {line.split(maxsplit=1)[1] for line in (corpus / part / "text").read_text().splitlines()}
    held_out = texts["dev"] | texts["test"]
    assert speakers["train"].isdisjoint(speakers["dev"] | speakers["test"])
    assert texts["train"].isdisjoint(held_out) and len(texts["dev"]) == len(texts["test"]) == 8
    assert set((corpus / "lm" / "text").read_text().splitlines()).isdisjoint(held_out)
    assert len((corpus / "lm" / "vocab").read_text().split()) >= 3000  # the whole LM text's vocabulary
    # stages 2-3: an LM with its dev perplexity, G.fst, a tree of the requested size, HCLG timed
    assert (data / "lang_test" / "G.fst").is_file() and "ppl" in (data / "lm" / "report.json").read_text()
    num_pdfs = (exp / "gmm" / "tri" / "graph" / "num_pdfs").read_text().strip()
    assert 0 < int(num_pdfs) <= 200 and (data / "targets" / "train" / "num_pdfs").read_text().strip() == num_pdfs
    assert "mkgraph:" in done.stderr
    # stages 4-6: a model, Kaldi archives, and one table with a WER per system and set
    assert (exp / "bl_resnet22_a2b3" / "loglikes_test" / "loglikes.scp").is_file()
    table = (exp / "results.md").read_text().splitlines()
    assert table[0] == "| system | params | MACs/frame | dev WER % | test WER % |"
    rows = {line.split("|")[1].strip(): re.findall(r"([0-9.]+) \(\d+/\d+\)", line) for line in table[2:]}
    assert sorted(rows) == ["GMM triphone", "bl_resnet22_a2b3"]
    assert all(len(wers) == 2 for wers in rows.values()), table
