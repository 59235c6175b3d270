import pytest

from blasr.kaldi.scoring.wer import (
    ErrorCounts,
    best_setting,
    per_utterance_details,
    read_text,
    score,
    subset_counts,
    write_text,
)

REFS = {
    "sw_1": "the cat sat on the mat".split(),
    "sw_2": "hello world".split(),
    "en_1": "yeah i know".split(),
}
HYPS = {
    "sw_1": "the cat sat on mat".split(),  # 1 deletion
    "sw_2": "hello big world".split(),  # 1 insertion
    "en_1": "yeah you know".split(),  # 1 substitution
}


def test_counts_by_hand():
    result = score(REFS, HYPS)
    t = result.total
    assert (t.ref_words, t.insertions, t.deletions, t.substitutions) == (11, 1, 1, 1)
    assert t.wer == pytest.approx(300 / 11)
    assert t.kaldi_line("dev") == "%WER 27.27 [ 3 / 11, 1 ins, 1 del, 1 sub ] dev"
    assert result.per_utterance["sw_2"].insertions == 1 and result.per_utterance["sw_2"].ref_words == 2
    assert t.utterances == 3 and t.utterances_with_errors == 3


def test_missing_and_extra_are_reported_not_dropped():
    hyps = {"sw_1": REFS["sw_1"], "zz_9": ["stray"]}
    result = score(REFS, hyps)
    assert result.missing == ["sw_2", "en_1"] and result.extra == ["zz_9"]
    # missing hypotheses count as deletions of every reference word
    assert result.total.deletions == 5 and result.total.errors == 5


def test_ignored_words_and_subsets():
    refs = {"sw_1": ["[noise]", "a", "b"], "en_1": ["c", "uh"]}
    hyps = {"sw_1": ["a", "b", "[laughter]"], "en_1": ["d"]}
    result = score(refs, hyps, ignore={"[noise]", "[laughter]", "uh"})
    assert result.total.ref_words == 3 and result.total.errors == 1
    halves = subset_counts(result, lambda utt: utt.split("_")[0])
    assert halves["sw"].errors == 0 and halves["en"].substitutions == 1 and halves["en"].ref_words == 1
    assert subset_counts(result, {"sw_1": "a", "en_1": "a"})["a"].ref_words == 3


def test_best_setting_and_kaldi_line():
    sweep = {
        (10, 0.0): ErrorCounts(100, 5, 5, 5),
        (12, 0.5): ErrorCounts(100, 2, 3, 4),
        (14, 1.0): ErrorCounts(100, 1, 6, 4),
    }
    key, counts = best_setting(sweep)
    assert key == (12, 0.5) and counts.wer == 9.0
    assert counts.kaldi_line("wer_12_0.5") == "%WER 9.00 [ 9 / 100, 2 ins, 3 del, 4 sub ] wer_12_0.5"
    with pytest.raises(ValueError):
        best_setting({})


def test_per_utterance_details():
    lines = per_utterance_details(score({"u": ["a", "b", "c"]}, {"u": ["a", "x", "c", "d"]}))
    assert [line.split() for line in lines] == [
        ["u", "ref", "a", "b", "c", "***"],
        ["u", "hyp", "a", "x", "c", "d"],
        ["u", "op", "C", "S", "C", "I"],
        ["u", "#csid", "2", "1", "1", "0"],
    ]


def test_text_round_trip_and_duplicates(tmp_path):
    path = tmp_path / "text"
    write_text(REFS, path)
    assert read_text(path) == REFS
    path.write_text("u1 a b\nu1 c\n")
    with pytest.raises(ValueError, match="text:2: utterance 'u1' appears twice"):
        read_text(path)
