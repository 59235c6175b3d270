"""hubscr-style scoring: glm rules, optionally deletable words, fragments, alternations, the Hub5'00 halves."""

import json

import pytest

from blasr.hub5 import main
from blasr.kaldi.scoring.hub5 import align, hypothesis_words, read_glm, reference_slots, score_hub5, stm_references
from blasr.kaldi.scoring.results import hub5_table

GLM = """;; a glm in NIST's format
* name "test.glm"
* case_sensitive = 'F'
I'M => { I'M / I AM } / [ ] __ [ ]
ALRIGHT => ALL RIGHT / [ ] __ [ ]   ;; a trailing comment
OKAY => { OK / OKAY / @ } / [ ] __ [ ]
UH => %HESITATION / [ ] __ [ ]
FOO => BAR / [ ] __ BAZ
;; INPUT_DEPENDENT_APPLICATION = "ctm"
GONNA => GOING TO / [ ] __ [ ]
"""


@pytest.fixture
def glm(tmp_path):
    path = tmp_path / "test.glm"
    path.write_text(GLM)
    return read_glm(path)


def counts(ref, hyp, glm=None):
    c = align(reference_slots(ref, glm), hypothesis_words(hyp.split(), glm))
    return c.ref_words, c.substitutions, c.deletions, c.insertions


def test_glm_rules_sections_and_unsupported_contexts(glm):
    assert [(r.lhs, r.alternatives) for r in glm.rules][:3] == [
        (("i'm",), (("i'm",), ("i", "am"))), (("alright",), (("all", "right"),)),
        (("okay",), (("ok",), ("okay",), ()))]
    gonna = glm.rules[-1]
    assert gonna.lhs == ("gonna",) and gonna.hyp and not gonna.ref  # a ctm-only section
    assert len(glm.skipped) == 1 and "context other than [ ] __ [ ]" in glm.skipped[0]


@pytest.mark.parametrize(
    ("ref", "hyp", "expected"),
    [
        ("HELLO WORLD", "hello world", (2, 0, 0, 0)),
        ("HELLO WORLD", "hello there world", (2, 0, 0, 1)),
        ("HELLO WORLD", "", (2, 0, 2, 0)),
        ("", "extra words", (0, 0, 0, 2)),
        # optionally deletable: free when deleted, and then not counted
        ("(%HESITATION) I DON'T KNOW", "i don't know", (3, 0, 0, 0)),
        ("(UH) HI", "hi", (1, 0, 0, 0)),
        ("(WELL) HI", "well hi", (2, 0, 0, 0)),
        # sclite's weights: an optional word left out + an insertion (3) beats a substitution (4)
        ("(%HESITATION) HI", "so hi", (1, 0, 0, 1)),
        ("HELLO HI", "so hi", (2, 1, 0, 0)),
        # hypothesis filter: hesitations, noises, <unk> and partial words are not scored
        ("I KNOW", "uh i [noise] know um <unk> kn-", (2, 0, 0, 0)),
        # alternations and fragments
        ("{ YEAH / YES } OKAY", "yes okay", (2, 0, 0, 0)),
        ("{ YEAH / YES } OKAY", "yep okay", (2, 1, 0, 0)),
        ("TH- THE DOG", "the dog", (2, 0, 0, 0)),
        ("TH- THE DOG", "this the dog", (3, 0, 0, 0)),
        ("-BOUT IT", "about it", (2, 0, 0, 0)),
        # -dh: hyphenated words are split on both sides
        ("WELL-KNOWN FACT", "well known fact", (3, 0, 0, 0)),
    ],
)
def test_alignment_counts(ref, hyp, expected):
    assert counts(ref, hyp) == expected


def test_glm_on_both_sides(glm):
    assert counts("I'M ALRIGHT", "i am all right", glm) == (4, 0, 0, 0)
    assert counts("I'M ALRIGHT", "i'm alright", glm) == (3, 0, 0, 0)
    assert counts("OKAY I'M HERE", "i am here", glm) == (3, 0, 0, 0)  # OKAY may map to nothing
    assert counts("I'M GOING TO GO", "i'm gonna go", glm) == (4, 0, 0, 0)  # hypothesis-only rule
    assert counts("I'M GONNA GO", "i'm going to go", glm) == (3, 1, 0, 1)  # not applied to the reference
    assert hypothesis_words("OK I'M gonna".split(), glm) == ["ok", "i'm", "going", "to"]


