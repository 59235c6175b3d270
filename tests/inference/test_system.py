"""System directories (blasr.package), python -m blasr.transcribe and blasr.System: a tiny network and GMM system."""

import kaldi_hmm_gmm  # noqa: F401,I001  (before kaldifst: the other order deadlocks at import)
import json
import shutil

import numpy as np
import pytest
import soundfile
import torch

import blasr
from blasr import create_model
from blasr.acoustic.model_file import feature_settings, model_info, save_model_file
from blasr.acoustic.priors import analyze_counts
from blasr.features import FbankConfig, compute_features, open_cuts
from blasr.inference import NetworkScores, NnetForwardOptions
from blasr.inference.audio import AudioError, find_inputs, mono_at_rate
from blasr.inference.system import System, SystemDirError, package_system
from blasr.kaldi.decoding.decode import DecodeOptions
from blasr.kaldi.decoding.decode_dir import decode_and_score
from blasr.kaldi.decoding.graph import make_graph
from blasr.kaldi.formats.model import write_model
from blasr.kaldi.gmm.recipe import GmmFeatureOptions
from blasr.kaldi.lang.prepare import prepare_lang
from blasr.data import cuts_from_audio_files
from blasr.package import main as package_main
from blasr.transcribe import main as transcribe_main
from tests.acoustic.conftest import SAMPLE_RATE, tone_segments
from tests.conftest import randomize_batchnorm
from tests.features.synthetic import write_wav
from tests.kaldi.tiny_asr import ARPA, LEXICON, SILENCE, monophone_model, separated_gmms


@pytest.fixture(scope="module")
def parts(corpus, tmp_path_factory):
    """A position-dependent lang and graph, its monophone final.mdl, a random bL-ResNet-22 with one output per
    pdf (final.pt) and four tone recordings at 8 kHz."""
    root = tmp_path_factory.mktemp("system")
    (root / "lm.arpa").write_text(ARPA)
    lang = prepare_lang(LEXICON, root / "lang", silence_phones=SILENCE, oov="<unk>", arpa=root / "lm.arpa",
                        position_dependent_phones=True)
    tree, transition_model = monophone_model(lang)
    graph = make_graph(lang, tree, transition_model, root / "graph")
    rng = np.random.default_rng(0)
    write_model(transition_model, separated_gmms(transition_model.num_pdfs, 39, rng), root / "final.mdl")
    torch.manual_seed(1)
    num_pdfs = transition_model.num_pdfs
    model = create_model("bl_resnet22_a2b3", width=0.25, num_classes=num_pdfs)
    randomize_batchnorm(model, torch.Generator().manual_seed(2))
    features = feature_settings(next(iter(open_cuts(corpus["train"]))), "utterance", True, None)
    counts = analyze_counts(rng.integers(1, 100, num_pdfs))
    training = dict(epochs=3, global_step=30, valid_frame_acc=81.234, data="data/train/cuts.jsonl.gz", data_cuts=10,
                    data_frames=1250, target_frames=3750)  # as the trainer describes its run
    info = model_info("bl_resnet22_a2b3", {"num_classes": num_pdfs, "width": 0.25}, model, counts, features,
                      training)
    network = save_model_file(root / "exp" / "final.pt", model.state_dict(), info)
    wavs = [write_wav(root / "audio" / f"rec{i}.wav", tone_segments(n, rng), SAMPLE_RATE)
            for i, n in enumerate((120, 90, 150, 60))]
    return dict(root=root, graph=graph.graph_dir, mdl=root / "final.mdl", network=network, wavs=wavs)


@pytest.fixture(scope="module")
def system_dir(parts):
    return package_system(parts["root"] / "system", parts["graph"], network=parts["network"],
                          transition_model=parts["mdl"], lm_weight=10, word_insertion_penalty=0.5)


