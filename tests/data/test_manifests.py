import json
import logging

import numpy as np
import pytest
import scipy.signal
import soundfile
from lhotse import CutSet, RecordingSet, SupervisionSet

from blasr.data import cuts_from_audio_files, cuts_from_kaldi_data_dir, read_kaldi_data_dir
from blasr.manifests import main as manifests_main
from tests.features.synthetic import tones_and_noise, write_wav


@pytest.fixture
def kaldi_dir(tmp_path, rng):
    """A Kaldi data directory with good and bad recordings and segments; returns (dir, audio by recording)."""
    audio = {
        "rec1": tones_and_noise(24000, 8000, rng),  # 3 s
        "rec2": tones_and_noise(16000, 8000, rng),
        "rec3": np.stack([tones_and_noise(16000, 8000, rng), tones_and_noise(16000, 8000, rng)], axis=1),
    }
    for name, samples in audio.items():
        write_wav(tmp_path / "wav" / f"{name}.wav", samples, 8000)
    write_wav(tmp_path / "wav" / "rec4.wav", tones_and_noise(16000, 16000, rng), 16000)
    (tmp_path / "wav" / "rec5.wav").write_bytes(b"not a wav file at all")
    data = tmp_path / "data"
    data.mkdir()
    (data / "wav.scp").write_text(
        f"rec1 {tmp_path}/wav/rec1.wav\n"
        f"rec2 cat {tmp_path}/wav/rec2.wav |\n"  # a command, like sph2pipe ... |
        f"rec3 {tmp_path}/wav/rec3.wav\n"
        f"rec4 {tmp_path}/wav/rec4.wav\n"
        f"rec5 {tmp_path}/wav/rec5.wav\n"
        f"rec6 {tmp_path}/wav/missing.wav\n"
    )
    (data / "segments").write_text(
        "u01 rec1 1.001 2.002\n"  # 1.001 * 8000 = 8007.99..: Kaldi truncates to 8007 (round: 8008)
        "u02 rec1 2.5 -1\n"  # to the end
        "u03 rec1 2.7 3.2\n"  # overshoots by 0.2 s < 0.5 s: truncated
        "u04 rec1 1.0 3.6\n"  # overshoots by 0.6 s: skipped
        "u05 rec1 1.0 1.05\n"  # 0.05 s <= 0.1 s: skipped
        "u06 rec2 0.5 1.5\n"
        "u07 rec3 0.0 1.0 1\n"  # channel 1 of a stereo file
        "u08 rec3 0.0 1.0\n"  # stereo without a channel: skipped
        "u09 rec4 0.0 1.0\n"  # its recording is 16 kHz: resampled to 8 kHz as it is read
        "u10 recX 0.0 1.0\n"
        "u11 rec1 abc 1.0\n"
    )
    (data / "text").write_text("u01 hello world\nu06 uh-huh\n")
    (data / "utt2spk").write_text("u01 spkA\nu02 spkA\nu06 spkB\nu07 spkC\n")
    return data, audio


def audio_16k(data):
    return soundfile.read(data.parent / "wav" / "rec4.wav", dtype="int16")[0]


