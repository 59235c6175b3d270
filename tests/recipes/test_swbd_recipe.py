"""recipes/swbd/run.sh end to end on a tiny fake corpus in the LDC layouts (tests/data/fake_swbd.py).

Stages 0-1 run once (module fixture, features through ``--cmd blasr-run``); stages 2-5 then run with
alignments imported from a fake Kaldi ``tri4_ali_nodup`` (ids one centisecond off for every third utterance,
two jobs, foreign utterances; export and decoding through ``--cmd blasr-run``, training through
``--train-cmd blasr-run``) and, marked slow, in the default processes, with alignments from blasr's own GMM
and decoding straight from the network (``--store-loglikes false``). Tiny settings: 40 tree leaves at most, the
debug training config (1/16 width, 4 steps), prior scales 0.5 and 1.0, LM weights 5..9.
"""

import json
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from lhotse import CutSet

from blasr.kaldi.formats.tree import read_tree
from tests.data.fake_swbd import make_fake_corpus, make_kaldi_alignments

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "swbd" / "run.sh"
ARCH = "bl_resnet22_a2b3"
TINY = ["--nj", "2", "--train-dev-size", "6", "--max-duplicates", "2", "--num-leaves", "40",
        "--total-gauss", "200", "--mono-utterances", "30", "--mono-iters", "10", "--tri-iters", "10",
        "--train-config", "conf/debug.yaml", "--ngpu", "0", "--prior-scales", "0.5 1.0", "--lm-weights", "5:9",
        "--archs", ARCH]
WER = re.compile(r"^%WER ([0-9.]+) \[ (\d+) / (\d+),")


