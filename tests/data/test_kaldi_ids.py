"""Kaldi utterance ids (rounded and truncated centiseconds) and the join of Kaldi ids to cut ids."""

import pytest

from blasr.data.kaldi_ids import ROUND, TRUNCATE, centiseconds, join_kaldi_ids, parse_utterance_id, utterance_id


def test_ids_round_like_swbd1_data_prep_and_truncate_like_eval2000():
    # swbd1_data_prep.sh: printf("%06.0f", int(100 * t + 0.5)); the ms98 times of sw2001A-ms98-a-0002
    assert utterance_id("sw02001", "A", 0.977625, 11.561375) == "sw02001-A_000098-001156"
    # double arithmetic as in awk: 100 * 0.145 + 0.5 = 14.999999999999998
    assert centiseconds(0.145, ROUND) == 14 and centiseconds(0.155, ROUND) == 16
    # eval2000 / rt03: awk %06d of t * 100 truncates; 1.15 * 100 = 114.99999999999999
    assert centiseconds(1.15, TRUNCATE) == 114 and centiseconds(301.85, TRUNCATE) == 30185
    assert utterance_id("en_4156", "B", 301.85, 302.48, TRUNCATE) == "en_4156-B_030185-030248"
    assert utterance_id("fe_03_00001", "A", 7.38, 8.78, TRUNCATE, separator="-") == "fe_03_00001-A-000738-000877"
    with pytest.raises(ValueError, match="side must be 'A' or 'B'"):
        utterance_id("sw02001", "C", 0, 1)


def test_parse_ids_of_every_corpus():
    assert parse_utterance_id("sw02001-A_000098-001156") == ("sw02001", "A", 98, 1156)
    assert parse_utterance_id("en_4156-B_030185-030248") == ("en_4156", "B", 30185, 30248)
    assert parse_utterance_id("fe_03_00001-A-000738-000877") == ("fe_03_00001", "A", 738, 877)
    assert parse_utterance_id("sw02001-A") is None
    assert parse_utterance_id("utt1") is None


def test_join_by_call_side_and_time():
    cuts = ["sw02001-A_000098-001156", "sw02001-A_001200-001500", "sw02001-B_000100-000300",
            "sw02005-A_000010-000090"]
    kaldi = [
        "sw02001-A_000098-001156",  # the same id
        "sw02001-A_001201-001499",  # both ends 1 cs off: within the tolerance
        "sw02001-B_000100-000302",  # the end 2 cs off: no
        "sw02005-B_000010-000090",  # another side
        "sw09999-A_000010-000090",  # another call
        "sp1.1-sw02001-A_000098-001156",  # speed-perturbed: its call is not ours
        "garbage",
    ]
    result = join_kaldi_ids(cuts, kaldi, tolerance=1)
    assert result.mapping == {"sw02001-A_000098-001156": "sw02001-A_000098-001156",
                              "sw02001-A_001200-001500": "sw02001-A_001201-001499"}
    assert (result.exact, result.approximate) == (1, 1)
    reasons = dict(result.unmatched)
    assert reasons["sw02001-B_000100-000302"] == "no cut of sw02001-B within 1 cs"
    assert reasons["sw02005-B_000010-000090"] == "no cut of call sw02005 side B"
    assert reasons["sw09999-A_000010-000090"] == "no cut of call sw09999 side A"
    assert "no cut of call sp1.1-sw02001" in reasons["sp1.1-sw02001-A_000098-001156"]
    assert reasons["garbage"].startswith("not a <call>-<side>")
    assert len(result.unmatched) == 5 and not result.displaced
    assert "2 of 4 cuts have no Kaldi utterance" in result.summary(len(cuts))
    # a wider tolerance takes the 2 cs one too
    assert "sw02001-B_000100-000300" in join_kaldi_ids(cuts, kaldi, tolerance=2).mapping


def test_join_keeps_the_closest_of_two_kaldi_ids():
    cuts = ["sw02001-A_000100-000200"]
    result = join_kaldi_ids(cuts, ["sw02001-A_000101-000201", "sw02001-A_000100-000201"], tolerance=1)
    assert result.mapping == {"sw02001-A_000100-000200": "sw02001-A_000100-000201"}
    assert result.displaced == [("sw02001-A_000101-000201", "cut sw02001-A_000100-000200 is closer to "
                                                            "sw02001-A_000100-000201")]
    exact_wins = join_kaldi_ids(cuts, ["sw02001-A_000100-000201", "sw02001-A_000100-000200"])
    assert exact_wins.mapping == {"sw02001-A_000100-000200": "sw02001-A_000100-000200"} and exact_wins.exact == 1
