"""Every parallel program with ``--cmd blasr-run`` (its jobs re-run it with ``--job JOB --nj N`` through the
launcher) writes what it writes without ``--cmd``."""

from __future__ import annotations

import gzip
import json
from dataclasses import replace

import kaldiio
import numpy as np
import pytest
import torch
from lhotse import CutSet

from blasr import create_model
from blasr.acoustic.model_file import feature_settings, model_info, save_model_file
from blasr.acoustic.priors import analyze_counts, count_targets
from blasr.compute_features import main as compute_features_main
from blasr.decode import main as decode_main
from blasr.export import main as export_main
from blasr.features import FbankConfig, compute_features, load_static, open_cuts
from blasr.gmm import main as gmm_main
from blasr.kaldi.decoding.graph import make_graph
from blasr.kaldi.formats.lattice import read_lattices
from blasr.kaldi.formats.model import write_model
from blasr.kaldi.lang.prepare import prepare_lang
from blasr.kaldi.scoring.wer import write_text
from tests.acoustic.conftest import NUM_CLASSES, corpus, single_process  # noqa: F401
from tests.conftest import randomize_batchnorm
from tests.data.test_perturb import tone_corpus, tone_lang
from tests.kaldi.tiny_asr import ARPA, LEXICON, PRONUNCIATIONS, SILENCE, gmm_loglikes, monophone_model, separated_gmms

SENTENCES = {"utt0": ["yes", "no"], "utt1": ["yeah", "yes", "no"], "utt2": ["no", "yes"], "utt3": ["yes"],
             "utt4": ["no", "no", "yeah"]}


@pytest.fixture(scope="module")
def tones(tmp_path_factory):
    """A tiny tone corpus with features, its lang and a GMM system trained in few iterations."""
    root = tmp_path_factory.mktemp("tones")
    tone_lang(root)
    cuts, _ = compute_features(tone_corpus(root / "audio", 10, 0), root / "fbank", FbankConfig(), progress=False)
    assert gmm_main(["train", "--data", str(cuts), "--lang", str(root / "lang"), "--exp", str(root / "gmm"),
                     "--num-leaves", "12", "--total-gauss", "30", "--mono-gauss", "20", "--mono-utterances", "10",
                     "--mono-iters", "3", "--tri-iters", "3"]) == 0
    return root, cuts


def _files(directory):
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*"))
            if p.is_file() and "log" not in p.parts and p.name != "summary.json"}


@pytest.mark.parametrize("num_jobs", [2, 3])
def test_gmm_align(tones, tmp_path, num_jobs):
    root, cuts = tones
    common = ["align", "--model", str(root / "gmm" / "tri"), "--data", str(cuts), "--lang", str(root / "lang"),
              "--nj", str(num_jobs)]
    assert gmm_main([*common, "--out", str(tmp_path / "default")]) == 0
    assert gmm_main([*common, "--out", str(tmp_path / "cmd"), "--cmd", "blasr-run"]) == 0
    default, launched = _files(tmp_path / "default"), _files(tmp_path / "cmd")
    assert "ali.1.gz" in default and launched == default  # no split/ left behind either
    summaries = [json.loads((tmp_path / d / "summary.json").read_text()) for d in ("default", "cmd")]
    for summary in summaries:
        del summary["seconds"]
    assert summaries[0] == summaries[1] and summaries[0]["alignment"].startswith("aligned 10 of 10")
    for job in range(1, num_jobs + 1):
        log = (tmp_path / "cmd" / "log" / f"align.{job}.log").read_text().splitlines()
        assert f"--job {job} --nj {num_jobs}" in log[0] and log[-1].startswith("# Ended (code 0)")


