import numpy as np
import pytest

from blasr.data import cuts_from_audio_files, cuts_from_kaldi_data_dir, read_kaldi_data_dir
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
        "u09 rec4 0.0 1.0\n"  # its recording was skipped (16 kHz)
        "u10 recX 0.0 1.0\n"
        "u11 rec1 abc 1.0\n"
    )
    (data / "text").write_text("u01 hello world\nu06 uh-huh\n")
    (data / "utt2spk").write_text("u01 spkA\nu02 spkA\nu06 spkB\nu07 spkC\n")
    return data, audio


def test_kaldi_data_dir(kaldi_dir):
    data, audio = kaldi_dir
    recordings, supervisions, report = read_kaldi_data_dir(data, sample_rate=8000)
    assert sorted(recordings.ids) == ["rec1", "rec2", "rec3"]
    skipped = dict(report.skipped)
    assert skipped["rec4"].startswith("wrong sample rate:") and "16000 Hz" in skipped["rec4"]
    assert skipped["rec5"].startswith("unreadable audio:") and "rec5.wav" in skipped["rec5"]
    assert skipped["rec6"].startswith("unreadable audio:")
    assert skipped["u04"].startswith("segment out of range")
    assert skipped["u05"].startswith("segment too short")
    assert skipped["u08"].startswith("multi-channel")
    assert skipped["u09"] == "no recording: rec4 skipped (see its entry)"
    assert skipped["u10"] == "no recording: recX not in wav.scp"
    assert skipped["u11"].startswith("bad segments line")
    assert report.kept == len(supervisions) == 5

    cuts, _ = cuts_from_kaldi_data_dir(data, sample_rate=8000)
    by_id = {c.id: c for c in cuts}
    assert sorted(by_id) == ["u01", "u02", "u03", "u06", "u07"]
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
    assert [(c.id, c.channel) for c in cuts] == [("mono", 0), ("stereo-0", 0), ("stereo-1", 1)]
    assert cuts[0].supervisions[0].speaker == "s1" and cuts[1].supervisions[0].speaker == "stereo-0"
    assert report.skip_reasons() == {"empty audio": 1, "wrong sample rate": 1}
    duplicate = write_wav(tmp_path / "two" / "mono.wav", tones_and_noise(800, 8000, rng), 8000)
    with pytest.raises(ValueError, match="would both get the id 'mono'"):
        cuts_from_audio_files([mono, duplicate])
