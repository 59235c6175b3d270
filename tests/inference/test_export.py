import json
import pickle
import shlex
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import kaldiio
import numpy as np
import pytest
import torch
from lhotse import CutSet

import blasr.inference.export as export_module
from blasr import create_model
from blasr.acoustic.model_file import feature_settings, load_model_file, model_info, save_model_file
from blasr.acoustic.priors import analyze_counts, count_targets, write_counts
from blasr.decode import main as decode_main
from blasr.features import load_static, model_input, open_cuts, replicate_edges
from blasr.inference import (
    NetworkScores,
    NnetForwardOptions,
    PosteriorTransform,
    ScoreError,
    batched_dense_logits,
    dense_logits,
    export_posteriors,
)
from blasr.kaldi.formats.ark import read_matrices
from blasr.kaldi.formats.model import write_model
from blasr.kaldi.lang.prepare import prepare_lang
from tests.acoustic.conftest import NUM_CLASSES, cli_env
from tests.conftest import randomize_batchnorm
from tests.kaldi.tiny_asr import LEXICON, SILENCE, monophone_model, separated_gmms

REPO = Path(__file__).resolve().parents[2]


def nnet_forward(logits: np.ndarray, counts: np.ndarray | None, apply_log: bool, no_softmax: bool,
                 prior_scale: float = 1.0, prior_floor: float = 1e-10) -> np.ndarray:
    """Kaldi nnet1's nnet-forward arithmetic written out (nnet-forward.cc, nnet-pdf-prior.cc), in numpy."""
    out = logits.astype(np.float32)
    if not no_softmax:  # Softmax component: exp(x - max) / sum
        out = np.exp(out - out.max(axis=1, keepdims=True))
        out = (out / out.sum(axis=1, keepdims=True)).astype(np.float32)
    if apply_log:
        out = np.log(out + np.float32(1e-20))
    if counts is not None:
        rel_freq = counts.astype(np.float64) / counts.sum()
        log_priors = np.log(rel_freq + 1e-20)
        log_priors[rel_freq < prior_floor] = np.sqrt(np.finfo(np.float32).max)
        out = out + np.float32(-prior_scale) * log_priors.astype(np.float32)  # AddVecToRows(-scale, priors)
    return out


@pytest.fixture(scope="module")
def model_file(corpus, tmp_path_factory) -> Path:
    """A bL-ResNet-22 (2, 3) at width 1/4 with random weights and batch norm, saved as final.pt."""
    torch.manual_seed(5)
    model = create_model("bl_resnet22_a2b3", width=0.25, num_classes=NUM_CLASSES)
    randomize_batchnorm(model, torch.Generator().manual_seed(6))
    counts = analyze_counts(count_targets(corpus["train"]))
    features = feature_settings(next(iter(open_cuts(corpus["train"]))), "utterance", True, None)
    info = model_info("bl_resnet22_a2b3", {"num_classes": NUM_CLASSES, "width": 0.25}, model, counts, features)
    return save_model_file(tmp_path_factory.mktemp("model") / "final.pt", model.state_dict(), info)


def test_chunked_equals_whole_utterance(model_file, corpus):
    trained = load_model_file(model_file)
    cut = next(c for c in open_cuts(corpus["train"]) if c.features.num_frames == 200)
    inputs = model_input(load_static(cut))  # (3, 64, 200)
    whole = dense_logits(trained.model, inputs)
    assert whole.shape == (200, NUM_CLASSES)
    for chunk in (7, 64, 199, 500):
        # the same computation; only the kernels oneDNN picks per input length round differently
        chunked = dense_logits(trained.model, inputs, chunk_frames=chunk)
        torch.testing.assert_close(chunked, whole, rtol=1e-5, atol=1e-4, msg=f"chunks of {chunk}")
    assert torch.equal(dense_logits(trained.model, inputs, chunk_frames=500), whole)  # one chunk: the same call
    # each row is the model on that frame's own 49-frame window (edges replicated)
    padded = torch.from_numpy(replicate_edges(inputs))
    with torch.no_grad():
        for t in (0, 1, 23, 100, 199):
            window = trained.model(padded[None, :, :, t:t + 49])[0, 0]
            torch.testing.assert_close(window, whole[t], rtol=1e-5, atol=1e-4)
    short = dense_logits(trained.model, inputs[:, :, :3])  # shorter than one window: still 3 rows
    assert short.shape == (3, NUM_CLASSES)