def test_kaldi_data_dir(kaldi_dir, caplog):
    data, audio = kaldi_dir
    with caplog.at_level(logging.INFO, logger="blasr"):
        recordings, supervisions, report = read_kaldi_data_dir(data, sample_rate=8000)
    assert sorted(recordings.ids) == ["rec1", "rec2", "rec3", "rec4"]
    assert recordings["rec4"].sampling_rate == 8000 and recordings["rec4"].num_samples == 8000
    assert dict(report.fixed) == {"rec4": f"resampled: {data.parent}/wav/rec4.wav is 16000 Hz, read at 8000 Hz"}
    assert report.stats["resampled_from_16000_hz"] == 1
    assert "resampling 1 recording(s) from 16000 Hz to 8000 Hz" in caplog.messages
    skipped = dict(report.skipped)
    assert "rec4" not in skipped and "u09" not in skipped
    assert skipped["rec5"].startswith("unreadable audio:") and "rec5.wav" in skipped["rec5"]
    assert skipped["rec6"].startswith("unreadable audio:")
    assert skipped["u04"].startswith("segment out of range")
    assert skipped["u05"].startswith("segment too short")
    assert skipped["u08"].startswith("multi-channel")
    assert skipped["u10"] == "no recording: recX not in wav.scp"
    assert skipped["u11"].startswith("bad segments line")
    assert sorted(skipped) == ["rec5", "rec6", "u04", "u05", "u08", "u10", "u11"]
    assert report.kept == len(supervisions) == 6

    cuts, _ = cuts_from_kaldi_data_dir(data, sample_rate=8000)
    by_id = {c.id: c for c in cuts}
    assert sorted(by_id) == ["u01", "u02", "u03", "u06", "u07", "u09"]
    # Kaldi's extract-segments samples: int(start * rate) .. int(end * rate), small overshoots truncated
    expected = {"u01": (8007, 16015), "u02": (20000, 24000), "u03": (21600, 24000), "u06": (4000, 12000),
                "u07": (0, 8000)}
    for cut_id, (start, end) in expected.items():
        cut = by_id[cut_id]
        samples = cut.load_audio()
        assert samples.shape == (1, end - start)
        source = audio[cut.recording_id]
        source = source[:, cut.channel] if source.ndim == 2 else source
        np.testing.assert_array_equal(np.round(samples[0] * 32768).astype(np.int16), source[start:end])
    first = by_id["u01"].supervisions[0]
    assert (first.text, first.speaker, first.start) == ("hello world", "spkA", 0.0)
    assert by_id["u03"].supervisions[0].speaker == "u03"  # no utt2spk entry: its own speaker
    assert by_id["u07"].channel == 1
    # the 16 kHz recording, read at 8 kHz: lhotse's resampling (scipy's resample_poly, 1 up, 2 down)
    resampled = by_id["u09"]
    assert (resampled.sampling_rate, resampled.duration, resampled.num_samples) == (8000, 1.0, 8000)
    expected = scipy.signal.resample_poly(audio_16k(data).astype(np.float64) / 32768, 1, 2)
    np.testing.assert_allclose(resampled.load_audio()[0], expected, atol=1e-5)


def test_kaldi_data_dir_without_segments(tmp_path, rng):
    for name in ("a", "b"):
        write_wav(tmp_path / f"{name}.wav", tones_and_noise(4000, 8000, rng), 8000)
    (tmp_path / "wav.scp").write_text(f"a {tmp_path}/a.wav\nb {tmp_path}/b.wav\n")
    (tmp_path / "utt2spk").write_text("a s1\nb s2\n")
    (tmp_path / "reco2dur").write_text("a 0.5\nb 0.5\n")
    cuts, report = cuts_from_kaldi_data_dir(tmp_path, sample_rate=8000)
    assert [(c.id, c.duration, c.supervisions[0].speaker) for c in cuts] == [("a", 0.5, "s1"), ("b", 0.5, "s2")]
    with pytest.raises(FileNotFoundError, match="wav.scp"):
        read_kaldi_data_dir(tmp_path / "nowhere", 8000)


def test_cuts_from_audio_files(tmp_path, rng):
    mono = write_wav(tmp_path / "one" / "mono.wav", tones_and_noise(8000, 8000, rng), 8000)
    stereo = write_wav(tmp_path / "one" / "stereo.wav", np.stack([tones_and_noise(4000, 8000, rng)] * 2, 1), 8000)
    empty = write_wav(tmp_path / "one" / "empty.wav", np.zeros(0, np.int16), 8000)
    wide = write_wav(tmp_path / "one" / "wide.wav", tones_and_noise(16000, 16000, rng), 16000)
    cuts, report = cuts_from_audio_files([mono, stereo, empty, wide], sample_rate=8000, speakers={"mono": "s1"})
    assert [(c.id, c.channel) for c in cuts] == [("mono", 0), ("stereo-0", 0), ("stereo-1", 1), ("wide", 0)]
    assert cuts[0].supervisions[0].speaker == "s1" and cuts[1].supervisions[0].speaker == "stereo-0"
    assert report.skip_reasons() == {"empty audio": 1}
    assert [item for item, _ in report.fixed] == ["wide"] and report.stats["resampled_from_16000_hz"] == 1
    assert (cuts[3].sampling_rate, cuts[3].duration, cuts[3].load_audio().shape) == (8000, 1.0, (1, 8000))
    duplicate = write_wav(tmp_path / "two" / "mono.wav", tones_and_noise(800, 8000, rng), 8000)
    with pytest.raises(ValueError, match="would both get the id 'mono'"):
        cuts_from_audio_files([mono, duplicate])


@pytest.fixture
def mixed_audio(tmp_path, rng):
    """8 and 16 kHz WAVs and a file that is no audio, in tmp_path/audio."""
    audio = tmp_path / "audio"
    write_wav(audio / "a.wav", tones_and_noise(8000, 8000, rng), 8000)  # 1 s at 8 kHz
    write_wav(audio / "b.wav", tones_and_noise(8000, 16000, rng), 16000)  # 0.5 s at 16 kHz
    write_wav(audio / "sub" / "c.wav", tones_and_noise(4000, 16000, rng), 16000)  # 0.25 s at 16 kHz
    (audio / "bad.wav").write_bytes(b"no audio in here")
    (audio / "notes.txt").write_text("not an audio file: not looked at\n")
    return audio


