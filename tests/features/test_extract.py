import json

import numpy as np
import pytest
from lhotse import CutSet, MonoCut, Recording

from blasr.compute_features import main as compute_features_main
from blasr.data import cuts_from_audio_files
from blasr.features import FbankConfig, FeatureError, compute_features, extract, feature_frames, load_static, logmel
from tests.features.synthetic import tones_and_noise, write_wav


@pytest.fixture
def good_cuts(tmp_path, rng):
    """Four 8 kHz utterances of 0.3 .. 1.7 s."""
    paths = [
        write_wav(tmp_path / "audio" / f"utt{i}.wav", tones_and_noise(n, 8000, rng), 8000)
        for i, n in enumerate((2400, 5123, 13600, 8000))
    ]
    cuts, report = cuts_from_audio_files(paths, sample_rate=8000)
    assert report.kept == 4
    return cuts


def whole_file_cut(path) -> MonoCut:
    recording = Recording.from_file(path)
    return MonoCut(recording.id, start=0.0, duration=recording.duration, channel=0, recording=recording)


def test_stored_features_are_kaldi_logmel(good_cuts, tmp_path):
    manifest, report = compute_features(good_cuts, tmp_path / "fbank", FbankConfig(sample_rate=8000), progress=False)
    assert report.kept == 4 and report.num_skipped == 0
    assert report.stats["x_real_time"] > 0 and report.stats["num_jobs"] == 1
    stored = CutSet.from_file(manifest)
    for cut in stored:
        samples = cut.load_audio()
        expected = logmel(samples, 8000)
        # Kaldi's count 1 + (N - 200) // 80, not lhotse's round(N / 80)
        assert feature_frames(cut) == 1 + (samples.shape[1] - 200) // 80 == len(expected)
        assert cut.features.storage_type == "lilcom_chunky" and cut.features.num_features == 64
        np.testing.assert_allclose(load_static(cut), expected, atol=2**-5)  # lilcom tick 2^-5
    assert (tmp_path / "fbank" / "fbank.conf").read_text().startswith("--sample-frequency=8000\n")
    saved = json.loads((tmp_path / "fbank" / "features.report.json").read_text())
    assert saved["kept"] == 4
    # A second run with the same settings reuses the output.
    _, again = compute_features(good_cuts, tmp_path / "fbank", FbankConfig(sample_rate=8000), progress=False)
    assert again.stats == {"reused": 1}


def test_parallel_extraction_writes_the_same_archive(good_cuts, tmp_path):
    config = FbankConfig(sample_rate=8000)
    one, _ = compute_features(good_cuts, tmp_path / "one", config, num_jobs=1, progress=False)
    two, report = compute_features(good_cuts, tmp_path / "two", config, num_jobs=2, cuts_per_task=1, progress=False)
    assert report.stats["num_jobs"] == 2
    assert (tmp_path / "one" / "feats.lca").read_bytes() == (tmp_path / "two" / "feats.lca").read_bytes()
    keys = [[c.features.storage_key for c in CutSet.from_file(m)] for m in (one, two)]
    assert keys[0] == keys[1]