def test_utterances_run_together_give_their_own_rows(model_file, corpus):
    trained = load_model_file(model_file)
    inputs = [model_input(load_static(c)) for c in open_cuts(corpus["train"])]
    inputs += [inputs[0][:, :, :2], inputs[1][:, :, :1]]  # shorter than a window
    assert len({x.shape[-1] for x in inputs}) > 3
    together = batched_dense_logits(trained.model, inputs)
    for x, rows in zip(inputs, together):
        # padding the shorter ones (their last frame repeated) changes none of their rows
        torch.testing.assert_close(rows, dense_logits(trained.model, x), rtol=1e-5, atol=1e-4)
    with pytest.raises(ValueError, match="eval mode"):
        batched_dense_logits(trained.model.train(), inputs)


@pytest.mark.parametrize("apply_log, no_softmax, priors, scale", [
    (True, False, True, 1.0), (True, False, True, 0.7), (False, True, True, 1.0),
    (True, False, False, 1.0), (False, False, False, 1.0), (False, True, False, 1.0)])
def test_posteriors_follow_nnet_forward(apply_log, no_softmax, priors, scale):
    rng = np.random.default_rng(0)
    logits = (rng.standard_normal((50, 6)) * 8).astype(np.float32)
    logits[0] = [80, -80, 0, 0, 0, 0]  # a posterior underflowing to 0: log gives log(1e-20)
    counts = np.array([1e6, 3.5, 20.5, 0.5, 7e4, 1e-12]) if priors else None  # the last is under the floor
    transform = PosteriorTransform(NnetForwardOptions(apply_log, no_softmax, prior_scale=scale), counts)
    got = transform(torch.from_numpy(logits)).numpy()
    expected = nnet_forward(logits, counts, apply_log, no_softmax, scale)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=2e-6)
    assert transform.kind == ("loglikes" if priors else "logits" if no_softmax else
                              "logpost" if apply_log else "post")
    if priors:
        assert transform.num_disabled == 1 and (got[:, 5] < -1e18).all()  # disabled as in nnet-forward


def test_nnet_forward_option_errors():
    with pytest.raises(ValueError, match="both --apply-log and --no-softmax"):
        NnetForwardOptions(apply_log=True, no_softmax=True)
    with pytest.raises(ValueError, match="need --apply-log or --no-softmax"):
        PosteriorTransform(NnetForwardOptions(apply_log=False), np.ones(3))
    with pytest.raises(ValueError, match="dimension mismatch: 3 class counts, 4 network outputs"):
        PosteriorTransform(NnetForwardOptions(), np.ones(3))(torch.zeros(2, 4))