def test_compute_features(tmp_path):
    """The jobs' archives concatenated with shifted keys: the same archive and manifest, byte for byte."""
    source = tmp_path / "cuts.jsonl.gz"
    tone_corpus(tmp_path / "audio", 5, 1).to_file(source)
    common = ["--cuts", str(source), "--sample-rate", "16000", "--nj", "2"]
    assert compute_features_main([*common, "--out", str(tmp_path / "default")]) == 0
    assert compute_features_main([*common, "--out", str(tmp_path / "cmd"), "--cmd", "blasr-run"]) == 0
    default, launched = tmp_path / "default", tmp_path / "cmd"
    assert (launched / "feats.lca").read_bytes() == (default / "feats.lca").read_bytes()
    manifests = [gzip.decompress((d / "cuts.jsonl.gz").read_bytes()).decode() for d in (default, launched)]
    assert manifests[1] == manifests[0].replace(str(default.resolve()), str(launched.resolve()))
    cuts = list(CutSet.from_file(launched / "cuts.jsonl.gz"))
    assert [c.id for c in cuts] == [f"tone{i:02d}" for i in range(5)]
    for cut, expected in zip(cuts, CutSet.from_file(default / "cuts.jsonl.gz")):
        assert (load_static(cut) == load_static(expected)).all()
    reports = [json.loads((d / "features.report.json").read_text()) for d in (default, launched)]
    assert reports[1]["kept"] == reports[0]["kept"] == 5
    assert reports[1]["stats"]["frames"] == reports[0]["stats"]["frames"]
    assert not (launched / "split2").exists() and (launched / ".completed").is_file()
    for job in (1, 2):
        log = (launched / "log" / f"features.{job}.log").read_text().splitlines()
        assert f"--job {job} --nj 2" in log[0] and log[-1].startswith("# Ended (code 0)")


def test_export(corpus, tmp_path, monkeypatch, capsys):  # noqa: F811
    """A per-speaker normalised model over two speakers who each span both jobs' shares: the driver's
    statistics over all the data reach the jobs, and one scp indexes both jobs' archives in order."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    cuts = list(open_cuts(corpus["train"]))
    data = tmp_path / "cuts.jsonl.gz"
    CutSet.from_cuts([replace(c, supervisions=[replace(s, speaker=f"spk{i % 2}") for s in c.supervisions])
                      for i, c in enumerate(cuts)]).to_file(data)
    torch.manual_seed(5)
    model = create_model("bl_resnet22_a2b3", width=0.25, num_classes=NUM_CLASSES)
    randomize_batchnorm(model, torch.Generator().manual_seed(6))
    features = feature_settings(cuts[0], "speaker", True, None)
    info = model_info("bl_resnet22_a2b3", {"num_classes": NUM_CLASSES, "width": 0.25}, model,
                      analyze_counts(count_targets(corpus["train"])), features)
    model_file = save_model_file(tmp_path / "final.pt", model.state_dict(), info)
    common = ["--model", str(model_file), "--data", str(data), "--device", "cpu"]
    export_main([*common, "--out", str(tmp_path / "default")])
    export_main([*common, "--out", str(tmp_path / "cmd"), "--cmd", "blasr-run", "--nj", "2"])
    default = kaldiio.load_scp(str(tmp_path / "default" / "loglikes.scp"))
    launched = kaldiio.load_scp(str(tmp_path / "cmd" / "loglikes.scp"))
    assert list(launched) == list(default) == [c.id for c in cuts]
    for key in default:
        np.testing.assert_allclose(launched[key], default[key], rtol=1e-5, atol=1e-5)
    arks = {line.split()[1].rsplit(":", 1)[0] for line in (tmp_path / "cmd" / "loglikes.scp").read_text().splitlines()}
    assert arks == {str((tmp_path / "cmd" / f"loglikes.{job}.ark").resolve()) for job in (1, 2)}
    report = json.loads((tmp_path / "cmd" / "export.report.json").read_text())
    assert report["kept"] == 10 and report["skipped"] == [] and report["stats"]["frames"] == 1250
    settings = json.loads((tmp_path / "cmd" / "export.json").read_text())
    assert settings["written"] == 10 and settings["jobs"] == 2 and settings["normalization"] == "speaker"
    assert not (tmp_path / "cmd" / "split2").exists()
    for job in (1, 2):
        log = (tmp_path / "cmd" / "log" / f"export.{job}.log").read_text().splitlines()
        assert "--cmvn" in log[0] and log[-1].startswith("# Ended (code 0)")
    capsys.readouterr()
    assert export_main([*common, "--out", str(tmp_path / "x"), "--cmd", "blasr-run", "--wspecifier", "ark:-"]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "cannot write to --wspecifier" in error and not (tmp_path / "x").exists()


@pytest.fixture(scope="module")
def decoding_inputs(tmp_path_factory):
    """A word-position lang (so decoding writes a ctm), its graph, final.mdl, loglikes.scp of 5 utterances
    synthesised from the GMMs along their sentences' phones, and a reference text with one word wrong."""
    root = tmp_path_factory.mktemp("decode")
    (root / "lm.arpa").write_text(ARPA)
    lang = prepare_lang(LEXICON, root / "lang", silence_phones=SILENCE, oov="<unk>", arpa=root / "lm.arpa",
                        position_dependent_phones=True)
    tree, model = monophone_model(lang)
    graph = make_graph(lang, tree, model, root / "graph")
    rng = np.random.default_rng(5)
    gmms = separated_gmms(model.num_pdfs, 10, rng)
    matrices = {}
    for utt, words in SENTENCES.items():
        phones = ["SIL"]
        for word in words:
            p = PRONUNCIATIONS[word]
            phones += [p[0] + "_B"] + [x + "_I" for x in p[1:-1]] + [p[-1] + "_E"]
        phones.append("SIL")
        pdfs = [tree.compute([lang.phones.id(p)], c) for p in phones
                for c in range(lang.topology.num_pdf_classes(lang.phones.id(p))) for _ in range(4)]
        means = np.stack([gmms.pdfs[p].means[0] for p in pdfs])
        matrices[utt] = gmm_loglikes(gmms, (means + rng.normal(size=means.shape) * 2).astype(np.float32))
    kaldiio.save_ark(str(root / "loglikes.ark"), matrices, scp=str(root / "loglikes.scp"))
    write_model(model, gmms, root / "final.mdl")
    write_text(dict(SENTENCES, utt2=["no", "yes", "yes"]), root / "text")
    return root, graph.graph_dir


