"""Perturbed copies (blasr.data.perturb): lengths, ids, gains, SNRs, band limits, determinism, realigned targets."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from lhotse import CutSet
from lhotse.utils import fastcopy, perturb_num_samples

from blasr.data import attach_targets, cuts_from_audio_files
from blasr.data.perturb import PerturbOptions, perturb_cuts, write_perturbed
from blasr.features import FbankConfig, compute_features
from blasr.features.transforms import AdditiveNoise, Equalizer, Reverb, Telephone, mulaw_round_trip, peaking_sos
from blasr.gmm import main as gmm_main
from blasr.kaldi.formats.experiment import load_kaldi_experiment
from blasr.kaldi.gmm.recipe import align_cuts
from blasr.perturb import main as perturb_main
from blasr.prepare_lang import main as prepare_lang_main
from blasr.targets import main as targets_main
from tests.features.synthetic import tones_and_noise, write_wav

RATE = 16000
LENGTHS = (16000, 12345, 20011)  # samples of the three utterances


@pytest.fixture(scope="module")
def cuts(tmp_path_factory):
    root = tmp_path_factory.mktemp("perturb")
    rng = torch.Generator().manual_seed(5)
    paths = [write_wav(root / f"utt{i}.wav", tones_and_noise(n, RATE, rng), RATE) for i, n in enumerate(LENGTHS)]
    cuts, _ = cuts_from_audio_files(paths, RATE, speakers={f"utt{i}": f"spk{i}" for i in range(3)},
                                    texts={f"utt{i}": "a b" for i in range(3)})
    return cuts


def snr_db(clean: np.ndarray, noisy: np.ndarray) -> float:
    clean, noisy = clean.astype(np.float64), noisy.astype(np.float64)
    return 10 * np.log10(np.mean(clean**2) / np.mean((noisy - clean) ** 2))


def band_power(x: np.ndarray, low: float, high: float, rate: int = RATE) -> float:
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / rate)
    return float(spectrum[(f >= low) & (f < high)].sum())


# -- speed -----------------------------------------------------------------------------------


def test_speed_copies_kaldi_ids_and_lengths(cuts):
    copies, report = perturb_cuts(cuts)  # Kaldi's 0.9 / 1.0 / 1.1
    assert report.kept == 9 and report.stats["copies_clean"] == 9
    assert [c.id for c in copies][:3] == ["sp0.9-utt0", "sp1.0-utt0", "sp1.1-utt0"]
    for cut in copies:
        factor = cut.custom["perturbation"]["speed"]
        source = cut.custom["perturbation"]["source"]
        prefix = f"sp{factor}-"
        n = LENGTHS[int(source[-1])]
        # lhotse's sample count: round(N / factor); 16000 samples -> 17778, 16000, 14545
        assert cut.num_samples == perturb_num_samples(n, factor) == round(n / factor)
        assert cut.load_audio().shape == (1, cut.num_samples)
        assert cut.id == prefix + source and cut.recording.id == prefix + source
        (supervision,) = cut.supervisions
        assert supervision.id == cut.id and supervision.recording_id == cut.recording.id
        assert supervision.speaker == prefix + "spk" + source[-1] and supervision.text == "a b"
        assert supervision.duration == pytest.approx(cut.duration)
    assert [c.num_samples for c in copies][:3] == [17778, 16000, 14545]


def test_speed_changes_pitch_as_sox_speed(tmp_path):
    t = np.arange(RATE) / RATE
    path = write_wav(tmp_path / "tone.wav", (0.5 * np.sin(2 * np.pi * 1000 * t) * 32767).astype(np.int16), RATE)
    cuts, _ = cuts_from_audio_files([path], RATE)
    for cut in perturb_cuts(cuts)[0]:
        audio = cut.load_audio()[0]
        peak = np.fft.rfftfreq(len(audio), 1 / RATE)[np.argmax(np.abs(np.fft.rfft(audio)))]
        assert peak == pytest.approx(1000 * cut.custom["perturbation"]["speed"], abs=2)


def test_speed_copies_have_kaldi_frame_counts(cuts, tmp_path):
    copies, _ = perturb_cuts(cuts)
    manifest, report = compute_features(copies, tmp_path / "fbank", FbankConfig(), progress=False)
    assert report.kept == 9
    for cut in CutSet.from_file(manifest):
        assert cut.features.num_frames == 1 + (cut.num_samples - 400) // 160  # snip_edges, 25 / 10 ms at 16 kHz


def test_no_speed_keeps_ids(cuts):
    copies, _ = perturb_cuts(cuts, PerturbOptions(speeds=(1.0,)))
    assert [c.id for c in copies] == ["utt0", "utt1", "utt2"]
    assert np.array_equal(copies[0].load_audio(), cuts[0].load_audio())


# -- volume ----------------------------------------------------------------------------------


def test_volume_in_place_with_a_gain_in_range(cuts):
    copies, _ = perturb_cuts(cuts, PerturbOptions(speeds=(1.0,), volume=(0.125, 2.0)))
    gains = [c.custom["perturbation"]["gain"] for c in copies]
    assert all(0.125 <= g <= 2.0 for g in gains) and len(set(gains)) == 3
    for cut, original in zip(copies, cuts):
        assert cut.id == original.id and cut.recording.id == original.recording.id  # Kaldi: in place
        np.testing.assert_allclose(cut.load_audio(), original.load_audio() * cut.custom["perturbation"]["gain"],
                                   rtol=1e-6)


# -- noise -----------------------------------------------------------------------------------


@pytest.mark.parametrize("color", ["white", "pink", "brown"])
def test_noise_reaches_the_snr(color):
    x = np.random.default_rng(0).standard_normal((1, 20000)).astype(np.float32) * 0.1
    for snr in (0.0, 7.5, 15.0):
        y = AdditiveNoise(snr_db=snr, seed=3, color=color)(x, RATE)
        assert y.shape == x.shape and y.dtype == x.dtype
        assert snr_db(x, y) == pytest.approx(snr, abs=0.01)


def test_noise_colors_have_their_spectral_slope():
    def octave_ratio(color):  # power in 1-2 kHz over power in 250-500 Hz
        n = AdditiveNoise(snr_db=0, seed=1, color=color).noise(160000, RATE)
        return band_power(n, 1000, 2000) / band_power(n, 250, 500)

    assert octave_ratio("white") == pytest.approx(4.0, rel=0.1)  # flat: power grows with bandwidth
    assert octave_ratio("pink") == pytest.approx(1.0, rel=0.1)  # 1/f: equal power per octave
    assert octave_ratio("brown") == pytest.approx(0.25, rel=0.1)  # 1/f^2


def test_noise_and_babble_copies(cuts):
    copies, report = perturb_cuts(cuts, PerturbOptions(speeds=(1.0,), augment=("noise", "babble"),
                                                       babble_speakers=(2, 2)))
    assert report.stats["copies_noise"] == 3 and report.stats["copies_babble"] == 3
    by_id = {c.id: c for c in copies}
    for original in cuts:
        clean = original.load_audio()
        for kind in ("noise", "babble"):
            copy = by_id[f"{kind}-{original.id}"]
            info = copy.custom["perturbation"]
            assert copy.recording.id == f"{kind}-{original.id}" and copy.supervisions[0].id == copy.id
            assert copy.supervisions[0].speaker == original.supervisions[0].speaker  # as augment_data_dir.py
            assert info["source"] == original.id and info["kind"] == kind
            low, high = (0, 15) if kind == "noise" else (13, 20)
            assert low <= info["snr_db"] <= high
            noisy = copy.load_audio()
            assert noisy.shape == clean.shape
            assert snr_db(clean, noisy) == pytest.approx(info["snr_db"], abs=0.01)
        babble = by_id[f"babble-{original.id}"].custom["perturbation"]["babble"]
        assert len(babble) == 2 and original.id not in babble  # other speakers' utterances


# -- reverberation ---------------------------------------------------------------------------


def test_simulated_impulse_response():
    reverb = Reverb(t60=0.5, drr_db=4.0, seed=2)
    h = reverb.impulse_response(RATE)
    assert len(h) == 8000 and h[0] == 1.0
    assert 10 * np.log10(1.0 / np.sum(h[1:] ** 2)) == pytest.approx(4.0, abs=1e-6)  # direct / reverberant
    # energy decays by 60 dB over T60: the 50 ms at the start vs the 50 ms ending at 0.5 s
    start, end = np.sum(h[1:801] ** 2), np.sum(h[-800:] ** 2)
    assert 10 * np.log10(start / end) == pytest.approx(60 * 0.45 / 0.5, abs=3)


def test_reverb_keeps_length_and_power_and_smears_in_time():
    x = np.zeros((1, 16000), dtype=np.float32)
    x[0, 1000] = 1.0  # a click
    y = Reverb(t60=0.3, drr_db=0.0, seed=0)(x, RATE)
    assert y.shape == x.shape and np.sum(y**2) == pytest.approx(np.sum(x**2), rel=1e-5)
    assert np.argmax(np.abs(y[0])) == 1000  # the direct path stays in place (shift-output)
    assert np.sum(y[0, 1001:] ** 2) / np.sum(y**2) == pytest.approx(0.5, abs=0.01)  # DRR 0 dB


# -- telephone -------------------------------------------------------------------------------


def test_telephone_removes_energy_above_4_khz():
    x = np.random.default_rng(0).standard_normal((1, 32000)).astype(np.float32) * 0.1
    for band in (None, [300.0, 3400.0]):
        y = Telephone(band=band)(x, RATE)
        assert y.shape == x.shape
        assert band_power(x[0], 4000, 8000) > 0.45 * band_power(x[0], 0, 8000)  # white noise: half above 4 kHz
        assert band_power(y[0], 4100, 8000) < 1e-4 * band_power(y[0], 0, 8000)
        if band:  # below 300 Hz and above 3400 Hz attenuated too
            assert band_power(y[0], 0, 150) < 1e-3 * band_power(x[0], 0, 150)
            assert band_power(y[0], 1000, 2000) == pytest.approx(band_power(x[0], 1000, 2000), rel=0.05)


def test_mulaw_round_trip_is_8_bit():
    x = np.linspace(-1, 1, 10001)
    y = mulaw_round_trip(x)
    assert len(np.unique(np.round(y, 9))) <= 256
    assert np.max(np.abs(y - x)[np.abs(x) < 0.01]) < 0.001  # fine steps near zero
    # half the largest step, at full scale: ln(256) / 255 * 256 / 255 = 0.0218
    assert np.max(np.abs(y - x)) < 0.022


def test_telephone_copies_at_8_khz_source_rate(cuts):
    copies, _ = perturb_cuts(cuts, PerturbOptions(speeds=(1.0,), augment=("telephone",)))
    copy = next(c for c in copies if c.id == "tel-utt0")
    audio = copy.load_audio()[0]
    assert len(audio) == LENGTHS[0]
    assert band_power(audio, 4100, 8000) < 1e-4 * band_power(audio, 0, 8000)


# -- random equaliser ------------------------------------------------------------------------


def test_peaking_filters_have_their_gain_at_the_centre_and_unit_gain_far_away():
    from scipy import signal

    for centre, gain, q in ((1000.0, 9.0, 1.0), (250.0, -12.0, 2.5), (5000.0, 6.0, 0.5)):
        sos = peaking_sos([[centre, gain, q]], RATE)
        _, h = signal.sosfreqz(sos, worN=[centre, 0.0, RATE / 2], fs=RATE)
        db = 20 * np.log10(np.abs(h))
        assert db[0] == pytest.approx(gain, abs=1e-6) and db[1:] == pytest.approx([0.0, 0.0], abs=1e-6)
    assert peaking_sos([[9000.0, 6.0, 1.0], [1000.0, 3.0, 0.0]], RATE).shape == (0, 6)  # above Nyquist; Q 0


def test_equalizer_reshapes_the_spectrum_keeps_power_length_and_timing():
    x = np.random.default_rng(1).standard_normal((1, 32000)).astype(np.float32)
    y = Equalizer(bands=[[1000.0, 12.0, 2.0], [4000.0, -12.0, 2.0]])(x, RATE)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert np.sum(y.astype(np.float64) ** 2) == pytest.approx(np.sum(x.astype(np.float64) ** 2), rel=1e-5)
    boost = band_power(y[0], 900, 1100) / band_power(x[0], 900, 1100)
    cut = band_power(y[0], 3600, 4400) / band_power(x[0], 3600, 4400)
    assert 10 * np.log10(boost / cut) > 18  # about +12 dB against -12 dB near the centres, before the power scaling
    click = np.zeros((1, 4000), dtype=np.float32)
    click[0, 1000] = 1.0
    assert abs(int(np.argmax(np.abs(Equalizer(bands=[[1000.0, 12.0, 2.0]])(click, RATE)[0]))) - 1000) <= 2


def test_eq_copies_draw_their_bands_in_the_options_ranges(cuts):
    options = PerturbOptions(speeds=(1.0,), augment=("eq",), eq_bands=(2, 4), eq_freq=(200.0, 9000.0),
                             eq_gain=(-6.0, 6.0), eq_q=(0.7, 2.0))
    copies, report = perturb_cuts(cuts, options)
    assert report.stats["copies_eq"] == 3
    for i, length in enumerate(LENGTHS):
        copy = copies[f"eq-utt{i}"]
        bands = copy.custom["perturbation"]["bands"]
        assert copy.supervisions[0].speaker == f"spk{i}" and 2 <= len(bands) <= 4
        for centre, gain, q in bands:  # centres kept below 0.45 x the rate
            assert 200 <= centre <= 0.45 * RATE and -6 <= gain <= 6 and 0.7 <= q <= 2.0
        audio, clean = copy.load_audio()[0], cuts[f"utt{i}"].load_audio()[0]
        assert len(audio) == length and not np.allclose(audio, clean)
        assert np.mean(audio.astype(np.float64) ** 2) == pytest.approx(np.mean(clean.astype(np.float64) ** 2),
                                                                        rel=1e-4)


# -- determinism, manifests, the program -----------------------------------------------------


def test_deterministic_by_seed_and_independent_of_order(cuts):
    options = PerturbOptions(volume=(0.125, 2.0), augment=("noise", "babble", "reverb", "telephone"))
    first, _ = perturb_cuts(cuts, options)
    again, _ = perturb_cuts(cuts, options)
    assert [c.to_dict() for c in first] == [c.to_dict() for c in again]
    assert np.array_equal(first["babble-sp0.9-utt1"].load_audio(), again["babble-sp0.9-utt1"].load_audio())
    # a cut's copies depend on its own recording only, not on the other cuts
    alone, _ = perturb_cuts(cuts.subset(cut_ids=["utt2"]), PerturbOptions(**{**options.__dict__, "augment": ("noise",
                                                                                                           "reverb")}))
    for copy in alone:
        assert copy.to_dict() == first[copy.id].to_dict()
    other, _ = perturb_cuts(cuts, PerturbOptions(**{**options.__dict__, "seed": 1}))
    assert other["noise-sp1.0-utt0"].custom["perturbation"]["snr_db"] != \
        first["noise-sp1.0-utt0"].custom["perturbation"]["snr_db"]


def test_one_augmented_copy_per_recording(cuts):
    copies, report = perturb_cuts(cuts, PerturbOptions(augment=("noise", "reverb", "telephone"),
                                                       augment_copies="one"))
    assert report.kept == 18  # 3 cuts x 3 speeds x (clean + one augmented)
    kinds = [c.custom["perturbation"].get("kind") for c in copies]
    assert kinds.count(None) == 9 and len(set(kinds) - {None}) >= 2


def test_program_writes_a_reusable_manifest(cuts, tmp_path):
    source = tmp_path / "cuts.jsonl.gz"
    cuts.to_file(source)
    out = tmp_path / "perturbed"
    argv = ["--cuts", str(source), "--out", str(out), "--volume", "0.125", "2", "--augment", "noise", "reverb",
            "--seed", "4"]
    assert perturb_main(argv) == 0
    written = CutSet.from_file(out / "cuts.jsonl.gz").to_eager()
    assert len(written) == 27
    assert json.loads((out / "perturb.report.json").read_text())["kept"] == 27
    assert json.loads((out / "perturb.json").read_text())["seed"] == 4
    # the transforms are stored in the manifest: read back, the audio is the same as made in memory
    in_memory, _ = perturb_cuts(cuts, PerturbOptions(volume=(0.125, 2.0), augment=("noise", "reverb"), seed=4))
    for cut_id in ("noise-sp1.1-utt1", "reverb-sp0.9-utt2"):
        np.testing.assert_array_equal(written[cut_id].load_audio(), in_memory[cut_id].load_audio())
    stamp = (out / "cuts.jsonl.gz").stat().st_mtime_ns
    assert perturb_main(argv) == 0 and (out / "cuts.jsonl.gz").stat().st_mtime_ns == stamp  # reused
    _, report = write_perturbed(source, out, PerturbOptions(seed=5))
    assert report.kept == 9  # other options: remade


def test_program_writes_kaldi_text_and_utt2spk_of_the_copies(cuts, tmp_path):
    texts = {"utt0": "one two", "utt1": "three", "utt2": "oh four"}
    source = tmp_path / "cuts.jsonl.gz"
    CutSet.from_cuts(fastcopy(c, supervisions=[fastcopy(s, text=texts[c.id]) for s in c.supervisions])
                     for c in cuts).to_file(source)
    out = tmp_path / "perturbed"
    assert perturb_main(["--cuts", str(source), "--out", str(out), "--speeds", "0.9", "1.0",
                         "--augment", "noise"]) == 0
    lines = (out / "text").read_text().splitlines()
    ids = [c.id for c in CutSet.from_file(out / "cuts.jsonl.gz")]
    assert [line.split(" ", 1)[0] for line in lines] == sorted(ids) and len(ids) == 12  # 2 speeds x (clean + noise)
    assert "noise-sp0.9-utt2 oh four" in lines and "sp1.0-utt1 three" in lines
    utt2spk = dict(line.split() for line in (out / "utt2spk").read_text().splitlines())
    assert utt2spk["noise-sp0.9-utt0"] == "sp0.9-spk0" and utt2spk["sp1.0-utt2"] == "sp1.0-spk2"
    # a copy without a transcript: no text file (a stale one is removed), utt2spk still written
    CutSet.from_cuts(fastcopy(c, supervisions=[fastcopy(s, text=None) for s in c.supervisions])
                     for c in cuts).to_file(source)
    assert perturb_main(["--cuts", str(source), "--out", str(out), "--speeds", "1.0", "--overwrite"]) == 0
    assert not (out / "text").exists() and len((out / "utt2spk").read_text().splitlines()) == 3


def test_bad_options_are_refused(cuts):
    for options in (PerturbOptions(augment=("music",)), PerturbOptions(volume=(2.0, 1.0)),
                    PerturbOptions(speeds=(0.9, 0.9)), PerturbOptions(telephone_band=(300.0, 5000.0)),
                    PerturbOptions(eq_bands=(0, 2)), PerturbOptions(eq_gain=(6.0, -6.0))):
        with pytest.raises(ValueError):
            perturb_cuts(cuts, options)


# -- targets of speed copies: realigned with the GMM system, never stretched ------------------

WORDS = {"a": 500.0, "b": 1500.0, "c": 3000.0}  # a "word" is a tone


def tone_corpus(root, count: int, seed: int):
    """Utterances of 1-3 tone words between silences (low noise); texts; 16 kHz."""
    rng = np.random.default_rng(seed)
    paths, texts = [], {}
    for i in range(count):
        words = list(rng.choice(list(WORDS), size=int(rng.integers(1, 4))))
        parts = [rng.standard_normal(int(rng.integers(2400, 4800))) * 0.003]
        for word in words:
            t = np.arange(int(rng.integers(3200, 6400))) / RATE
            parts.append(0.3 * np.sin(2 * np.pi * WORDS[word] * t) + rng.standard_normal(len(t)) * 0.003)
            parts.append(rng.standard_normal(int(rng.integers(800, 3200))) * 0.003)
        paths.append(write_wav(root / f"tone{i:02d}.wav", (np.concatenate(parts) * 32767).astype(np.int16), RATE))
        texts[f"tone{i:02d}"] = " ".join(words)
    return cuts_from_audio_files(paths, RATE, texts=texts)[0]


def tone_lang(root):
    """The tone words' dict (a phone per word, SIL) at ``root/dict`` and its lang at ``root/lang``."""
    dict_dir = root / "dict"
    dict_dir.mkdir()
    (dict_dir / "lexicon.txt").write_text("".join(f"{w} {w.upper()}\n" for w in WORDS) + "<sil> SIL\n")
    (dict_dir / "nonsilence_phones.txt").write_text("".join(f"{w.upper()}\n" for w in WORDS))
    (dict_dir / "silence_phones.txt").write_text("SIL\n")
    (dict_dir / "optional_silence.txt").write_text("SIL\n")
    (dict_dir / "extra_questions.txt").write_text("")
    assert prepare_lang_main([str(dict_dir), str(root / "lang")]) == 0
    return root / "lang"


