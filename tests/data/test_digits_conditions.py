"""The digits corpus' held-out test conditions: test_other (flite) and test_tel (an 8 kHz round trip).

Planning is pure; the parts need a corpus made with espeak-ng, test_other also flite (local/install_flite.sh);
each test is skipped when its synthesizer is missing.
"""

import json

import numpy as np
import pytest
import soundfile
from lhotse import CutSet

from blasr.data import flite
from blasr.data.digits import (
    OTHER_SYNTH,
    SPLITS,
    TELEPHONE,
    WORDS,
    DigitsConfig,
    DigitsError,
    corpus_config,
    make_speakers,
    plan_other_synth,
    plan_utterances,
    prepare_digits,
    prepare_other_synth,
    prepare_telephone,
    split_speakers,
)
from blasr.features import FbankConfig, compute_features
from tests.data.conftest import needs_espeak, needs_flite

VOICES = ("en-gb", "en-us", "en-us-nyc", "en-gb-x-rp")
FLITE_VOICES = ["awb", "awb_time", "kal", "kal16", "rms", "slt"]  # flite 2.2's, as `flite -lv` lists them
# 7 test utterances: every flite voice speaks one, the first voice of the round robin a second
CONFIG = DigitsConfig(seed=5, num_train=2, num_dev=1, num_test=7, num_dev_speakers=1, num_test_speakers=2)


def _texts(path):
    return dict(line.split(maxsplit=1) for line in path.read_text().splitlines())


def test_other_synth_speaks_the_test_utterances():
    config = DigitsConfig(seed=3, num_train=10, num_dev=2, num_test=13, num_dev_speakers=1, num_test_speakers=3,
                          voices=VOICES)
    test = [u for u in plan_utterances(config, split_speakers(make_speakers(VOICES), 1, 3, seed=3))
            if u.split == "test"]
    other = plan_other_synth(config, FLITE_VOICES)
    assert len(other) == len(test) == 13 and {u.split for u in other} == {OTHER_SYNTH}
    for a, b in zip(test, other):
        # everything but the speaker is test utterance i's: words, rate, pitch, silences, level, SNR, noise
        assert b.id.rsplit("-", 1)[1] == a.id.rsplit("-", 1)[1]
        assert (b.words, b.speed_wpm, b.leading_silence, b.snr_db, b.peak_dbfs, b.noise_seed) == (
            a.words, a.speed_wpm, a.leading_silence, a.snr_db, a.peak_dbfs, a.noise_seed)
    assert {u.speaker for u in other} == {f"flite_{v}" for v in FLITE_VOICES}  # round robin: all of them
    # Kaldi: ids sorted sort their speakers too ("flite_awb-..." < "flite_awb_time-...")
    by_id = sorted(other, key=lambda u: u.id)
    assert [u.speaker for u in by_id] == sorted(u.speaker for u in other)
    assert all(u.id.startswith(u.speaker + "-") for u in other)
    assert sorted({flite.speaker_voice(u.speaker) for u in other}) == FLITE_VOICES


def test_missing_flite_says_how_to_install(monkeypatch):
    monkeypatch.setattr(flite.shutil, "which", lambda name: None)
    with pytest.raises(DigitsError, match="local/install_flite.sh or apt-get install flite"):
        flite.find_flite()


def test_parts_need_a_finished_corpus(tmp_path):
    with pytest.raises(DigitsError, match="no finished digits corpus.*blasr.prepare_digits"):
        prepare_telephone(tmp_path / "nothing")


# -- parts of a tiny corpus ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    out = tmp_path_factory.mktemp("conditions") / "corpus"
    prepare_digits(out, CONFIG, num_jobs=2, progress=False)
    return out


@needs_espeak
def test_corpus_config_is_the_one_it_was_made_with(digits):
    voices = tuple(json.loads((digits / "report.json").read_text())["settings"]["voices"])
    assert corpus_config(digits) == CONFIG.__class__(**{**CONFIG.__dict__, "voices": voices})


