"""The read-speech corpus: text normalisation, OOV dropping, disjoint splits (pure), then a tiny corpus with espeak-ng.

The espeak-ng test is skipped when espeak-ng is not installed (local/install_espeak.sh).
"""

import json
from collections import Counter

import pytest

from blasr.data.espeak import SPLITS
from blasr.data.readspeech import (
    ARPABET,
    ReadSpeechConfig,
    ReadSpeechError,
    TextStats,
    load_cmudict,
    normalise,
    plan_utterances,
    prepare_readspeech,
    split_sentences,
    split_text,
    text_to_sentences,
)
from blasr.kaldi.lang.ngram import perplexity, train_arpa
from blasr.kaldi.lang.prepare import read_dict_dir
from tests.data.conftest import needs_espeak

LEXICON = {w: [("X",)] for w in "and the lord said unto moses speak to children of israel god saw light it was good "
                                  "in beginning created heaven earth lord's".split()}


def test_split_sentences_at_sentence_and_clause_ends():
    assert split_sentences("And God said, Let there be light: and there was light.") == [
        "And God said, Let there be light", "and there was light"]
    assert split_sentences("Who? Me! Yes; no.. ") == ["Who", "Me", "Yes", "no"]
    assert split_sentences(" . ; ") == []


def test_normalise_lower_case_punctuation_apostrophes_and_numbers():
    assert normalise("And the LORD's (holy) word, saith he") == ("and", "the", "lord's", "holy", "word", "saith",
                                                                "he")
    assert normalise("the brethren' house-top 'tis") == ("the", "brethren", "house", "top", "tis")
    assert normalise("in the year 1611 of") is None  # numbers: the sentence is dropped
    assert normalise("\u201cquoted\u201d \u2014 text") == ("quoted", "text")


def test_oov_sentences_are_dropped_and_counted():
    stats = TextStats()
    passages = ["In the beginning God created the heaven and the earth.",
                "And the LORD spake unto Moses, saying: Speak unto the children of Israel.",
                "And God saw the light, that it was good; in 7 days."]
    sentences = text_to_sentences(passages, LEXICON, stats)
    assert stats.passages == 3 and stats.sentences == 5
    assert stats.dropped_number == 1  # "in 7 days"
    assert stats.dropped_oov == 2  # "spake ... saying" and "that" (not in the toy lexicon)
    assert stats.oov_words == Counter({"spake": 1, "saying": 1, "that": 1})
    assert stats.kept == 2
    assert sentences[0] == [("in", "the", "beginning", "god", "created", "the", "heaven", "and", "the", "earth")]
    assert sentences[1] == [("speak", "unto", "the", "children", "of", "israel")]
    assert sentences[2] == []
    assert stats.summary()["oov_word_tokens"] == 3


def test_cmudict_lexicon_has_the_39_phones_without_stress():
    lexicon = load_cmudict()
    assert len(lexicon) > 100_000
    assert ("HH", "EH", "V", "AH", "N") in lexicon["heaven"]
    phones = {p for prons in lexicon.values() for pron in prons for p in pron}
    assert phones == set(ARPABET) and len(ARPABET) == 39
    assert all(len(set(prons)) == len(prons) for prons in lexicon.values())  # stress variants merged


def _toy_passages(n=400):
    """Passages of 2 sentences each over a 60-word vocabulary, every sentence distinct."""
    words = [f"w{i}" for i in range(60)]
    return [[tuple(words[(p * 7 + k * 3 + j) % 60] for j in range(4 + (p + k) % 6)) + (f"w{p % 60}",)
             for k in range(2)] for p in range(n)]


def test_split_text_disjoint_closed_vocabulary_and_hours():
    passages = _toy_passages()
    config = ReadSpeechConfig(seed=3, hours=0.02, num_dev=20, num_test=30, min_words=4, max_words=12)
    split = split_text(passages, config)
    assert len(split.dev) == 20 and len(split.test) == 30
    held = set(split.dev) | set(split.test)
    assert len(held) == 50  # distinct sentences
    assert held.isdisjoint(split.lm_text) and held.isdisjoint(split.train)
    assert set(split.train) <= set(split.lm_text) and len(set(split.train)) == len(split.train)
    assert all(4 <= len(s) <= 12 for s in split.dev + split.test + split.train)
    assert {w for s in split.dev + split.test for w in s} <= split.vocabulary  # closed vocabulary
    seconds = sum(config.seconds_per_utterance(len(s)) for s in split.train)
    assert 0.02 * 3600 <= seconds < 0.02 * 3600 + config.seconds_per_utterance(12)
    assert split == split_text(passages, config)  # seeded
    assert split_text(passages, ReadSpeechConfig(seed=4, hours=0.02, num_dev=20, num_test=30)).dev != split.dev