@pytest.fixture(scope="module")
def gmm_system(tmp_path_factory):
    root = tmp_path_factory.mktemp("tones")
    tone_lang(root)
    train, _ = compute_features(tone_corpus(root / "train", 30, 0), root / "fbank", FbankConfig(), progress=False)
    assert gmm_main(["train", "--data", str(train), "--lang", str(root / "lang"), "--exp", str(root / "gmm"),
                     "--num-leaves", "16", "--total-gauss", "60", "--mono-gauss", "40", "--mono-utterances", "30",
                     "--mono-iters", "8", "--tri-iters", "8"]) == 0
    return root


def test_speed_copies_get_realigned_targets_with_their_own_frame_counts(gmm_system, tmp_path):
    root = gmm_system
    source = tone_corpus(tmp_path / "audio", 4, 1)
    copies, _ = perturb_cuts(source)
    features, _ = compute_features(copies, tmp_path / "fbank", FbankConfig(), progress=False)
    summary = align_cuts(root / "gmm" / "tri", features, root / "lang", tmp_path / "ali")
    assert summary["alignment"].startswith("aligned 12 of 12 utterances") and not summary["failed"]
    experiment = load_kaldi_experiment(tmp_path / "ali", root / "lang", load_gmm=False)
    manifest, report = attach_targets(features, experiment.pdf_alignments, tmp_path / "targets",
                                      num_pdfs=experiment.num_pdfs)
    # exact: nothing trimmed or padded, as the alignment was made on the copies' own features
    assert report.kept == 12 and report.stats["frames_trimmed"] == 0 and report.stats["frames_padded"] == 0
    frames = {}
    for cut in CutSet.from_file(manifest):
        targets = cut.targets.load()
        assert len(targets) == cut.features.num_frames == 1 + (cut.num_samples - 400) // 160
        frames[cut.id] = len(targets)
    for cut in source:
        slow, same, fast = (frames[f"sp{f}-{cut.id}"] for f in (0.9, 1.0, 1.1))
        assert slow > same > fast  # each copy has its own length, none is a stretched 1.0 alignment