@needs_espeak
@needs_flite
def test_other_synth_part(digits):
    cuts = prepare_other_synth(digits, num_jobs=2, progress=False)
    part = digits / OTHER_SYNTH
    assert len(cuts) == 7 and sorted(c.id for c in cuts) == list(_texts(part / "text"))
    # the test utterances' words, in the same order of their index
    test_words = {u.rsplit("-", 1)[1]: t for u, t in _texts(digits / "test" / "text").items()}
    other_words = {u.rsplit("-", 1)[1]: t for u, t in _texts(part / "text").items()}
    assert other_words == test_words and all(set(t.split()) <= set(WORDS) for t in other_words.values())
    # every voice but the talking clock, which says "zero" as "oh" (report.json says so)
    voices = set(flite.flite_voices(flite.find_flite())) - {"awb_time"}
    assert {c.supervisions[0].speaker for c in cuts} == {f"flite_{v}" for v in voices}
    report = json.loads((part / "report.json").read_text())
    left_out = report["voices_that_confuse_words"]
    assert list(left_out) == ["awb_time"] and "'zero' and 'oh'" in left_out["awb_time"]
    assert report["voices"] == sorted(voices) and "awb_time" in report["settings"]["voices"]  # the candidates
    for cut in cuts:
        path = digits / "wav" / f"{cut.id}.wav"
        info = soundfile.info(path)
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        assert cut.load_audio().shape == (1, info.frames) and info.frames > 0.5 * 16000
    # idempotent: nothing is rewritten the second time
    stamps = {p: p.stat().st_mtime_ns for p in (digits / "wav").glob("flite_*")} | {
        p: p.stat().st_mtime_ns for p in part.iterdir()}
    again = prepare_other_synth(digits, num_jobs=1, progress=False)
    assert list(again.ids) == list(cuts.ids)
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    # another choice of voices rebuilds the part (derived data), leaving no file of the old one
    fewer = prepare_other_synth(digits, voices=("slt",), num_jobs=1, progress=False)
    assert {c.supervisions[0].speaker for c in fewer} == {"flite_slt"} and len(fewer) == 7
    assert sorted(p.stem for p in (digits / "wav").glob("flite_*")) == sorted(fewer.ids)
    with pytest.raises(DigitsError, match=r"flite has no voice \['nope'\]"):
        prepare_other_synth(digits, voices=("nope",), progress=False)
    # asked for by name, a voice that confuses words is kept (with a warning)
    clock = prepare_other_synth(digits, voices=("awb_time",), num_jobs=1, progress=False)
    assert {c.supervisions[0].speaker for c in clock} == {"flite_awb_time"}


@needs_flite
def test_confused_words_finds_the_talking_clocks_zero():
    flite_path = flite.find_flite()
    assert flite.confused_words(flite_path, "awb_time", WORDS) == [("zero", "oh")]
    assert flite.confused_words(flite_path, "slt", WORDS) == []


@needs_espeak
def test_telephone_part_is_the_test_set_band_limited(digits, tmp_path):
    cuts = prepare_telephone(digits)
    part = digits / TELEPHONE
    test = CutSet.from_file(digits / "test" / "cuts.jsonl.gz").to_eager()
    assert list(cuts.ids) == list(test.ids) and _texts(part / "text") == _texts(digits / "test" / "text")
    assert list(CutSet.from_file(part / "cuts.jsonl.gz").ids) == list(test.ids)
    for narrow, wide in zip(CutSet.from_file(part / "cuts.jsonl.gz"), test):
        assert narrow.sampling_rate == 16000 and narrow.duration == wide.duration
        x, y = wide.load_audio()[0], narrow.load_audio()[0]
        assert x.shape == y.shape
        power_x, power_y = np.abs(np.fft.rfft(x)) ** 2, np.abs(np.fft.rfft(y)) ** 2
        hz = np.fft.rfftfreq(x.size, 1 / 16000)
        high, low = hz > 4200, hz < 3500
        assert power_y[high].sum() < 0.01 * power_x[high].sum()  # nothing above the 8 kHz rate's 4 kHz
        assert power_y[low].sum() == pytest.approx(power_x[low].sum(), rel=0.02)  # the band below is kept
    # the lazy resampling survives feature extraction in worker processes
    manifest, report = compute_features(part / "cuts.jsonl.gz", tmp_path / "fbank", FbankConfig(), num_jobs=2,
                                        progress=False)
    assert report.kept == len(test) and not report.num_skipped


@needs_espeak
@needs_flite
def test_rebuilding_the_corpus_removes_its_parts(tmp_path):
    out = tmp_path / "corpus"
    config = DigitsConfig(seed=1, num_train=1, num_dev=1, num_test=1, num_dev_speakers=1, num_test_speakers=1)
    prepare_digits(out, config, progress=False)
    prepare_other_synth(out, voices=("kal",), progress=False)
    prepare_telephone(out)
    prepare_digits(out, DigitsConfig(**{**config.__dict__, "seed": 2}), overwrite=True, progress=False)
    assert not (out / OTHER_SYNTH).exists() and not (out / TELEPHONE).exists()
    assert not list((out / "wav").glob("flite_*")) and all((out / s).is_dir() for s in SPLITS)
