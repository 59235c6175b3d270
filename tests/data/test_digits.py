"""The synthetic digits corpus: planning and resampling (pure), then a tiny corpus made with espeak-ng.

The espeak-ng tests are skipped when espeak-ng is not installed (local/install_espeak.sh).
"""

import json
from dataclasses import replace

import numpy as np
import pytest
import soundfile
from lhotse import CutSet, RecordingSet, SupervisionSet

from blasr.data import espeak
from blasr.data.digits import (
    LEXICON,
    SPLITS,
    VARIANTS,
    WORDS,
    DigitsConfig,
    DigitsError,
    make_speakers,
    plan_utterances,
    prepare_digits,
    sample_words,
    split_speakers,
    write_dict_dir,
)
from blasr.kaldi.lang.prepare import prepare_lang, read_dict_dir
from tests.data.conftest import needs_espeak

# "en-us" is a prefix of "en-us-nyc": utterance ids must still sort by speaker.
VOICES = ("en-gb", "en-us", "en-us-nyc", "en-gb-x-rp")


# -- pure functions -----------------------------------------------------------------------------


def test_sample_words_lengths_and_vocabulary():
    rng = np.random.default_rng(0)
    draws = [sample_words(rng, 1, 7) for _ in range(500)]
    assert {len(d) for d in draws} == set(range(1, 8))  # every length 1..7, nothing else
    assert {w for d in draws for w in d} == set(WORDS)  # all 11 words, nothing else
    assert len(WORDS) == 11 and set(WORDS) == set(LEXICON)
    assert all(len(sample_words(rng, 3, 3)) == 3 for _ in range(20))


def test_split_speakers_disjoint_and_seeded():
    speakers = make_speakers(VOICES)
    assert len(speakers) == len(VOICES) * len(VARIANTS) == 48
    assert "en-us-nyc_m7" in speakers and "en-gb_f5" in speakers
    split = split_speakers(speakers, num_dev=3, num_test=5, seed=0)
    assert [len(split[s]) for s in SPLITS] == [40, 3, 5]
    assert set(split["train"]).isdisjoint(split["dev"]) and set(split["train"]).isdisjoint(split["test"])
    assert set(split["dev"]).isdisjoint(split["test"])
    assert sorted(split["train"] + split["dev"] + split["test"]) == speakers
    assert split == split_speakers(list(reversed(speakers)), 3, 5, seed=0)  # order of the input does not matter
    assert split["test"] != split_speakers(speakers, 3, 5, seed=1)["test"]
    with pytest.raises(DigitsError, match="num-test-speakers"):
        split_speakers(speakers, num_dev=10, num_test=38, seed=0)  # no training speaker left


def test_plan_ids_sort_by_speaker_and_are_per_utterance():
    config = DigitsConfig(seed=3, num_train=200, num_dev=20, num_test=30, num_dev_speakers=3, num_test_speakers=4,
                          voices=VOICES)
    speakers = split_speakers(make_speakers(VOICES), 3, 4, seed=3)
    plan = plan_utterances(config, speakers)
    assert [u.split for u in plan] == ["train"] * 200 + ["dev"] * 20 + ["test"] * 30
    assert len({u.id for u in plan}) == 250
    for split in SPLITS:
        utterances = [u for u in plan if u.split == split]
        assert {u.speaker for u in utterances} == set(speakers[split])  # round robin: every speaker is used
        # Kaldi: utt2spk sorted by utterance has its speakers sorted too (holds for en-us / en-us-nyc).
        by_id = sorted(utterances, key=lambda u: u.id)
        assert [u.speaker for u in by_id] == sorted(u.speaker for u in utterances)
        assert all(u.id.startswith(u.speaker + "-") for u in utterances)
    first = plan[0]
    assert first.voice == first.speaker.replace("_", "+") and first.voice.rsplit("+", 1)[1] in VARIANTS
    assert all(130 <= u.speed_wpm <= 200 and 20 <= u.pitch <= 80 and 25 <= u.snr_db <= 40 for u in plan)
    assert all(0.1 <= u.leading_silence <= 0.5 and 0.1 <= u.trailing_silence <= 0.5 for u in plan)
    # Utterance i depends on (seed, split, i) only: a smaller corpus is a prefix of a bigger one.
    smaller = plan_utterances(replace(config, num_train=50, num_dev=5), speakers)
    assert [u for u in smaller if u.split == "train"] == plan[:50]
    assert [u for u in smaller if u.split == "dev"] == plan[200:205]
    other_seed = plan_utterances(replace(config, seed=4), speakers)
    assert [u.words for u in other_seed] != [u.words for u in plan]