@pytest.mark.parametrize("extra", [[], ["--sweep", "9:11", "--lattices"]], ids=["one-setting", "sweep-lattices"])
def test_decode(decoding_inputs, tmp_path, extra):
    """Each job decodes its share under every setting (per-setting Kaldi text + int vectors), writes lat.J.gz;
    the driver scores: every file equals the default's, the sweep's wer_LMWT_WIP and best_wer included."""
    root, graph = decoding_inputs
    common = ["--graph", str(graph), "--model", str(root / "final.mdl"), "--loglikes", f"scp:{root / 'loglikes.scp'}",
              "--text", str(root / "text"), "--nj", "2", *extra]
    default, launched = tmp_path / "default", tmp_path / "cmd"
    assert decode_main([*common, "--out", str(default)]) == 0
    launched.mkdir()
    if "--lattices" in extra:
        (launched / "lat.7.gz").write_bytes(b"stale")  # an earlier decoding's: removed
    assert decode_main([*common, "--out", str(launched), "--cmd", "blasr-run"]) == 0
    files = [{p.name: p.read_bytes().replace(str(d).encode(), b"OUT") for p in d.iterdir() if p.is_file()}
             for d in (default, launched)]
    assert files[1] == files[0]
    assert {"text", "wer", "per_utt", "ctm", "failed"} <= files[0].keys()
    assert (default / "wer").read_text().startswith("%WER 8.33 [ 1 / 12")
    if extra:
        assert len([name for name in files[0] if name.startswith("wer_")]) == 9 and "best_wer" in files[0]
        assert [utt for j in (1, 2) for utt, _ in read_lattices(launched / f"lat.{j}.gz")] == list(SENTENCES)
    assert not (launched / "split2").exists()
    for job in (1, 2):
        log = (launched / "log" / f"decode.{job}.log").read_text().splitlines()
        assert f"--job {job} --nj 2" in log[0] and log[-1].startswith("# Ended (code 0)")