def test_augmented_copies_take_their_clean_copys_alignment(gmm_system, tmp_path):
    root = gmm_system
    copies, _ = perturb_cuts(tone_corpus(tmp_path / "audio", 3, 2),
                             PerturbOptions(speeds=(0.9, 1.1), augment=("reverb", "noise")))
    features, _ = compute_features(copies, tmp_path / "fbank", FbankConfig(), progress=False)
    align_cuts(root / "gmm" / "tri", features, root / "lang", tmp_path / "ali")
    assert targets_main(["--cuts", str(features), "--ali-dir", str(tmp_path / "ali"), "--out",
                         str(tmp_path / "targets"), "--clean-alignments"]) == 0
    targets = {c.id: c.targets.load() for c in CutSet.from_file(tmp_path / "targets" / "cuts.jsonl.gz")}
    assert len(targets) == 18
    own = load_kaldi_experiment(tmp_path / "ali", root / "lang", load_gmm=False).pdf_alignments
    for cut_id, vector in targets.items():
        clean = cut_id.split("-", 1)[1] if cut_id.startswith(("reverb-", "noise-")) else cut_id
        assert clean.startswith(("sp0.9-", "sp1.1-"))
        np.testing.assert_array_equal(vector, own[clean])  # speed copies: their own; augmented: the clean copy's


def test_an_alignment_split_into_jobs_logs_each_job_in_its_own_file(gmm_system, tmp_path):
    root = gmm_system
    features, _ = compute_features(tone_corpus(tmp_path / "audio", 4, 1), tmp_path / "fbank", FbankConfig(),
                                   progress=False)
    summary = align_cuts(root / "gmm" / "tri", features, root / "lang", tmp_path / "ali", num_jobs=2)
    assert summary["alignment"].startswith("aligned 4 of 4 utterances")
    logs = sorted((tmp_path / "ali" / "log").iterdir())
    assert [p.name for p in logs] == ["align.1.log", "align.2.log"]  # Kaldi's exp/x_ali/log/align.JOB.log
    for job, log in enumerate(logs, 1):
        text = log.read_text()
        assert f"align job {job} of 2: started" in text and f"align job {job} of 2: finished in" in text