def test_bad_audio_is_skipped_and_counted(good_cuts, tmp_path, rng):
    corrupt = write_wav(tmp_path / "bad" / "corrupt.wav", tones_and_noise(4000, 8000, rng), 8000)
    corrupt_cut = whole_file_cut(corrupt)
    corrupt.write_bytes(b"RIFF\x00\x00junk" * 20)  # the manifest still points at it
    empty = whole_file_cut(write_wav(tmp_path / "bad" / "empty.wav", np.zeros(0, np.int16), 8000))
    short = whole_file_cut(write_wav(tmp_path / "bad" / "short.wav", tones_and_noise(150, 8000, rng), 8000))
    wideband = whole_file_cut(write_wav(tmp_path / "bad" / "wideband.wav", tones_and_noise(16000, 16000, rng), 16000))
    cuts = CutSet.from_cuts(list(good_cuts) + [corrupt_cut, empty, short, wideband])

    manifest, report = compute_features(cuts, tmp_path / "fbank", FbankConfig(sample_rate=8000), progress=False)
    assert report.kept == 4
    reasons = dict(report.skipped)
    assert reasons["corrupt"].startswith("unreadable audio:") and "corrupt.wav" in reasons["corrupt"]
    assert reasons["empty"].startswith("empty audio")
    assert reasons["short"].startswith("too short: 150 samples")
    assert reasons["wideband"].startswith("wrong sample rate: the audio is 16000 Hz")
    # the remedy is a command to run, not a Python call
    assert reasons["wideband"].endswith("compute them with --sample-rate 16000 (python -m blasr.features) or make "
                                        "the cuts at 8000 Hz (python -m blasr.manifests --sample-rate 8000)")
    with pytest.raises(ValueError, match="run python -m blasr.features on its manifest first"):
        feature_frames(wideband)
    assert report.skip_reasons() == {"unreadable audio": 1, "empty audio": 1, "too short": 1, "wrong sample rate": 1}
    assert [c.id for c in CutSet.from_file(manifest)] == [c.id for c in good_cuts]
    assert "skipped 4" in report.summary()


def test_nothing_extracted_is_an_error(tmp_path, rng):
    wideband = whole_file_cut(write_wav(tmp_path / "w.wav", tones_and_noise(16000, 16000, rng), 16000))
    with pytest.raises(FeatureError, match="no cut could be extracted.*wrong sample rate"):
        compute_features(CutSet.from_cuts([wideband]), tmp_path / "fbank", FbankConfig(sample_rate=8000),
                         progress=False)


def test_truncated_wav_files_are_read_warned_and_counted(good_cuts, tmp_path, rng, caplog, capsys):
    # the header promises 8000 samples, the file holds 6400 (Kaldi: "truncated file?", reads what there is)
    path = write_wav(tmp_path / "cut_short" / "long.wav", tones_and_noise(8000, 8000, rng), 8000)
    path.write_bytes(path.read_bytes()[:-3200])
    recording = Recording.from_file(path)
    assert recording.num_samples == 6400
    halves = [MonoCut(f"long-{i}", start=0.4 * i, duration=0.4, channel=0, recording=recording) for i in (0, 1)]
    manifest = tmp_path / "cuts.jsonl.gz"
    CutSet.from_cuts(list(good_cuts) + halves).to_file(manifest)
    with caplog.at_level("INFO", logger="blasr"):
        assert compute_features_main(["--cuts", str(manifest), "--out", str(tmp_path / "fbank"),
                                      "--sample-rate", "8000"]) == 0
    assert capsys.readouterr().out == f"wrote {tmp_path / 'fbank' / 'cuts.jsonl.gz'}\n"  # the summary only logged
    (summary,) = [r.getMessage() for r in caplog.records if "kept" in r.getMessage()]
    assert "kept 6, skipped 0, fixed 2" in summary and "fixed by kind: truncated audio x2" in summary
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == [f"truncated audio: {path}: its header promises 8000 samples, the file holds 6400; "
                        "reading what there is"]
    report = json.loads((tmp_path / "fbank" / "features.report.json").read_text())
    assert [item for item, _ in report["fixed"]] == ["long-0", "long-1"]


def test_progress_counts_every_cut_of_a_streamed_manifest(good_cuts, tmp_path, monkeypatch):
    """The bar knows the total before the first cut (a lazily read manifest is counted) and ends at it."""
    bars = []

    class Bar:
        def __init__(self, iterable, total=None, desc="", enabled=True):
            self.n, self.total, self.desc = 0, total, desc
            bars.append(self)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def update(self, n):
            self.n += n

        def set_postfix(self, **values):
            self.postfix = values

    monkeypatch.setattr(extract, "progress_bar", Bar)
    good_cuts.to_file(tmp_path / "cuts.jsonl.gz")
    compute_features(tmp_path / "cuts.jsonl.gz", tmp_path / "fbank", FbankConfig(sample_rate=8000))
    assert [(bar.desc, bar.total, bar.n) for bar in bars] == [("log-mel", 4, 4)]
    assert set(bars[0].postfix) == {"xRT", "skipped"}