def test_config_check_names_the_setting():
    with pytest.raises(DigitsError, match="digits per utterance 0..7"):
        DigitsConfig(min_digits=0).check()
    with pytest.raises(DigitsError, match="num_dev_speakers >= 1"):
        DigitsConfig(num_dev_speakers=0).check()
    with pytest.raises(DigitsError, match="pitch"):
        DigitsConfig(pitch=(50, 120)).check()
    DigitsConfig().check()  # the defaults are fine


def test_dict_dir_passes_prepare_lang(tmp_path):
    dict_dir = write_dict_dir(tmp_path / "dict")
    read = read_dict_dir(dict_dir)
    assert read.silence_phones == [["SIL"]] and read.optional_silence == "SIL"
    assert sorted(p for s in read.nonsilence_phones for p in s) == sorted(
        "AH AO AY EH EY F IH IY K N OW R S T TH UW V W Z".split())
    assert [(e.word, " ".join(e.phones)) for e in read.lexicon if e.word == "zero"] == [
        ("zero", "Z IH R OW"), ("zero", "Z IY R OW")]
    lang = prepare_lang(read, tmp_path / "lang", word_loop=True)
    assert sorted(lang.real_words) == sorted(WORDS)
    assert lang.word_ids(["one", "oh", "nine"]) == [lang.words.id(w) for w in ("one", "oh", "nine")]
    assert (tmp_path / "lang" / "G.fst").is_file()


def test_missing_espeak_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(espeak.shutil, "which", lambda name: None)
    with pytest.raises(DigitsError, match="local/install_espeak.sh or apt-get install espeak-ng"):
        prepare_digits(tmp_path / "digits", DigitsConfig(num_train=1, num_dev=0, num_test=0))
    assert not (tmp_path / "digits" / ".completed").exists()


# -- a tiny corpus made with espeak-ng -------------------------------------------------------------

TINY = DigitsConfig(seed=7, num_train=6, num_dev=2, num_test=2, num_dev_speakers=2, num_test_speakers=2)


def _wav_bytes(out):
    return {p.name: p.read_bytes() for p in sorted((out / "wav").glob("*.wav"))}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("digits") / "corpus"
    cuts = prepare_digits(out, TINY, num_jobs=2, progress=False)
    return out, cuts


@pytest.fixture(scope="module")
def plan(corpus):
    """The corpus' utterances as planned, by id (the voices as the corpus found them)."""
    out, _ = corpus
    voices = json.loads((out / "report.json").read_text())["settings"]["voices"]
    speakers = split_speakers(make_speakers(voices), 2, 2, TINY.seed)
    return {u.id: u for u in plan_utterances(TINY, speakers)}


@needs_espeak
def test_corpus_speakers_are_disjoint_and_texts_are_digits(corpus, plan):
    out, cuts = corpus
    assert [len(cuts[s]) for s in SPLITS] == [6, 2, 2]
    speakers = {}
    for split in SPLITS:
        utt2spk = dict(line.split() for line in (out / split / "utt2spk").read_text().splitlines())
        texts = dict(line.split(maxsplit=1) for line in (out / split / "text").read_text().splitlines())
        assert list(utt2spk) == sorted(utt2spk) == sorted(c.id for c in cuts[split])
        for cut in cuts[split]:
            supervision = cut.supervisions[0]
            assert supervision.speaker == utt2spk[cut.id] == plan[cut.id].speaker
            assert supervision.text == texts[cut.id] == " ".join(plan[cut.id].words)
            words = supervision.text.split()
            assert 1 <= len(words) <= 7 and set(words) <= set(WORDS)
        speakers[split] = set(utt2spk.values())
    assert len(speakers["dev"]) == len(speakers["test"]) == 2
    assert speakers["train"].isdisjoint(speakers["dev"] | speakers["test"])
    assert speakers["dev"].isdisjoint(speakers["test"])