def test_stm_scoring_per_half(tmp_path, glm):
    stm = tmp_path / "test.stm"
    stm.write_text(";; header\n"
                   "sw_4390 A sw_4390_A 1.15 2.00 <O,en,M,male> (%HESITATION) I'M ALRIGHT\n"
                   "sw_4390 B sw_4390_B 2.50 3.00 <O,en,F,female> YES\n"
                   "sw_4390 A sw_4390_A 4.00 4.50 <O,en,M,male> IGNORE_TIME_SEGMENT_IN_SCORING\n"
                   "en_4156 A en_4156_A 0.35 1.98 <O,en,M,male> OKAY MY KIDS PLAY SOCCER\n")
    references = stm_references(stm)
    # ids as the data preparation makes them (truncated centiseconds: 1.15 * 100 = 114.999...)
    assert sorted(references) == ["en_4156-A_000035-000198", "sw_4390-A_000114-000200", "sw_4390-B_000250-000300"]
    hyps = {"sw_4390-A_000114-000200": "uh i am all right".split(), "en_4156-A_000035-000198": "my kids soccer".split(),
            "sw_4390-X_1": ["stray"]}
    score = score_hub5(references, hyps, glm, {"swbd": "sw_", "callhome": "en_"})
    swbd, callhome = score.subsets["swbd"], score.subsets["callhome"]
    assert (swbd.ref_words, swbd.errors, swbd.deletions) == (5, 1, 1)  # i am all right + YES deleted
    assert (callhome.ref_words, callhome.errors) == (4, 1)  # OKAY free (may be nothing), PLAY deleted
    assert score.total.errors == 2 and score.total.ref_words == 9
    assert score.average == pytest.approx((20.0 + 25.0) / 2)
    assert score.missing == ["sw_4390-B_000250-000300"] and score.extra == ["sw_4390-X_1"]
    assert score.lines()[-1] == "%WER 22.50 avg (swbd callhome)"


def test_cli_writes_the_halves_and_the_table(tmp_path):
    stm = tmp_path / "stm"
    stm.write_text("sw_1 A sw_1_A 0.00 1.00 <o> HELLO WORLD\nen_2 B en_2_B 0.00 1.00 <o> GOOD MORNING\n")
    decode = tmp_path / "sys" / "decode_eval2000"
    decode.mkdir(parents=True)
    (decode / "text").write_text("sw_1-A_000000-000100 hello world\nen_2-B_000000-000100 good evening\n")
    assert main(["score", "--hyp", str(decode / "text"), "--stm", str(stm), "--subset", "swbd=sw_",
                 "--subset", "callhome=en_", "--out", str(decode)]) == 0
    assert (decode / "wer_swbd").read_text().startswith("%WER 0.00 [ 0 / 2,")
    assert (decode / "wer_callhome").read_text().startswith("%WER 50.00 [ 1 / 2,")
    assert (decode / "wer").read_text().startswith("%WER 25.00 [ 1 / 4,")
    assert json.loads((decode / "hub5.json").read_text())["average"] == 25.0
    table = hub5_table([("sys", tmp_path / "sys")], "eval2000")
    assert table.splitlines()[2] == "| sys | - | - | 25.00 | 0.00 | 50.00 | 25.00 |"
    assert main(["score", "--hyp", str(decode / "text"), "--stm", str(stm), "--subset", "bad",
                 "--out", str(decode)]) == 1


STM = (";; two channels of sw_1, one of en_2; a segment to ignore\n"
       "sw_1 A sw_1_A 0.00 2.00 <o,en,m> HELLO THERE (%HESITATION) WORLD\n"
       "sw_1 A sw_1_A 2.00 3.00 <o,en,m> IGNORE_TIME_SEGMENT_IN_SCORING\n"
       "sw_1 A sw_1_A 3.00 5.00 <o,en,m> I'M FINE\n"
       "sw_1 B sw_1_B 1.00 2.50 <o,en,f> YES\n"
       "en_2 A en_2_A 0.50 1.50 <o,en,f> GOOD MORNING\n")
