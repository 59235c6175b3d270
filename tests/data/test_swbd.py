"""Switchboard data preparation on a tiny fake corpus in the LDC layouts (tests/data/fake_swbd.py)."""

import json

import pytest
import soundfile
from lhotse import CutSet, RecordingSet

from blasr.data.conversations import Segment, extend_segments
from blasr.data.kaldi_ids import parse_utterance_id
from blasr.data.swbd import CorpusError, fisher_segments, prepare, remove_duplicate_utterances, split_train_dev
from blasr.data.text_norm import normalize_swbd_words
from blasr.prepare_swbd import main
from tests.data.fake_swbd import make_fake_corpus, make_fake_fisher


def segment(utt, text="yeah"):
    return Segment(utt, utt.split("-")[0], utt.split("-")[1][0], 0.0, 1.0, text.split())


def test_train_dev_is_the_first_utterances_in_id_order():
    segments = [segment(f"sw0200{c}-A_00{i}000-00{i}100") for c in (5, 1) for i in range(3)]
    dev, rest = split_train_dev(segments, 4)
    assert [s.id for s in dev] == sorted(s.id for s in segments)[:4]
    assert [s.id for s in rest] == sorted(s.id for s in segments)[4:]


def test_duplicate_removal_is_kaldis_deterministic_draw():
    # five copies of "uh-huh" with max-count 2: each kept if k / 71147 < 2 / 5, k = (k + 103349) % 71147:
    # k = 32202, 64404, 25459, 57661, 18716 -> 0.453, 0.905, 0.358, 0.810, 0.263: the 3rd and 5th stay
    uh = [segment(f"sw02001-A_00{i}000-00{i}100", "uh-huh") for i in range(5)]
    # other transcripts: once each (kept, no draw), and two copies (n = max-count: drawn too)
    others = [segment(f"sw02001-B_00{i}000-00{i}100", f"word{i}") for i in range(3)]
    pair = [segment(f"sw02005-A_00{i}000-00{i}100", "right") for i in range(2)]
    kept = remove_duplicate_utterances(uh + others + pair, max_count=2)
    assert [s.id for s in kept if s.words == ["uh-huh"]] == [uh[2].id, uh[4].id]
    assert all(s in kept for s in others)
    # the draws continue over the whole list in id order: 'right' x2 (n = 2 >= 2, p = 1) are kept
    assert all(s in kept for s in pair)
    assert remove_duplicate_utterances(uh, max_count=300) == uh


def test_extend_segments_is_kaldis():
    # the examples at the end of Kaldi's local/extend_segments.pl
    def run(rows, extend=1.0):
        segs = [Segment(u, r, "A", s, e, []) for u, r, s, e in rows]
        return [(s.id, s.start, s.end) for s in extend_segments(segs, extend)]

    assert run([("a1", "A", 0, 1), ("a2", "A", 3, 4), ("b1", "B", 0, 1), ("b2", "B", 2, 3)]) == [
        ("a1", 0.0, 2.0), ("a2", 2.0, 5.0), ("b1", 0.0, 1.5), ("b2", 1.5, 4.0)]
    assert run([("a1", "A", 0, 2), ("a2", "A", 1, 3)]) == [("a1", 0.0, 2.0), ("a2", 1.0, 4.0)]
    assert run([("a1", "A", 0, 2), ("a2", "A", 5, 6), ("a3", "A", 3, 4)]) == [
        ("a1", 0.0, 2.5), ("a2", 4.5, 7.0), ("a3", 2.5, 4.5)]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_fake_corpus(tmp_path_factory.mktemp("fake_swbd"))