def test_export_round_trip(model_file, corpus, tmp_path):
    result = export_posteriors(model_file, corpus["train"], tmp_path / "a", chunk_frames=None, progress=False)
    assert result.failed == 0 and result.ark == (tmp_path / "a" / "loglikes.ark").resolve()
    written = dict(kaldiio.load_scp(str(result.scp)))
    trained = load_model_file(model_file)
    counts = trained.class_counts
    cuts = list(open_cuts(corpus["train"]))
    assert list(written) == [c.id for c in cuts]
    expected = {}
    for cut in cuts:
        inputs = torch.from_numpy(replicate_edges(model_input(load_static(cut))))[None]
        with torch.no_grad():
            logits = trained.model(inputs)[0].numpy()
        expected[cut.id] = nnet_forward(logits, counts, True, False)
        assert written[cut.id].shape == (cut.features.num_frames, NUM_CLASSES)
        # short utterances run in batches (batched_dense_logits), and by default batch norm is folded and the
        # layout channels-last (optimize_for_inference): the kernels round differently, within the stated
        # tolerance |difference| <= 5e-4 + 1e-4 |x| (docs/training.md, Export)
        np.testing.assert_allclose(written[cut.id], expected[cut.id], rtol=1e-4, atol=5e-4)
    # the model as trained (--no-optimize): batching alone rounds less
    plain = export_posteriors(model_file, corpus["train"], tmp_path / "plain", chunk_frames=None, progress=False,
                              optimize=False)
    plain_written = dict(kaldiio.load_scp(str(plain.scp)))
    assert list(plain_written) == list(expected)
    for key, matrix in plain_written.items():
        np.testing.assert_allclose(matrix, expected[key], rtol=1e-5, atol=1e-4)
    # chunks of 50 frames: the same numbers (up to the kernels' rounding)
    chunked = export_posteriors(model_file, corpus["train"], tmp_path / "b", chunk_frames=50, progress=False)
    for key, matrix in kaldiio.load_scp(str(chunked.scp)).items():
        np.testing.assert_allclose(matrix, written[key], rtol=1e-4, atol=5e-4)
    settings = json.loads((tmp_path / "a" / "export.json").read_text())
    assert settings["kind"] == "loglikes" and settings["written"] == 10 and settings["failed"] == 0

    # another counts file and scale; log-posteriors without priors
    other = write_counts(np.array([5.5, 1.5, 2.5, 9.5]), tmp_path / "other.counts")
    options = NnetForwardOptions(prior_scale=0.5)
    scaled = export_posteriors(model_file, corpus["valid"], tmp_path / "c", options, class_frame_counts=other,
                               progress=False)
    plain = export_posteriors(model_file, corpus["valid"], tmp_path / "d", use_priors=False, progress=False)
    assert plain.ark.name == "logpost.ark"
    plain_matrices = dict(kaldiio.load_scp(str(plain.scp)))
    log_prior = np.log(np.array([5.5, 1.5, 2.5, 9.5]) / 19.0).astype(np.float32)
    for key, matrix in kaldiio.load_scp(str(scaled.scp)).items():
        np.testing.assert_allclose(matrix, plain_matrices[key] - np.float32(0.5) * log_prior, rtol=1e-6, atol=1e-6)


def broken_manifest(corpus, path: Path) -> Path:
    """The validation cuts plus: one with a truncated feature archive, one without features, one duplicate."""
    cuts = list(open_cuts(corpus["valid"]))
    archive = Path(cuts[1].features.storage_path)
    truncated = path.parent / "truncated.lca"
    truncated.write_bytes(archive.read_bytes()[:40])
    bad = replace(cuts[1], id="truncated", features=replace(cuts[1].features, storage_path=str(truncated)))
    bare = replace(cuts[2], id="nofeatures", features=None)
    CutSet.from_cuts(cuts + [bad, bare]).to_file(path)
    return path


def test_failures_are_reported_and_the_command_fails(model_file, corpus, tmp_path):
    manifest = broken_manifest(corpus, tmp_path / "broken.jsonl.gz")
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "blasr.export", "--model", str(model_file), "--data",
                           str(manifest), "--out", str(out), "--no-priors", "--no-apply-log", "--name", "post"],
                          cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "2 of 5 utterances failed" in done.stderr
    report = json.loads((out / "export.report.json").read_text())
    reasons = dict(report["skipped"])
    assert reasons.keys() == {"truncated", "nofeatures"} and report["kept"] == 3
    assert reasons["truncated"].startswith("unreadable features:")
    assert reasons["nofeatures"].startswith("no features:")
    written = dict(kaldiio.load_scp(str(out / "post.scp")))  # the good ones are there, complete
    assert sorted(written) == sorted(c.id for c in open_cuts(corpus["valid"]))
    assert all(np.allclose(m.sum(axis=1), 1, atol=1e-5) for m in written.values())  # softmax posteriors