CTM = (";; file channel start duration word\n"
       "sw_1 1 0.10 0.40 hello\n"          # midpoint 0.30: segment 1
       "sw_1 1 1.90 0.30 world\n"          # 2.05: in the ignored segment (dropped), so WORLD is deleted
       "sw_1 1 0.60 0.50 there\n"          # out of order in the file: sorted by time
       "sw_1 1 2.40 0.20 noise\n"          # ignored segment
       "sw_1 1 3.10 0.30 i\n"
       "sw_1 1 3.50 0.30 am\n"
       "sw_1 1 4.10 0.40 fine 0.9\n"
       "sw_1 1 5.40 0.20 stray\n"          # after every segment: an insertion in sw_1-A_outside
       "sw_1 2 0.20 0.30 um\n"             # before sw_1 B's segment (outside), and a hesitation: filtered out
       "sw_1 2 1.20 0.30 yeah\n"           # YES substituted
       "sw_1 2 2.40 0.20 right\n"          # midpoint 2.50 = the segment's end: outside (end excluded)
       "sw_9 A 0.00 1.00 unknown\n")       # a file the stm does not have: not scored
# en_2 has no words in the ctm: its segment is missing (all deletions)


def test_ctm_words_go_to_stm_segments_by_midpoint(tmp_path, glm):
    from blasr.kaldi.scoring.hub5 import ctm_hypotheses
    (tmp_path / "stm").write_text(STM)
    (tmp_path / "ctm").write_text(CTM)
    assignment = ctm_hypotheses(tmp_path / "ctm", tmp_path / "stm")
    assert assignment.hypotheses == {
        "sw_1-A_000000-000200": ["hello", "there"], "sw_1-A_000300-000500": ["i", "am", "fine"],
        "sw_1-A_outside": ["stray"], "sw_1-B_000100-000250": ["yeah"], "sw_1-B_outside": ["um", "right"],
        "sw_9-A": ["unknown"]}
    assert (assignment.outside, assignment.ignored, assignment.unscored) == (3, 2, 1)
    assert assignment.references["sw_1-A_outside"] == "" and "en_2-A_000050-000150" in assignment.references
    score = score_hub5(assignment.references, assignment.hypotheses, glm, {"swbd": "sw_", "callhome": "en_"})
    swbd = score.subsets["swbd"]
    # HELLO THERE WORLD: 1 del; I'M FINE vs i am fine (glm): 0; YES vs yeah: 1 sub; stray, right: 2 ins
    assert (swbd.ref_words, swbd.deletions, swbd.substitutions, swbd.insertions) == (7, 1, 1, 2)
    assert (score.subsets["callhome"].ref_words, score.subsets["callhome"].deletions) == (2, 2)
    assert score.missing == ["en_2-A_000050-000150"] and score.extra == ["sw_9-A"]
    assert score.total.errors == 6 and score.total.ref_words == 9


def test_cli_scores_a_ctm(tmp_path, capsys):
    (tmp_path / "stm").write_text(STM)
    (tmp_path / "ctm").write_text(CTM)
    out = tmp_path / "score"
    assert main(["score", "--ctm", str(tmp_path / "ctm"), "--stm", str(tmp_path / "stm"), "--subset", "swbd=sw_",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    # no glm: I'M FINE vs i am fine is 1 sub + 1 ins, and I'M counts as one reference word
    assert "%WER 100.00 [ 6 / 6, 3 ins, 1 del, 2 sub ] swbd" in printed
    assert "3 ctm words lie outside every stm segment (insertions, once filtered)" in printed
    assert (out / "wer").read_text().startswith("%WER 100.00 [ 8 / 8,")  # + en_2's 2 deletions
    assert main(["score", "--ctm", str(tmp_path / "ctm"), "--text", str(tmp_path / "stm"), "--out", str(out)]) == 1