def test_package_writes_a_checked_directory_with_a_model_card(system_dir, parts):
    names = sorted(str(p.relative_to(system_dir)) for p in system_dir.rglob("*") if p.is_file())
    assert names == ["HCLG.fst", "README.md", "fbank.json", "final.mdl", "final.pt", "phones/align_lexicon.int",
                     "phones/word_boundary.int", "system.json", "words.txt"]
    settings = json.loads((system_dir / "system.json").read_text())
    assert (settings["kind"], settings["sample_rate"], settings["num_mel_bins"]) == ("network", 8000, 64)
    assert (settings["lm_weight"], settings["word_insertion_penalty"]) == (10.0, 0.5)
    card = (system_dir / "README.md").read_text()
    assert "bl_resnet22_a2b3" in card and "| sample rate | 8000 Hz (64 mel bins) |" in card
    assert "blasr revision" in card
    assert "| training | 3 epochs, 30 steps, validation frame accuracy 81.23 % |" in card
    assert "| training data | data/train/cuts.jsonl.gz: 10 cuts, 1,250 frames (0.00 h); 3,750 target frames seen |" \
        in card
    assert not list(system_dir.parent.glob(".system.*"))  # the staging directory is gone


def test_transcribe_equals_the_recipes_decode_path(system_dir, parts, tmp_path, capsys):
    """The program's words are those of compute_features + the network scored on the fly + blasr.decode at the
    system's LM weight and penalty (stage 4-5 of a recipe) on the same audio."""
    assert transcribe_main([str(system_dir), *map(str, parts["wavs"]), "--ctm", str(tmp_path / "ctm")]) == 0
    printed = capsys.readouterr()
    lines = printed.out.splitlines()
    assert [line.split()[0] for line in lines] == ["rec0", "rec1", "rec2", "rec3"]
    assert "transcribed 4 of 4 utterances" in printed.err and "0 failed" in printed.err

    cuts, _ = cuts_from_audio_files(parts["wavs"], SAMPLE_RATE)
    manifest, _ = compute_features(cuts, tmp_path / "fbank", FbankConfig(sample_rate=SAMPLE_RATE),
                                   tick_power=-20, progress=False)  # lilcom at 1e-6: the unquantised log-mel
    scores = NetworkScores(parts["network"], manifest, NnetForwardOptions(), device="cpu")
    result = decode_and_score(scores, parts["graph"], parts["mdl"], tmp_path / "decode",
                              options=DecodeOptions(acoustic_scale=0.1, word_insertion_penalty=0.5))
    assert (tmp_path / "decode" / "text").read_text().splitlines() == [line.rstrip() for line in lines]
    assert sum(len(h.words) for h in result.decoding.hypotheses.values()) > 0  # the comparison has words in it
    # the CTM has every word of the text, at increasing times within each recording
    ctm = [line.split() for line in (tmp_path / "ctm").read_text().splitlines()]
    assert [w for line in lines for w in line.split()[1:]] == [f[4] for f in ctm]
    for utt in ("rec0", "rec1", "rec2", "rec3"):
        starts = [float(f[2]) for f in ctm if f[0] == utt]
        assert starts == sorted(starts)


def test_python_api_any_rate_and_channels(system_dir, parts, caplog):
    system = blasr.System.load(system_dir, device="cpu")
    by_path = system.transcribe(parts["wavs"][2])
    samples, rate = soundfile.read(parts["wavs"][2], dtype="int16")
    assert rate == SAMPLE_RATE
    assert system.transcribe(samples, sample_rate=rate).words == by_path.words  # int16 samples, same words
    assert by_path.utterance == "rec2" and by_path.num_frames == 150
    duration = len(samples) / rate
    for word in by_path.words:
        assert word.word in {"yes", "yeah", "no", "know", "!SIL", "<unk>"}
        assert 0 <= word.start and word.start + word.duration <= duration + 1e-9
    # stereo of two equal channels: the same waveform after the down-mix, so the same words
    with caplog.at_level("INFO", logger="blasr"):
        stereo = system.transcribe(np.stack([samples, samples]), sample_rate=rate)
    assert stereo.words == by_path.words
    assert "2 channel(s)" in caplog.text and "down-mixed and resampled to 8000 Hz" in caplog.text
    # 44.1 kHz: resampled to 8 kHz (one log line for that rate), the frames of the same duration
    up = mono_at_rate(samples, rate, 44100)
    caplog.clear()
    with caplog.at_level("INFO", logger="blasr"):
        resampled = system.transcribe(up, sample_rate=44100)
        system.transcribe(up, sample_rate=44100)
    assert caplog.text.count("audio at 44100 Hz") == 1
    assert resampled.num_frames == by_path.num_frames
    with pytest.raises(ValueError, match="sample_rate"):
        system.transcribe(samples)