def run(arguments, timeout=600):
    done = subprocess.run(["bash", str(RECIPE), *map(str, arguments)], capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, done.stderr[-4000:]
    return done


def python(*arguments):
    done = subprocess.run([sys.executable, *map(str, arguments)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """The fake corpus, and the recipe's stages 0 (data) and 1 (features) on it."""
    root = tmp_path_factory.mktemp("swbd_recipe")
    corpus = make_fake_corpus(root / "ldc")
    data = root / "data"
    sets = ["--data", data, "--swbd-dir", corpus.swbd_dir, "--swbd-transcripts", corpus.swbd_transcripts,
            "--eval2000-dir", corpus.eval2000_dir, "--eval2000-transcripts", corpus.eval2000_transcripts,
            "--rt03-dir", corpus.rt03_dir, "--arpa", corpus.arpa]
    done = run([*sets, *TINY, "--exp", root / "exp_unused", "--stop-stage", 1, "--cmd", "blasr-run"])
    return SimpleNamespace(root=root, corpus=corpus, data=data, options=[*sets, *TINY], log=done.stderr)


def wer_line(path):
    match = WER.match(path.read_text())
    assert match, path.read_text()
    return float(match.group(1)), int(match.group(2)), int(match.group(3))


def check_job_logs(directory, program, num_jobs=2):
    """--cmd ran the program as num_jobs launcher jobs, each logged in Kaldi's directory/log/PROGRAM.JOB.log."""
    for job in range(1, num_jobs + 1):
        log = (directory / "log" / f"{program}.{job}.log").read_text().splitlines()
        assert f"--out {directory} " in log[0] and f"--job {job} --nj {num_jobs}" in log[0], log[0]
        assert log[-1].startswith("# Ended (code 0)"), log[-3:]
    assert not (directory / "log" / f"{program}.{num_jobs + 1}.log").exists()


def check_data_stages(prepared):
    corpus_dir, fbank = prepared.data / "corpus", prepared.data / "fbank"
    for name in ("stage 0: data preparation", "stage 1: 64-bin log-mel"):
        assert name in prepared.log
    cuts = {part: CutSet.from_file(fbank / part / "cuts.jsonl.gz").to_eager()
            for part in ("train_nodup", "train_dev", "rt03", "eval2000")}
    assert [len(cuts[p]) for p in ("train_dev", "rt03", "eval2000")] == [6, 4, 8]
    assert 6 < len(cuts["train_nodup"]) < 26  # 26 utterances after train_dev, some "uh-huh"s removed
    for part, part_cuts in cuts.items():
        for cut in part_cuts:
            assert re.fullmatch(r"(sw0\d{4}|sw_\d{4,5}|en_\d{4})-[AB]_\d{6}-\d{6}", cut.id), cut.id
            assert cut.sampling_rate == 8000 and cut.channel == "AB".index(cut.id.split("_")[-2][-1])
            # Kaldi's frame count (snip_edges): 1 + (samples - 200) // 80 at 8 kHz
            samples = round(cut.duration * 8000)
            assert cut.features.num_frames == 1 + (samples - 200) // 80 and cut.features.num_features == 64
    assert {c.recording_id[:3] for c in cuts["eval2000"]} == {"sw_", "en_"}
    for part in cuts:
        check_job_logs(fbank / part, "features")
    assert (corpus_dir / "eval2000" / "stm").is_file() and (corpus_dir / "dict" / "lexicon.txt").is_file()
    return cuts


def check_decoding_stages(exp, done, stored=True, launched=False):
    """Stages 3-5's outputs; launched: stages 4-5 ran with --cmd blasr-run and stage 3 with --train-cmd blasr-run."""
    model = exp / ARCH
    assert (model / "final.pt").is_file() and (model / "train.log").is_file()
    assert (model / "log" / "train.log").is_file() == launched
    if launched:  # the training launcher's own log, Kaldi's exp/ARCH/log/train.log
        log = (model / "log" / "train.log").read_text().splitlines()
        assert log[0].startswith("# python -m blasr.train --arch " + ARCH) and log[-1].startswith("# Ended (code 0)")
        for name in ("loglikes_rt03_ps0.5", "loglikes_rt03_ps1.0", "loglikes_eval2000"):
            check_job_logs(model / name, "export")
            assert sorted(p.name for p in (model / name).glob("loglikes.*.ark")) == ["loglikes.1.ark", "loglikes.2.ark"]
        for name in ("decode_rt03_ps0.5", "decode_rt03_ps1.0", "decode_eval2000"):
            check_job_logs(model / name, "decode")
    else:  # no launcher ran: job logs, where --nj wrote them, are blasr's own (no run.pl header line)
        assert not any(p.read_text().startswith("# ") for p in model.glob("*/log/*.log"))
    # stage 4: one tune-set decoding per prior scale, the better one chosen, test sets at that scale;
    # the network's scores exported as archives (stored) or computed while decoding (--store-loglikes false)
    scale = (model / "prior_scale").read_text().strip()
    assert scale in ("0.5", "1.0")
    assert (model / "decode_rt03").resolve() == (model / f"decode_rt03_ps{scale}").resolve()
    for ps in ("0.5", "1.0"):
        assert (model / f"loglikes_rt03_ps{ps}" / "loglikes.scp").is_file() == stored
        assert (model / f"decode_rt03_ps{ps}" / "best_wer").is_file()
    if stored:
        export = json.loads((model / "loglikes_eval2000" / "export.json").read_text())
        assert float(export["options"]["prior_scale"]) == float(scale)
    else:
        assert not list(model.glob("loglikes_*"))
    # stage 5: eval2000 decoded with the tune set's LM weight, scored per half; reference words are fixed
    # (optional words and hesitations can only be free deletions: the hypothesis filter removes uh / um)
    decode = model / "decode_eval2000"
    assert len((decode / "text").read_text().splitlines()) == 8 and (decode / "failed").read_text() == ""
    swbd, callhome, total = (wer_line(decode / name) for name in ("wer_swbd", "wer_callhome", "wer"))
    assert (swbd[2], callhome[2], total[2]) == (24, 23, 47)
    assert total[1] == swbd[1] + callhome[1] and 0 <= total[0] <= 200
    summary = json.loads((decode / "hub5.json").read_text())
    assert summary["average"] == pytest.approx((swbd[0] + callhome[0]) / 2, abs=0.01)
    assert "%WER" in (model / "decode_rt03" / "wer").read_text()
    table = (exp / "results.md").read_text().splitlines()
    assert table[0] == "| system | GFLOPs | params (1e7) | WER avg | Hub5 SWB | Hub5 CH | total | rt03 |"
    row = [cell.strip() for cell in table[2].split("|")[1:-1]]
    assert row[0] == ARCH and float(row[4]) == swbd[0] and float(row[5]) == callhome[0]
    for stage in range(2, 6):
        assert f"stage {stage}:" in done.stderr


def test_swbd_recipe_with_kaldi_alignments(prepared):
    check_data_stages(prepared)
    root, data = prepared.root, prepared.data
    # a "Kaldi experiment": its data/lang, a tri system and alignments of train_nodup and train_dev, in
    # Kaldi's alignment-directory format with Kaldi-style ids (made with blasr's GMM code)
    kaldi = root / "kaldi"
    python("-m", "blasr.prepare_lang", data / "corpus" / "dict", kaldi / "data" / "lang", "--oov", "<unk>")
    python("-m", "blasr.gmm", "train", "--data", data / "fbank" / "train_nodup" / "cuts.jsonl.gz", "--lang",
           kaldi / "data" / "lang", "--exp", kaldi / "gmm", "--num-leaves", 40, "--total-gauss", 200,
           "--mono-utterances", 30, "--mono-iters", 10, "--tri-iters", 10, "--map-oov")
    python("-m", "blasr.gmm", "align", "--model", kaldi / "gmm" / "tri", "--data",
           data / "fbank" / "train_dev" / "cuts.jsonl.gz", "--lang", kaldi / "data" / "lang",
           "--out", kaldi / "gmm" / "tri_ali_dev", "--map-oov")
    fake = make_kaldi_alignments([kaldi / "gmm" / "tri_ali", kaldi / "gmm" / "tri_ali_dev"],
                                 kaldi / "exp" / "tri4_ali_nodup")
    exp = root / "exp_kaldi"
    done = run([*prepared.options, "--exp", exp, "--stage", 2, "--kaldi-ali-dir", fake.ali_dir,
                "--kaldi-lang", kaldi / "data" / "lang", "--cmd", "blasr-run", "--train-cmd", "blasr-run"])

    # stage 2: every training cut joined by call, side and time; the foreign utterances counted
    nodup = [c.id for c in CutSet.from_file(data / "fbank" / "train_nodup" / "cuts.jsonl.gz")]
    report = json.loads((exp / "kaldi_ali" / "train_nodup" / "join.report.json").read_text())
    shifted = sum(fake.renamed[u] != u for u in nodup)
    assert (report["joined"], report["cuts_without_alignment"]) == (len(nodup), 0)
    assert (report["same_id"], report["within_tolerance"]) == (len(nodup) - shifted, shifted) and shifted > 0
    unmatched = dict(report["unmatched"])
    assert set(fake.unmatched) <= set(unmatched) and len(unmatched) == report["kaldi_utterances"] - len(nodup)
    assert f"joined {len(nodup)} Kaldi utterances to cuts" in done.stdout
    targets = CutSet.from_file(exp / "targets" / "train_nodup" / "cuts.jsonl.gz")
    assert sorted(c.id for c in targets) == sorted(nodup)
    from blasr.data.targets import load_targets
    from blasr.kaldi.formats.experiment import load_kaldi_experiment

    pdfs = load_kaldi_experiment(fake.ali_dir, load_gmm=False).pdf_alignments
    moved = next(c for c in targets if fake.renamed[c.id] != c.id)
    assert np.array_equal(load_targets(moved), pdfs[fake.renamed[moved.id]])  # the shifted id's targets
    assert len(CutSet.from_file(exp / "targets" / "train_dev" / "cuts.jsonl.gz")) == 6
    # the Kaldi tree's class count travels with the targets (at most the 40 leaves asked for: build-tree merges)
    num_pdfs = read_tree(kaldi / "gmm" / "tri" / "tree").num_pdfs
    assert num_pdfs <= 40
    for part in ("train_nodup", "train_dev"):
        assert (exp / "targets" / part / "num_pdfs").read_text().strip() == str(num_pdfs)
    assert (exp / "graph" / "HCLG.fst").is_file() and (data / "lang_test" / "G.fst").is_file()
    assert not (kaldi / "data" / "lang" / "G.fst").exists()  # the imported lang is left as it was
    check_decoding_stages(exp, done, launched=True)
    assert "stage 3: train bl_resnet22_a2b3 (python -m blasr.train through blasr-run, log " in done.stderr


@pytest.mark.slow
def test_swbd_recipe_with_blasr_alignments(prepared):
    exp = prepared.root / "exp_blasr"
    done = run([*prepared.options, "--exp", exp, "--stage", 2, "--store-loglikes", "false"])
    assert "aligned" in done.stdout and "stage 2: lang, GMM mono -> tri (40 leaves)" in done.stderr
    num_pdfs = int((exp / "graph" / "num_pdfs").read_text())  # at most the 40 asked for: build-tree merges
    # a multiple of 8 unless the merge within roots cannot get there (Kaldi then warns and keeps the count)
    assert 8 <= num_pdfs <= 40
    assert (exp / "targets" / "train_nodup" / "num_pdfs").read_text().strip() == str(num_pdfs)
    nodup = CutSet.from_file(prepared.data / "fbank" / "train_nodup" / "cuts.jsonl.gz")
    report = json.loads((exp / "targets" / "train_nodup" / "targets.report.json").read_text())
    assert (report["kept"], report["skipped"]) == (len(nodup), [])
    check_decoding_stages(exp, done, stored=False)