def test_network_scores_are_the_export_computed_on_access(model_file, corpus, tmp_path):
    exported = export_posteriors(model_file, corpus["valid"], tmp_path / "x", progress=False)
    written = dict(kaldiio.load_scp(str(exported.scp)))
    scores = NetworkScores(model_file, corpus["valid"], device="cpu")
    assert list(scores) == list(written) and len(scores) == 3
    sent = pickle.dumps(scores)  # what a decoding process receives: the settings, not the model
    assert len(sent) < 10_000
    copy = pickle.loads(sent)
    for key in written:
        # one utterance at a time here, in batches in the export: the same numbers up to the kernels' rounding
        np.testing.assert_allclose(scores[key], written[key], rtol=1e-5, atol=1e-4)
        np.testing.assert_array_equal(copy[key], scores[key])
    # the export's one batch (3 short utterances), run again: the same numbers exactly
    batch = scores.score_batch(list(scores.cuts.values()))
    assert all(np.array_equal(m, written[key]) for m, key in zip(batch, written))
    broken = NetworkScores(model_file, broken_manifest(corpus, tmp_path / "broken.jsonl.gz"), device="cpu")
    with pytest.raises(ScoreError, match="^no features"):
        broken["nofeatures"]
    with pytest.raises(ScoreError, match="^unreadable features"):
        broken["truncated"]


def test_a_crash_leaves_no_half_written_archive(model_file, corpus, tmp_path, monkeypatch):
    out = tmp_path / "out"
    first = export_posteriors(model_file, corpus["valid"], out, progress=False)
    before = first.ark.read_bytes(), first.scp.read_text()
    calls = []

    def crashing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt  # as a kill would: nothing catches it
        return batched_dense_logits(*args, **kwargs)

    monkeypatch.setattr(export_module, "batched_dense_logits", crashing)
    with pytest.raises(KeyboardInterrupt):  # batches of at most 250 frames: the third one crashes
        export_posteriors(model_file, corpus["train"], out, progress=False, chunk_frames=250)
    assert (first.ark.read_bytes(), first.scp.read_text()) == before  # the previous export is untouched
    assert sorted(p.name for p in out.iterdir()) == ["export.json", "export.report.json", "loglikes.ark",
                                                     "loglikes.scp"]  # and no temporary files remain


def test_a_training_checkpoint_exports_like_final(model_file, tmp_path):
    trained = load_model_file(model_file)
    state = torch.load(model_file, weights_only=True)
    info = {k: v for k, v in state.items() if k not in ("format", "model")}
    checkpoint = tmp_path / "epoch_001.pt"
    torch.save({"format": "blasr.train/1", "model_info": info, "model": state["model"], "optimizer": {}}, checkpoint)
    again = load_model_file(checkpoint)
    assert again.info["arch"] == trained.info["arch"] and np.array_equal(again.class_counts, trained.class_counts)
    for name, value in trained.model.state_dict().items():
        assert torch.equal(again.model.state_dict()[name], value)


def test_decoding_with_a_network_of_another_tree_stops_before_it_starts(model_file, tmp_path, capsys):
    """A network trained on another tree's targets is a named error, found before any utterance is scored."""
    lang = prepare_lang(LEXICON, tmp_path / "lang", silence_phones=SILENCE)
    tree, transition_model = monophone_model(lang)
    assert transition_model.num_pdfs != NUM_CLASSES
    write_model(transition_model, separated_gmms(transition_model.num_pdfs, 4, np.random.default_rng(0)),
                tmp_path / "final.mdl")
    code = decode_main(["--graph", str(tmp_path / "no-graph"), "--model", str(tmp_path / "final.mdl"),
                        "--nnet", str(model_file), "--data", str(tmp_path / "no-cuts.jsonl.gz"),
                        "--out", str(tmp_path / "decode")])
    assert code == 1
    assert (f"scores {NUM_CLASSES} classes, the graph's model has {transition_model.num_pdfs} pdfs"
            in capsys.readouterr().err)
    assert not (tmp_path / "decode").exists()