def test_split_text_needs_enough_sentences():
    with pytest.raises(ReadSpeechError, match="dev / test sentences"):
        split_text(_toy_passages(10), ReadSpeechConfig(num_dev=200, num_test=200))


def test_plan_splits_speakers_and_ids():
    config = ReadSpeechConfig(seed=1)
    sentences = {"train": [("a", "b")] * 5, "dev": [("c",)] * 2, "test": [("d",)] * 3}
    speakers = {"train": ["en-gb_m1", "en-gb_m2"], "dev": ["en-us_f1"], "test": ["en-us_m3", "en-us_m4"]}
    plan = plan_utterances(config, sentences, speakers)
    assert [u.split for u in plan] == ["train"] * 5 + ["dev"] * 2 + ["test"] * 3
    for u in plan:
        assert u.speaker in speakers[u.split] and u.id.startswith(u.speaker + "-")
    assert plan == plan_utterances(config, sentences, speakers)


def test_lm_training_and_perplexity(tmp_path):
    text = tmp_path / "text"
    text.write_text("the lord said\nthe lord spake\nmoses said unto the lord\n" * 3)
    info = train_arpa(text, tmp_path / "lm.arpa", order=3)
    assert info.ngrams[0] == 8  # 6 words, <s>, </s>
    assert "\\3-grams:" in (tmp_path / "lm.arpa").read_text()
    stats = perplexity(tmp_path / "lm.arpa", ["the lord said", "moses spake"])
    assert stats["num_sentences"] == 2 and stats["num_oov"] == 0 and 1 < stats["ppl"] < 20


# -- a tiny corpus made with espeak-ng -------------------------------------------------------------


@needs_espeak
def test_tiny_corpus(tmp_path):
    # 60 passages over a dozen words (a closed vocabulary), one with a number, one with a word CMUdict lacks
    subjects, verbs, objects = ["The lord", "Moses", "The people", "God"], ["saw", "made", "called"], \
        ["the light", "the earth", "the waters", "the heaven", "the day"]
    passages = [f"{subjects[i % 4]} {verbs[i % 3]} {objects[i % 5]}; and {subjects[(i + 1) % 4].lower()} "
                f"{verbs[(i + 2) % 3]} {objects[(i + 3) % 5]}." for i in range(60)]
    passages += ["And God made 2 lights.", "The xyzzyq saw the light."]
    text = tmp_path / "text.txt"
    text.write_text("\n".join(passages) + "\n")
    config = ReadSpeechConfig(seed=0, hours=0.004, num_dev=2, num_test=2, num_dev_speakers=1, num_test_speakers=1,
                              min_words=3, max_words=12, text=str(text), voices=("en-gb", "en-us"))
    cuts = prepare_readspeech(tmp_path / "corpus", config, num_jobs=2, progress=False)
    out = tmp_path / "corpus"
    assert len(cuts["dev"]) == 2 and len(cuts["test"]) == 2 and len(cuts["train"]) >= 1
    texts, speakers = {}, {}
    for split in SPLITS:
        texts[split] = {line.split(maxsplit=1)[1] for line in (out / split / "text").read_text().splitlines()}
        speakers[split] = {line.split()[1] for line in (out / split / "utt2spk").read_text().splitlines()}
        for cut in cuts[split]:
            assert cut.sampling_rate == 16000 and cut.supervisions[0].text in texts[split]
    assert speakers["train"].isdisjoint(speakers["dev"] | speakers["test"])
    assert texts["train"].isdisjoint(texts["dev"] | texts["test"])
    lm_text = set((out / "lm" / "text").read_text().splitlines())
    assert lm_text.isdisjoint(texts["dev"] | texts["test"]) and texts["train"] <= lm_text
    report = json.loads((out / "report.json").read_text())
    assert report["text"]["dropped_number"] == 1 and report["text"]["dropped_oov"] == 1
    dict_dir = read_dict_dir(out / "dict")
    vocab = (out / "lm" / "vocab").read_text().split()
    assert sorted({e.word for e in dict_dir.lexicon}) == vocab
    assert {p for e in dict_dir.lexicon for p in e.phones} <= set(ARPABET)
    # the same settings again only load the corpus
    again = prepare_readspeech(tmp_path / "corpus", config, num_jobs=1, progress=False)
    assert sorted(c.id for c in again["train"]) == sorted(c.id for c in cuts["train"])