def test_down_mix_and_resampling():
    t = np.arange(8000) / 8000
    left, right = np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 1000 * t)
    np.testing.assert_allclose(mono_at_rate(np.stack([left, right]), 8000, 8000), (left + right) / 2, atol=1e-6)
    up = mono_at_rate(left, 8000, 44100)
    assert up.size == 44100  # ceil(8000 * 44100 / 8000)
    assert np.argmax(np.abs(np.fft.rfft(up))) == 440  # 1 s: bin k is k Hz
    with pytest.raises(AudioError, match="empty audio"):
        mono_at_rate(np.zeros(0, np.float32), 8000, 8000, "x")
    with pytest.raises(AudioError, match=r"not \(N, channels\)"):
        mono_at_rate(np.zeros((100, 2), np.float32), 8000, 8000, "x")


def test_bad_inputs_are_named_counted_and_the_rest_transcribed(system_dir, parts, tmp_path, capsys, caplog):
    (tmp_path / "garbage.wav").write_bytes(b"not a RIFF file at all" * 10)
    soundfile.write(tmp_path / "empty.wav", np.zeros(0, np.int16), SAMPLE_RATE)
    good = [str(parts["wavs"][0]), str(parts["wavs"][1])]
    code = transcribe_main([str(system_dir), good[0], str(tmp_path / "garbage.wav"), str(tmp_path / "empty.wav"),
                            good[1]])
    printed = capsys.readouterr()
    assert code == 1
    assert [line.split()[0] for line in printed.out.splitlines()] == ["rec0", "rec1"]
    assert "garbage.wav: unreadable audio: Error opening" in caplog.text
    assert "empty: empty audio: 0 samples" in caplog.text
    assert "transcribed 2 of 4 utterances" in printed.err and "2 failed: garbage empty" in printed.err
    assert "Traceback" not in printed.err
    assert transcribe_main([str(system_dir), str(tmp_path / "missing.wav")]) == 1
    assert "missing.wav: no such file" in capsys.readouterr().err