def test_features_unlike_the_models_stop_the_export_at_once(model_file, corpus, tmp_path):
    cuts = list(open_cuts(corpus["valid"]))
    expected = load_model_file(model_file, "cpu").features
    other = expected["num_features"] // 2
    manifest = tmp_path / "fbank40.jsonl.gz"
    CutSet.from_cuts(replace(c, features=replace(c.features, num_features=other)) for c in cuts).to_file(manifest)
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "blasr.export", "--model", str(model_file), "--data",
                           str(manifest), "--out", str(out)],
                          cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=120)
    errors = [line for line in done.stderr.splitlines() if "error" in line.lower()]
    assert done.returncode == 1 and len(errors) == 1, done.stderr
    assert (f"{model_file} does not fit {manifest} ({cuts[0].id}: wrong features: {other} per frame, the model was "
            f"trained on {expected['num_features']}); compute the data's features as the model's: python -m "
            f"blasr.features --sample-rate {expected['sampling_rate']} --num-mel-bins {expected['num_features']}"
            ) in errors[0]
    assert not (out / "export.report.json").exists() and not list(out.glob("*.ark"))  # nothing per utterance


def test_a_rerun_removes_what_a_killed_export_left(model_file, corpus, tmp_path):
    """A kill leaves the temporary archive (a whole archive's size at Switchboard scale); the next export of
    that output removes it, and only it: other files, and other outputs' temporaries, stay."""
    out = tmp_path / "out"
    out.mkdir()
    leftovers = [".loglikes.ark.k1ll3d_x.tmp", ".loglikes.scp.k1ll3d_x.tmp"]
    kept = [".loglikes.ark.notes", "loglikes.ark.tmp", ".logpost.ark.k1ll3d_x.tmp", ".loglikes.ark.tmp"]
    for name in leftovers + kept:
        (out / name).write_bytes(b"\0" * 1000)
    export_posteriors(model_file, corpus["valid"], out, progress=False)
    assert sorted(p.name for p in out.iterdir()) == sorted(kept + ["export.json", "export.report.json",
                                                                   "loglikes.ark", "loglikes.scp"])


def test_export_into_a_pipe_as_kaldi_programs_do(model_file, corpus, tmp_path):
    """``python -m blasr.export ... --wspecifier ark:- | reader``: standard output carries only the archive
    (logs go to stderr); text archives and output commands (``ark,t:| gzip -c > x.gz``) too."""
    expected = dict(kaldiio.load_scp(str(export_posteriors(model_file, corpus["valid"], tmp_path / "files",
                                                           progress=False).scp)))
    export = [sys.executable, "-m", "blasr.export", "--model", str(model_file), "--data", str(corpus["valid"])]
    reader = [sys.executable, "-c", "import sys, numpy; from blasr.kaldi.formats.ark import read_matrices; "
              "numpy.savez(sys.argv[1], **dict(read_matrices('ark:-')))", str(tmp_path / "piped.npz")]
    done = subprocess.run(f"{shlex.join(export + ['--out', str(tmp_path / 'p'), '--wspecifier', 'ark:-'])} | "
                          f"{shlex.join(reader)}", shell=True, cwd=REPO, env=cli_env(), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "exporting" in done.stderr and "ark:-" in done.stderr  # the log went to stderr
    piped = np.load(tmp_path / "piped.npz")
    assert sorted(piped) == sorted(expected)
    for key, matrix in expected.items():
        np.testing.assert_array_equal(piped[key], matrix)
    gz = tmp_path / "loglikes.txt.gz"
    done = subprocess.run(export + ["--out", str(tmp_path / "t"), "--wspecifier", f"ark,t:| gzip -c > {gz}"],
                          cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout == "", done.stderr
    text = dict(read_matrices(f"ark:gzip -dc {gz} |"))
    assert sorted(text) == sorted(expected)
    assert all(np.allclose(text[key], matrix, rtol=1e-6, atol=1e-5) for key, matrix in expected.items())
    assert json.loads((tmp_path / "t" / "export.json").read_text())["archive"] == f"ark,t:| gzip -c > {gz}"