@needs_espeak
def test_corpus_audio_is_16k_int16_with_silence_noise_and_level(corpus, plan):
    out, _ = corpus
    for utterance_id, utterance in plan.items():
        path = out / "wav" / f"{utterance_id}.wav"
        info = soundfile.info(path)
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        x = soundfile.read(path, dtype="int16")[0].astype(np.float64) / 32768
        lead = round(utterance.leading_silence * 16000)
        trail = round(utterance.trailing_silence * 16000)
        assert x.size > lead + trail + 1600  # at least 0.1 s of speech between the silences
        noise_power = np.mean(np.concatenate([x[:lead], x[-trail:]]) ** 2)
        speech_power = np.mean(x[lead:-trail] ** 2) - noise_power
        # The leading silence is noise only, at the planned SNR below the speech.
        assert 10 * np.log10(speech_power / noise_power) == pytest.approx(utterance.snr_db, abs=0.5)
        assert np.mean(x[:lead] ** 2) < speech_power / 10 ** 2.4  # >= 24 dB quieter than the speech
        assert 20 * np.log10(np.max(np.abs(x))) == pytest.approx(utterance.peak_dbfs, abs=0.5)


@needs_espeak
def test_corpus_manifests_load_and_match_the_files(corpus):
    out, cuts = corpus
    for split in SPLITS:
        recordings = RecordingSet.from_file(out / split / "recordings.jsonl.gz").to_eager()
        supervisions = SupervisionSet.from_file(out / split / "supervisions.jsonl.gz").to_eager()
        loaded = CutSet.from_file(out / split / "cuts.jsonl.gz")
        assert sorted(c.id for c in loaded) == sorted(c.id for c in cuts[split]) == sorted(recordings.ids)
        wav_scp = dict(line.split() for line in (out / split / "wav.scp").read_text().splitlines())
        for cut in loaded:
            frames = soundfile.info(wav_scp[cut.id]).frames
            assert recordings[cut.id].num_samples == frames
            assert cut.duration == pytest.approx(frames / 16000, abs=1e-9)
            assert supervisions[cut.id].duration == pytest.approx(frames / 16000, abs=1e-9)
            assert cut.load_audio().shape == (1, frames)
        spk2utt = {line.split()[0]: line.split()[1:] for line in (out / split / "spk2utt").read_text().splitlines()}
        assert sorted(u for us in spk2utt.values() for u in us) == sorted(wav_scp)
    lang = prepare_lang(read_dict_dir(out / "dict"), out.parent / "lang", word_loop=True)
    assert sorted(lang.real_words) == sorted(WORDS)


@needs_espeak
def test_corpus_is_reproducible_and_seeded(corpus, tmp_path):
    out, _ = corpus
    again = tmp_path / "again"
    prepare_digits(again, TINY, num_jobs=1, progress=False)  # one job instead of two: the same bytes
    assert _wav_bytes(again) == _wav_bytes(out)
    assert (again / "train" / "text").read_text() == (out / "train" / "text").read_text()
    other = tmp_path / "other"
    prepare_digits(other, replace(TINY, seed=8), num_jobs=2, progress=False)
    assert (other / "train" / "text").read_text() != (out / "train" / "text").read_text()
    assert set(_wav_bytes(other).values()).isdisjoint(_wav_bytes(out).values())


@needs_espeak
def test_unknown_voice_is_refused_with_the_list(tmp_path):
    with pytest.raises(DigitsError, match=r"no English voice \['xx-nope'\] \(it has .*en-us"):
        prepare_digits(tmp_path / "corpus", replace(TINY, voices=("en-us", "xx-nope")), progress=False)
    assert not (tmp_path / "corpus").exists()


@needs_espeak
def test_corpus_is_idempotent_and_refuses_other_settings(tmp_path):
    out = tmp_path / "corpus"
    config = replace(TINY, num_train=2, num_dev=1, num_test=1)
    prepare_digits(out, config, progress=False)
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    cuts = prepare_digits(out, config, progress=False)  # done already: nothing is rewritten
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == stamps
    train_ids = [line.split()[0] for line in (out / "train" / "text").read_text().splitlines()]
    assert sorted(c.id for c in cuts["train"]) == train_ids and len(train_ids) == 2
    assert len(cuts["dev"]) == len(cuts["test"]) == 1
    changed = replace(config, num_train=3)
    with pytest.raises(DigitsError, match="other settings.*--overwrite"):
        prepare_digits(out, changed, progress=False)
    assert (out / ".completed").stat().st_mtime_ns == stamps[out / ".completed"]
    cuts = prepare_digits(out, changed, overwrite=True, progress=False)
    assert len(cuts["train"]) == 3 and len(list((out / "wav").glob("*.wav"))) == 5
    again = prepare_digits(out, changed, progress=False)  # the new settings stick: loaded, not rebuilt
    assert list(again["train"].ids) == list(cuts["train"].ids)