def test_program_from_a_kaldi_dir(mixed_audio, tmp_path, caplog, capsys):
    data = tmp_path / "data"
    data.mkdir()
    (data / "wav.scp").write_text("".join(f"{n} {mixed_audio}/{n}.wav\n" for n in ("a", "b", "bad")))
    (data / "segments").write_text("a-1 a 0.0 0.5\na-2 a 0.5 1.0\nb-1 b 0.1 0.4\nbad-1 bad 0.0 1.0\n")
    (data / "text").write_text("a-1 one\na-2 two\nb-1 three\n")
    (data / "utt2spk").write_text("a-1 s1\na-2 s1\nb-1 s2\n")
    out = tmp_path / "manifests"
    with caplog.at_level(logging.INFO, logger="blasr"):
        assert manifests_main(["--kaldi-dir", str(data), "--out", str(out), "--sample-rate", "8000"]) == 0
    cuts = CutSet.from_file(out / "cuts.jsonl.gz")
    assert [(c.id, c.duration, c.sampling_rate) for c in cuts] == [("a-1", 0.5, 8000), ("a-2", 0.5, 8000),
                                                                    ("b-1", 0.3, 8000)]
    assert [c.supervisions[0].text for c in cuts] == ["one", "two", "three"]
    assert {c.id: c for c in cuts}["b-1"].load_audio().shape == (1, 2400)
    recordings = RecordingSet.from_file(out / "recordings.jsonl.gz")
    assert [(r.id, r.sampling_rate, r.duration) for r in recordings] == [("a", 8000, 1.0), ("b", 8000, 0.5)]
    supervisions = SupervisionSet.from_file(out / "supervisions.jsonl.gz")
    assert [(s.id, s.start, s.speaker) for s in supervisions] == [("a-1", 0.0, "s1"), ("a-2", 0.5, "s1"),
                                                                  ("b-1", 0.1, "s2")]
    assert "resampling 1 recording(s) from 16000 Hz to 8000 Hz" in caplog.messages
    printed = capsys.readouterr().out
    assert "manifests: kept 3, skipped 2, fixed 1" in printed
    assert "skipped by kind: unreadable audio x1, no recording x1" in printed
    assert f"bad: unreadable audio: {mixed_audio}/bad.wav" in printed
    report = json.loads((out / "manifests.report.json").read_text())
    assert [item for item, _ in report["skipped"]] == ["bad", "bad-1"]
    assert report["stats"]["resampled_from_16000_hz"] == 1


def test_program_from_audio_files(mixed_audio, tmp_path, caplog, capsys):
    out = tmp_path / "manifests"
    with caplog.at_level(logging.INFO, logger="blasr"):
        assert manifests_main(["--audio", str(mixed_audio), "--out", str(out), "--sample-rate", "16000"]) == 0
    cuts = CutSet.from_file(out / "cuts.jsonl.gz")
    assert [(c.id, c.duration, c.sampling_rate) for c in cuts] == [("a", 1.0, 16000), ("b", 0.5, 16000),
                                                                    ("c", 0.25, 16000)]
    assert next(iter(cuts)).load_audio().shape == (1, 16000)  # a: 8 kHz read at 16 kHz
    assert "resampling 1 recording(s) from 8000 Hz to 16000 Hz" in caplog.messages
    printed = capsys.readouterr().out
    assert "manifests: kept 3, skipped 1, fixed 1" in printed and "skipped by kind: unreadable audio x1" in printed
    assert f"bad: unreadable audio: {mixed_audio}/bad.wav" in printed

    caplog.clear()
    (tmp_path / "list.txt").write_text(f"# two files\n{mixed_audio}/b.wav\n\n{mixed_audio}/sub/c.wav\n")
    with caplog.at_level(logging.INFO, logger="blasr"):
        assert manifests_main(["--audio-list", str(tmp_path / "list.txt"), "--out", str(tmp_path / "listed"),
                               "--sample-rate", "8000"]) == 0
    cuts = CutSet.from_file(tmp_path / "listed" / "cuts.jsonl.gz")
    assert [(c.id, c.duration, c.sampling_rate) for c in cuts] == [("b", 0.5, 8000), ("c", 0.25, 8000)]
    assert "resampling 2 recording(s) from 16000 Hz to 8000 Hz" in caplog.messages
    assert manifests_main(["--audio", str(mixed_audio / "bad.wav"), "--out", str(tmp_path / "none")]) == 1