def test_kaldi_data_dir_wav_scp_and_scoring(system_dir, parts, tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    (data / "wav.scp").write_text("".join(f"utt{i} {w}\n" for i, w in enumerate(parts["wavs"][:2])))
    assert transcribe_main([str(system_dir), str(data)]) == 0
    hyps = capsys.readouterr().out.splitlines()
    assert [h.split()[0] for h in hyps] == ["utt0", "utt1"]
    (data / "text").write_text(hyps[0] + "\n" + "utt1 yes no yes\n")
    assert transcribe_main([str(system_dir), str(data / "wav.scp"), "--text", str(data / "text")]) == 0
    printed = capsys.readouterr()
    assert printed.out.splitlines() == hyps  # a bare wav.scp: the same utterances
    assert transcribe_main([str(system_dir), str(data / "wav.scp"), "--text", str(data / "text"), "--nj", "2"]) == 0
    two_jobs = capsys.readouterr()
    assert two_jobs.out == printed.out and two_jobs.err.splitlines()[-1] == printed.err.splitlines()[-1]
    words = len(hyps[0].split()) - 1 + 3
    assert f"/ {words}," in printed.err and "%WER" in printed.err


def test_missing_and_mismatched_pieces_are_named(system_dir, parts, tmp_path, capsys):
    broken = tmp_path / "broken"
    shutil.copytree(system_dir, broken)
    (broken / "HCLG.fst").unlink()
    with pytest.raises(SystemDirError, match=r"HCLG.fst is missing \(the decoding graph\)"):
        System.load(broken, "cpu")
    assert transcribe_main([str(broken), str(parts["wavs"][0])]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "HCLG.fst is missing" in err and "Traceback" not in err

    shutil.rmtree(broken)
    shutil.copytree(system_dir, broken)
    other = create_model("bl_resnet22_a2b3", width=0.25, num_classes=7)
    info = model_info("bl_resnet22_a2b3", {"num_classes": 7, "width": 0.25}, other, np.ones(7),
                      torch.load(system_dir / "final.pt", weights_only=True)["features"])
    save_model_file(broken / "final.pt", other.state_dict(), info)
    with pytest.raises(SystemDirError, match=r"final.pt has 7 outputs, final.mdl \d+ pdfs"):
        System.load(broken, "cpu")

    fbank = json.loads((system_dir / "fbank.json").read_text())
    (broken / "fbank.json").write_text(json.dumps({**fbank, "sample_rate": 16000}))
    with pytest.raises(SystemDirError, match="fbank.json: 16000 Hz"):
        System.load(broken, "cpu")
    with pytest.raises(SystemDirError, match="not a system directory"):
        System.load(parts["root"] / "graph", "cpu")


def test_gmm_system(parts, tmp_path, capsys):
    gmm_dir = tmp_path / "tri"
    gmm_dir.mkdir()
    shutil.copyfile(parts["mdl"], gmm_dir / "final.mdl")  # 39-dim GMMs: MFCC + deltas, the default features
    GmmFeatureOptions().save(gmm_dir)
    fbank = tmp_path / "fbank.json"
    fbank.write_text(FbankConfig(sample_rate=SAMPLE_RATE).to_json())
    out = tmp_path / "system"
    assert package_main(["--gmm", str(gmm_dir), "--graph", str(parts["graph"]), "--fbank", str(fbank),
                         "--lm-weight", "12", "--out", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    system = System.load(out)
    assert system.settings["kind"] == "gmm" and system.decoder.options.acoustic_scale == pytest.approx(1 / 12)
    transcript = system.transcribe(parts["wavs"][0])
    assert transcript.num_frames == 120 and all(w.start is not None for w in transcript.words)
    # GMM features of another kind do not fit the GMMs' dimension: named before anything is written
    GmmFeatureOptions(kind="fbank").save(gmm_dir)
    assert package_main(["--gmm", str(gmm_dir), "--graph", str(parts["graph"]), "--fbank", str(fbank),
                         "--out", str(tmp_path / "other")]) == 1
    assert "gmm_features.json makes 192-dim features" in capsys.readouterr().err
    assert not (tmp_path / "other").exists()


def test_find_inputs_refuses_duplicate_ids(parts, tmp_path):
    copy = tmp_path / "rec0.wav"
    shutil.copyfile(parts["wavs"][0], copy)
    with pytest.raises(AudioError, match="two inputs have the utterance id 'rec0'"):
        find_inputs([parts["wavs"][0], copy], SAMPLE_RATE)
    assert [i.utterance for i in find_inputs([parts["wavs"][0].parent], SAMPLE_RATE)] == ["rec0", "rec1", "rec2",
                                                                                           "rec3"]


def network_file(path, num_pdfs: int, features: dict, seed: int):
    """A random bL-ResNet-22 (2, 3) at width 1/4 with one output per pdf, saved as a network file."""
    torch.manual_seed(seed)
    model = create_model("bl_resnet22_a2b3", width=0.25, num_classes=num_pdfs)
    randomize_batchnorm(model, torch.Generator().manual_seed(seed + 1))
    counts = analyze_counts(np.random.default_rng(seed).integers(1, 100, num_pdfs))
    info = model_info("bl_resnet22_a2b3", {"num_classes": num_pdfs, "width": 0.25}, model, counts, features)
    return save_model_file(path, model.state_dict(), info)


def run(argv, capsys):
    code = transcribe_main([str(a) for a in argv])
    printed = capsys.readouterr()
    return code, printed.out, printed.err


def test_online_final_equals_offline_without_per_utterance_statistics(system_dir, parts, tmp_path, capsys):
    """A network trained without normalisation streams exactly: the final lines and word times of --online, for
    any chunk length, are the offline ones."""
    features = torch.load(system_dir / "final.pt", weights_only=True)["features"]
    num_pdfs = json.loads((system_dir / "system.json").read_text())["num_pdfs"]
    network = network_file(tmp_path / "exp" / "final.pt", num_pdfs, {**features, "normalization": "none"}, 5)
    out = package_system(tmp_path / "system", parts["graph"], network=network, transition_model=parts["mdl"],
                         lm_weight=10, word_insertion_penalty=0.5)
    wavs = list(map(str, parts["wavs"]))
    code, offline, _ = run([out, *wavs, "--ctm", tmp_path / "offline.ctm"], capsys)
    assert code == 0 and sum(len(line.split()) - 1 for line in offline.splitlines()) > 0
    for chunk in ("100", "37"):
        code, online, err = run([out, *wavs, "--online", "--chunk-ms", chunk, "--ctm", tmp_path / "online.ctm"],
                                capsys)
        assert code == 0 and online == offline, chunk
        assert (tmp_path / "online.ctm").read_text() == (tmp_path / "offline.ctm").read_text()
        assert f"online, {chunk} ms chunks: compute per chunk median" in err and "real-time factor" in err


def test_online_with_per_utterance_statistics(system_dir, parts, corpus, tmp_path, capsys):
    """Per-utterance CMVN cannot stream: refused by name without global statistics; with --cmvn-from the
    training features' statistics it streams, and --final-pass makes the final lines the offline ones."""
    wavs = list(map(str, parts["wavs"]))
    code, out, err = run([system_dir, wavs[0], "--online"], capsys)
    assert code == 1 and out == "" and "--cmvn-from" in err and "Traceback" not in err
    with pytest.raises(SystemDirError, match="normalises each utterance"):
        System.load(system_dir, "cpu").stream()

    streaming = tmp_path / "system"
    assert package_main(["--nnet", str(parts["network"]), "--model", str(parts["mdl"]), "--graph",
                         str(parts["graph"]), "--lm-weight", "10", "--word-insertion-penalty", "0.5",
                         "--cmvn-from", str(corpus["train"]), "--out", str(streaming)]) == 0
    capsys.readouterr()
    stats = json.loads((streaming / "global_cmvn.json").read_text())
    frames = [feats.shape[0] for feats in (cut.load_features() for cut in open_cuts(corpus["train"]))]
    assert stats["count"] == sum(frames) and len(stats["sum"]) == 64
    system = System.load(streaming, "cpu")
    assert system.global_stats.count == sum(frames)

    _, offline, _ = run([system_dir, *wavs], capsys)
    code, online, err = run([streaming, *wavs, "--online", "--partial"], capsys)
    assert code == 0 and [line.split()[0] for line in online.splitlines()] == ["rec0", "rec1", "rec2", "rec3"]
    partials = [line for line in err.splitlines() if " (partial) " in line]
    assert partials and all(line.split()[0] in {"rec0", "rec1", "rec2", "rec3"} for line in partials)
    code, final_pass, err = run([streaming, *wavs, "--online", "--final-pass"], capsys)
    assert code == 0 and final_pass == offline and "final pass" in err
    # streamed by hand: the same final words as the program's stream
    samples, rate = soundfile.read(parts["wavs"][2], dtype="float32")
    stream = system.stream("rec2")
    for start in range(0, len(samples), 800):
        stream.accept_waveform(samples[start:start + 800])
    assert stream.finalize().text == online.splitlines()[2].partition(" ")[2]


@pytest.fixture(scope="module")
def plain_system(corpus, parts, tmp_path_factory):
    """A network system on a lang without position-dependent phones (no word_boundary.int)."""
    root = tmp_path_factory.mktemp("plain")
    (root / "lm.arpa").write_text(ARPA)
    lang = prepare_lang(LEXICON, root / "lang", silence_phones=SILENCE, oov="<unk>", arpa=root / "lm.arpa")
    tree, transition_model = monophone_model(lang)
    graph = make_graph(lang, tree, transition_model, root / "graph")
    write_model(transition_model, separated_gmms(transition_model.num_pdfs, 39, np.random.default_rng(0)),
                root / "final.mdl")
    features = torch.load(parts["network"], weights_only=True)["features"]
    network = network_file(root / "exp" / "final.pt", transition_model.num_pdfs, features, 7)
    (root / "lexicon.txt").write_text("".join(f"{word} {phones}\n" for word, phones in LEXICON))
    return dict(root=root, graph=graph.graph_dir, mdl=root / "final.mdl", network=network)


def test_word_times_from_the_lexicon(plain_system, parts, tmp_path, capsys):
    """Without position-dependent phones the words get their times from the alignment lexicon (the graph's, or
    --lexicon's): a CTM of every word, in order, inside the audio."""
    graph = plain_system["graph"]
    assert not (graph / "phones" / "word_boundary.int").exists() and (graph / "phones" / "align_lexicon.int").exists()
    (graph / "phones" / "align_lexicon.int").rename(tmp_path / "align_lexicon.int")  # as a graph made before it
    try:
        bare = package_system(tmp_path / "bare", graph, network=plain_system["network"],
                              transition_model=plain_system["mdl"], lm_weight=10, word_insertion_penalty=0.5)
        with_lexicon = package_system(tmp_path / "system", graph, network=plain_system["network"],
                                      transition_model=plain_system["mdl"], lm_weight=10, word_insertion_penalty=0.5,
                                      lexicon=plain_system["root"] / "lexicon.txt")
    finally:
        (tmp_path / "align_lexicon.int").rename(graph / "phones" / "align_lexicon.int")
    # --lexicon makes the words' lines prepare_lang writes, and lets every silence phone (SIL, SPN) between words
    made, written = ((d / "phones" / "align_lexicon.int").read_text().splitlines() for d in (with_lexicon, graph))
    assert [line for line in made if not line.startswith("0 ")] == [line for line in written
                                                                      if not line.startswith("0 ")]
    assert [line for line in made if line.startswith("0 ")] == ["0 0 1", "0 0 2"]
    wavs = list(map(str, parts["wavs"]))
    code, _, err = run([bare, wavs[0], "--ctm", tmp_path / "no.ctm"], capsys)
    assert code == 1 and "no --ctm; package it with --lexicon" in err and not (tmp_path / "no.ctm").exists()

    code, text, _ = run([with_lexicon, *wavs, "--ctm", tmp_path / "ctm"], capsys)
    assert code == 0
    ctm = [line.split() for line in (tmp_path / "ctm").read_text().splitlines()]
    assert ctm and [w for line in text.splitlines() for w in line.split()[1:]] == [f[4] for f in ctm]
    for utt, wav in zip(("rec0", "rec1", "rec2", "rec3"), parts["wavs"]):
        duration = soundfile.info(wav).duration
        times = [(float(f[2]), float(f[3])) for f in ctm if f[0] == utt]
        assert all(a[0] + a[1] <= b[0] + 1e-9 for a, b in zip(times, times[1:]))  # in order, not overlapping
        assert all(start >= 0 and duration > 0 and start + length <= duration + 0.015 for start, length in times)