@pytest.fixture(scope="module")
def prepared(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("prepared") / "corpus"
    parts = prepare(out, corpus.swbd_dir, corpus.swbd_transcripts, corpus.eval2000_dir, corpus.eval2000_transcripts,
                    rt03_dir=corpus.rt03_dir, train_dev_size=6, max_duplicates=2)
    return out, parts


def _text(path):
    return dict((line.split(" ", 1) + [""])[:2] for line in path.read_text().splitlines())


def test_training_cuts_have_kaldi_ids_per_side_at_8k(corpus, prepared):
    out, parts = prepared
    train = parts["train"].cuts
    expected = {}
    for side, lines in corpus.train_segments.items():
        call = side[:-2]
        for _, start, end, text in lines:
            words = normalize_swbd_words(text.split())
            if words:  # [silence]-only segments are dropped
                utt = f"{side}_{int(100 * start + 0.5):06d}-{int(100 * end + 0.5):06d}"
                expected[utt] = (call, side[-1], " ".join(words))
    assert sorted(c.id for c in train) == sorted(expected) and len(expected) == 32
    for cut in train:
        call, side, text = expected[cut.id]
        parsed = parse_utterance_id(cut.id)
        assert (cut.recording_id, cut.channel, cut.sampling_rate) == (call, "AB".index(side), 8000)
        assert cut.recording.num_channels == 2
        assert cut.supervisions[0].text == text and cut.supervisions[0].speaker == f"{call}-{side}"
        # Kaldi's segments: the id's centiseconds, cut on int(t * 8000) samples
        assert cut.start == int(parsed.start / 100 * 8000) / 8000
        assert cut.end == pytest.approx(int(parsed.end / 100 * 8000) / 8000, abs=1e-9)
    texts = _text(out / "train" / "text")
    assert texts["sw02005-A_000276-000370"] == "it'n it hot"  # [it'n/isn't] it hot
    assert texts["sw02005-A_000035-000175"] == "th- the weather is really hot"
    assert texts["sw02005-A_000908-001069"] == "yuppies like at&t [vocalized-noise]"
    assert texts["sw03012-A_000035-000143"] == "we have two kids"  # asides removed
    utt2spk = _text(out / "train" / "utt2spk")
    assert all(spk == utt.split("_")[0] for utt, spk in utt2spk.items())
    assert (out / "train" / "reco2file_and_channel").read_text().splitlines()[:2] == [
        "sw02001-A sw02001 A", "sw02001-B sw02001 B"]


@pytest.mark.filterwarnings("ignore:You requested a subset of a recording")  # lhotse: a command source
def test_audio_is_read_per_channel(prepared):
    _, parts = prepared
    cut = parts["train_nodup"].cuts[0]
    audio = cut.load_audio()
    assert audio.shape == (1, round(cut.duration * 8000))
    source = cut.recording.sources[0].source.split()[-1]
    both, rate = soundfile.read(source, dtype="float32")
    start = round(cut.start * 8000)
    assert rate == 8000 and abs(audio[0] - both[start: start + audio.shape[1], cut.channel]).max() < 1e-6


def test_train_dev_and_nodup_split(prepared):
    out, parts = prepared
    train_ids = sorted(c.id for c in parts["train"].cuts)
    dev = [c.id for c in parts["train_dev"].cuts]
    nodup = [c.id for c in parts["train_nodup"].cuts]
    assert dev == train_ids[:6]
    assert set(nodup) < set(train_ids[6:]) and not set(nodup) & set(dev)
    texts = _text(out / "train_nodup" / "text")
    all_texts = _text(out / "train" / "text")
    # "uh-huh" is said 7 times, 6 of them after train_dev: max-count 2 keeps few of them, unique texts all stay
    nodev_counts = {t: sum(all_texts[u] == t for u in train_ids[6:]) for t in set(all_texts.values())}
    assert sum(t == "uh-huh" for t in texts.values()) < nodev_counts["uh-huh"]
    assert all(t in texts.values() for t, n in nodev_counts.items() if n == 1)
    assert json.loads((out / "train_nodup" / "report.json").read_text())["kept"] == len(nodup)


def test_eval2000_from_the_stm(corpus, prepared):
    out, parts = prepared
    cuts = parts["eval2000"].cuts
    ids = [c.id for c in cuts]
    # ids from the stm times, truncated (eval2000_data_prep.sh); the IGNORE_TIME_SEGMENT segment has no cut
    reference = corpus.eval2000_transcripts / "2000_hub5_eng_eval_tr" / "reference"
    stm = [line.split() for line in (reference / "hub5e00.english.000405.stm").read_text().splitlines()
           if not line.startswith(";;")]
    expected = sorted(f"{f[0]}-{f[1]}_{int(float(f[3]) * 100):06d}-{int(float(f[4]) * 100):06d}" for f in stm
                      if "IGNORE_TIME_SEGMENT_IN_SCORING" not in f)
    assert ids == expected and len(ids) == 8
    assert {c.recording_id for c in cuts} == {"sw_4390", "en_4156"}
    texts = _text(out / "eval2000" / "text")
    assert texts["sw_4390-A_000035-000170"] == "i think that is right"  # (%HESITATION) left out
    assert texts["sw_4390-B_000582-000778"] == "yeah it was really hot today"  # first alternative
    # segments extended by up to 0.1 s (extend_segments.pl), never into the neighbour
    first = next(c for c in cuts if c.id == "sw_4390-A_000035-000170")
    assert first.start == pytest.approx(0.25) and first.end == pytest.approx(1.80)
    assert (out / "eval2000" / "glm").read_text().startswith(";;")
    assert "IGNORE_TIME_SEGMENT_IN_SCORING" in (out / "eval2000" / "stm").read_text()


def test_dict_directory(prepared):
    out, _ = prepared
    lexicon = [line.split(maxsplit=1) for line in (out / "dict" / "lexicon.txt").read_text().splitlines()]
    words = {w for w, _ in lexicon}
    assert {"!sil", "[noise]", "[laughter]", "[vocalized-noise]", "<unk>", "i"} <= words
    assert {"th-", "-bout", "yuppies", "them"} <= words and not any("[" in w[1:-1] for w in words if w[0] != "[")
    assert ["them", "dh eh m"] in lexicon and ["them", "dh ax m"] in lexicon  # them_1 became a variant
    assert (out / "dict" / "silence_phones.txt").read_text().split() == ["sil", "spn", "nsn", "lau"]
    assert "sil" not in (out / "dict" / "nonsilence_phones.txt").read_text().split()
    from blasr.kaldi.lang.prepare import prepare_lang, read_dict_dir

    lang = prepare_lang(read_dict_dir(out / "dict"), out.parent / "lang", oov="<unk>")  # a valid dict directory
    assert "uh-huh" in lang.real_words


def test_prepare_is_idempotent_and_names_missing_inputs(corpus, prepared, tmp_path):
    out, parts = prepared
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*/cuts.jsonl.gz")}
    again = prepare(out, corpus.swbd_dir, corpus.swbd_transcripts, corpus.eval2000_dir, corpus.eval2000_transcripts,
                    rt03_dir=corpus.rt03_dir, train_dev_size=6, max_duplicates=2)
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/cuts.jsonl.gz")} == stamps
    assert [c.id for c in again["train_nodup"].cuts] == [c.id for c in parts["train_nodup"].cuts]
    with pytest.raises(CorpusError, match="no .*trans.text files"):
        prepare(tmp_path / "x", corpus.swbd_dir, corpus.eval2000_dir)
    with pytest.raises(CorpusError, match="LDC2002T43.*does not exist"):
        prepare(tmp_path / "y", eval2000_dir=corpus.eval2000_dir, eval2000_transcripts=tmp_path)
    assert main(["prepare", "--out", str(tmp_path / "z"), "--swbd-dir", str(tmp_path / "nope"),
                 "--swbd-transcripts", str(corpus.swbd_transcripts)]) == 1


def test_manifests_load_back(prepared):
    out, _ = prepared
    for part in ("train_nodup", "train_dev", "eval2000", "rt03"):
        cuts = CutSet.from_file(out / part / "cuts.jsonl.gz")
        recordings = RecordingSet.from_file(out / part / "recordings.jsonl.gz")
        assert {c.recording_id for c in cuts} == set(recordings.ids)
        assert len(_text(out / part / "segments")) == len(cuts)


def test_fisher_ids_and_normalisation(tmp_path):
    audio, text = make_fake_fisher(tmp_path / "fisher")
    recordings, segments, counts = fisher_segments(audio, text, tmp_path / "work")
    assert list(recordings) == ["fe_03_00001"] and recordings["fe_03_00001"].num_channels == 2
    assert counts == {"segments": 3, "uncertain": 1}  # the line with (( )) is dropped, as Kaldi does
    by_text = {" ".join(s.words): s for s in segments}
    assert set(by_text) == {"[laughter] yeah i think so", "we have two [noise] cats"}
    first = by_text["[laughter] yeah i think so"]
    assert first.id.startswith("fe_03_00001-A-") and parse_utterance_id(first.id).start == int(first.start * 100)
    with pytest.raises(CorpusError, match="LDC2004S13"):
        fisher_segments(text, text, tmp_path / "work2")
