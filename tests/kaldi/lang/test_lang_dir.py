"""Lang directories: prepare_lang.sh's files, add_lex_disambig.pl, make_lexicon_fst.py, gen_topo.pl, load_lang."""

import math

import kaldi_hmm_gmm  # noqa: F401,I001  (before kaldifst: the other order deadlocks at import)
import numpy as np
import pytest

from blasr.kaldi.formats.fst import fst_arrays
from blasr.kaldi.formats.model import read_topology
from blasr.kaldi.lang.lang_dir import load_lang
from blasr.kaldi.lang.lexicon import LangError, LexiconEntry, add_lex_disambig, read_lexicon
from blasr.kaldi.lang.prepare import make_topology, prepare_lang, read_dict_dir
from blasr.prepare_lang import main
from tests.kaldi.tiny_asr import LEXICON, SILENCE

LN2 = math.log(2.0)

# Kaldi's utils/gen_topo.pl 3 5 2:3 1 (non-silence phones 2 3, silence phone 1), verbatim.
GEN_TOPO_3_5 = """<Topology>
<TopologyEntry>
<ForPhones>
2 3
</ForPhones>
<State> 0 <PdfClass> 0 <Transition> 0 0.75 <Transition> 1 0.25 </State>
<State> 1 <PdfClass> 1 <Transition> 1 0.75 <Transition> 2 0.25 </State>
<State> 2 <PdfClass> 2 <Transition> 2 0.75 <Transition> 3 0.25 </State>
<State> 3 </State>
</TopologyEntry>
<TopologyEntry>
<ForPhones>
1
</ForPhones>
<State> 0 <PdfClass> 0 <Transition> 0 0.25 <Transition> 1 0.25 <Transition> 2 0.25 <Transition> 3 0.25 </State>
<State> 1 <PdfClass> 1 <Transition> 1 0.25 <Transition> 2 0.25 <Transition> 3 0.25 <Transition> 4 0.25 </State>
<State> 2 <PdfClass> 2 <Transition> 1 0.25 <Transition> 2 0.25 <Transition> 3 0.25 <Transition> 4 0.25 </State>
<State> 3 <PdfClass> 3 <Transition> 1 0.25 <Transition> 2 0.25 <Transition> 3 0.25 <Transition> 4 0.25 </State>
<State> 4 <PdfClass> 4 <Transition> 4 0.75 <Transition> 5 0.25 </State>
<State> 5 </State>
</TopologyEntry>
</Topology>
"""


def arcs_of(fst) -> list[tuple[int, int, int, int, float]]:
    """Sorted (src, dst, ilabel, olabel, rounded weight) plus (state, -1, -1, -1, final) rows."""
    arrays = fst_arrays(fst)
    rows = [
        (int(s), int(a["nextstate"]), int(a["ilabel"]), int(a["olabel"]), round(float(a["weight"]), 4))
        for s, a in zip(arrays.source_states(), arrays.arcs, strict=True)
    ]
    rows += [(s, -1, -1, -1, round(float(f), 4)) for s, f in enumerate(arrays.final) if np.isfinite(f)]
    return sorted(rows)


def test_add_lex_disambig_marks_homophones_and_prefixes():
    entries = [LexiconEntry(w, 1.0, tuple(p.split())) for w, p in LEXICON]
    result, max_disambig = add_lex_disambig(entries)
    phones = {e.word: " ".join(e.phones) for e in result}
    # "y e" is a prefix of "y e s"; "n o" is spelled twice: #1, then #2 for the second homophone.
    assert phones == {
        "yes": "y e s", "yeah": "y e #1", "no": "n o #1", "know": "n o #2", "!SIL": "SIL", "<unk>": "SPN",
    }
    assert max_disambig == 2
    assert add_lex_disambig([LexiconEntry("a", 1.0, ("x",))]) == ([LexiconEntry("a", 1.0, ("x",))], 0)


def test_gen_topo_equals_kaldis(tmp_path):
    (tmp_path / "topo").write_text(GEN_TOPO_3_5)
    kaldi = read_topology(tmp_path / "topo")
    ours = make_topology([2, 3], [1], 3, 5)
    assert ours.phone_to_entry == kaldi.phone_to_entry
    assert ours.entries == kaldi.entries
    with pytest.raises(LangError, match="silence states 2"):
        make_topology([2], [1], 3, 2)


def test_prepare_lang_files(tmp_path):
    lang = prepare_lang(LEXICON, tmp_path / "lang", silence_phones=SILENCE, oov="<unk>")
    d = tmp_path / "lang"
    assert (d / "phones.txt").read_text().split("\n")[:-1] == [
        "<eps> 0", "SIL 1", "SPN 2", "e 3", "n 4", "o 5", "s 6", "y 7", "#0 8", "#1 9", "#2 10", "#3 11",
    ]
    # words.txt: <eps>, the words in C-locale order, then #0 <s> </s> (prepare_lang.sh).
    assert (d / "words.txt").read_text().split() == (
        "<eps> 0 !SIL 1 <unk> 2 know 3 no 4 yeah 5 yes 6 #0 7 <s> 8 </s> 9".split()
    )
    phones = {name: (d / "phones" / name).read_text() for name in (
        "silence.csl", "nonsilence.csl", "optional_silence.int", "disambig.int", "context_indep.txt",
        "sets.int", "roots.txt", "wdisambig_phones.int", "wdisambig_words.int", "extra_questions.txt",
    )}
    assert phones == {
        "silence.csl": "1:2\n", "nonsilence.csl": "3:4:5:6:7\n", "optional_silence.int": "1\n",
        "disambig.int": "8\n9\n10\n11\n", "context_indep.txt": "SIL\nSPN\n",
        "sets.int": "1\n2\n3\n4\n5\n6\n7\n",
        "roots.txt": "".join(f"shared split {p}\n" for p in "SIL SPN e n o s y".split()),
        "wdisambig_phones.int": "8\n", "wdisambig_words.int": "7\n", "extra_questions.txt": "",
    }
    assert (d / "oov.txt").read_text() == "<unk>\n" and (d / "oov.int").read_text() == "2\n"
    assert not (d / "G.fst").exists() and not (d / "phones" / "word_boundary.txt").exists()
    assert read_topology(d / "topo").entries == make_topology([3, 4, 5, 6, 7], [1, 2]).entries
    assert (lang.silence, lang.nonsilence, lang.optional_silence) == ([1, 2], [3, 4, 5, 6, 7], 1)
    assert lang.disambig == [8, 9, 10, 11]
    assert lang.word_disambig == 7 and lang.real_words == ["!SIL", "<unk>", "know", "no", "yeah", "yes"]


def test_lexicon_fsts_are_make_lexicon_fst_pys(tmp_path):
    # a = x y, b = x: "x" is a prefix, so b gets #1 in L_disambig; #2 follows the optional silence.
    lang = prepare_lang([("a", "x y"), ("b", "x")], tmp_path, silence_phones=["SIL"])
    sil, x, y, d0, d1, d2 = (lang.phones.id(p) for p in ("SIL", "x", "y", "#0", "#1", "#2"))
    a, b, w0 = lang.words.id("a"), lang.words.id("b"), lang.words.id("#0")
    assert arcs_of(lang.read_fst("L.fst")) == sorted([
        (0, 1, 0, 0, round(LN2, 4)), (0, 2, 0, 0, round(LN2, 4)), (2, 1, sil, 0, 0.0),
        (1, 3, x, a, 0.0), (3, 1, y, 0, round(LN2, 4)), (3, 2, y, 0, round(LN2, 4)),
        (1, 1, x, b, round(LN2, 4)), (1, 2, x, b, round(LN2, 4)), (1, -1, -1, -1, 0.0),
    ])
    assert arcs_of(lang.read_fst("L_disambig.fst")) == sorted([
        (0, 1, 0, 0, round(LN2, 4)), (0, 2, 0, 0, round(LN2, 4)), (2, 3, sil, 0, 0.0), (3, 1, d2, 0, 0.0),
        (1, 4, x, a, 0.0), (4, 1, y, 0, round(LN2, 4)), (4, 2, y, 0, round(LN2, 4)),
        (1, 5, x, b, 0.0), (5, 1, d1, 0, round(LN2, 4)), (5, 2, d1, 0, round(LN2, 4)),
        (1, 1, d0, w0, 0.0), (1, -1, -1, -1, 0.0),  # fstaddselfloops: #0:#0 at the (only) final state
    ])
    assert lang.read_fst("L.fst").is_olabel_sorted and lang.read_fst("L_disambig.fst").is_olabel_sorted


def test_no_optional_silence_and_pronunciation_probabilities(tmp_path):
    lexicon = [("a", 0.5, "x y"), ("a", 1.0, "x"), ("b", 1.0, "y")]
    lang = prepare_lang(lexicon, tmp_path, silence_phones=["SIL"], sil_prob=0.0)
    x, y = lang.phones.id("x"), lang.phones.id("y")
    a, b = lang.words.id("a"), lang.words.id("b")
    assert arcs_of(lang.read_fst("L.fst")) == sorted([
        (0, 1, x, a, round(math.log(2), 4)), (1, 0, y, 0, 0.0), (0, 0, x, a, 0.0), (0, 0, y, b, 0.0),
        (0, -1, -1, -1, 0.0),
    ])


def test_position_dependent_phones(tmp_path):
    lang = prepare_lang([("a", "x y z"), ("b", "x")], tmp_path, silence_phones=["SIL"], position_dependent_phones=True)
    symbols = [s for s, _ in lang.phones]
    assert symbols[:10] == ["<eps>", "SIL", "SIL_B", "SIL_E", "SIL_I", "SIL_S", "x_B", "x_E", "x_I", "x_S"]
    boundary = dict(line.split() for line in (tmp_path / "phones" / "word_boundary.txt").read_text().splitlines())
    assert boundary["SIL"] == "nonword" and boundary["x_S"] == "singleton" and boundary["y_I"] == "internal"
    labels = {int(a["ilabel"]) for a in fst_arrays(lang.read_fst("L.fst")).arcs} - {0}
    assert sorted(lang.phones.symbol(i) for i in labels) == ["SIL", "x_B", "x_S", "y_I", "z_E"]
    questions = (tmp_path / "phones" / "extra_questions.txt").read_text().splitlines()
    assert questions[0] == "x_B y_B z_B" and questions[-1] == "SIL_S"
    assert (tmp_path / "phones" / "sets.txt").read_text().splitlines()[0] == "SIL SIL_B SIL_E SIL_I SIL_S"


def test_prepare_lang_is_idempotent(tmp_path):
    lang_dir = tmp_path / "lang"
    prepare_lang(LEXICON, lang_dir, silence_phones=SILENCE)
    written = {p: p.stat().st_mtime_ns for p in lang_dir.rglob("*")}
    (lang_dir / "L.fst").write_bytes(b"stale")  # not rebuilt: the marker says the inputs are the same
    again = prepare_lang(LEXICON, lang_dir, silence_phones=SILENCE)
    assert (lang_dir / "L.fst").read_bytes() == b"stale" and again.phones.id("#0") == 8
    assert all(p.stat().st_mtime_ns == t for p, t in written.items() if p.name != "L.fst")
    prepare_lang(LEXICON, lang_dir, silence_phones=SILENCE, sil_prob=0.2)  # other inputs: rebuilt
    costs = {round(float(w), 4) for w in fst_arrays(load_lang(lang_dir).read_fst("L.fst")).arcs["weight"]}
    assert costs == {0.0, round(-math.log(0.2), 4), round(-math.log(0.8), 4)}
    (lang_dir / "L.fst").write_bytes(b"stale")
    prepare_lang(LEXICON, lang_dir, silence_phones=SILENCE, sil_prob=0.2, overwrite=True)
    assert (lang_dir / "L.fst").read_bytes() != b"stale"


def test_load_lang_round_trip(tmp_path):
    lang = prepare_lang(LEXICON, tmp_path, silence_phones=SILENCE, oov="<unk>")
    loaded = load_lang(tmp_path)
    for name in ("silence", "nonsilence", "optional_silence", "disambig", "oov"):
        assert getattr(loaded, name) == getattr(lang, name), name
    assert loaded.phones.ids == lang.phones.ids and loaded.words.ids == lang.words.ids
    assert loaded.topology.entries == lang.topology.entries
    assert loaded.word_ids(["yes", "zebra"], map_oov=True) == [6, 2]
    with pytest.raises(KeyError, match="utterance 'u7': word 'zebra' is not in .*words.txt"):
        loaded.word_ids(["yes", "zebra"], "u7")


def test_dict_dir_and_command_line(tmp_path):
    dict_dir = tmp_path / "dict"
    dict_dir.mkdir()
    (dict_dir / "lexicon.txt").write_text("".join(f"{w} {p}\n" for w, p in LEXICON))
    (dict_dir / "silence_phones.txt").write_text("SIL\nSPN\n")
    (dict_dir / "nonsilence_phones.txt").write_text("e\nn\no\ns\ny\n")
    (dict_dir / "optional_silence.txt").write_text("SIL\n")
    assert read_dict_dir(dict_dir).silence_phones == [["SIL"], ["SPN"]]
    assert main([str(dict_dir), str(tmp_path / "lang"), "--oov", "<unk>"]) == 0
    direct = prepare_lang(LEXICON, tmp_path / "direct", silence_phones=SILENCE, oov="<unk>")
    for name in ("phones.txt", "words.txt", "topo", "L.fst", "L_disambig.fst", "phones/disambig.int", "oov.int"):
        assert (tmp_path / "lang" / name).read_bytes() == (direct.lang_dir / name).read_bytes(), name


@pytest.mark.parametrize(
    "lexicon, options, message",
    [
        (
            "yes y e s\nmaybe m ey b iy\n",
            {"nonsilence_phones": ["y", "e", "s"]},
            r"lexicon.txt:2: word 'maybe': phone 'm' is not in the phone set",
        ),
        ("yes y e s\n<s> SIL\n", {}, r"lexicon.txt:2: '<s>' is reserved"),
        ("yes y e s\nhmm\n", {}, r"lexicon.txt:2: word 'hmm' has an empty pronunciation"),
        ("yes y e s\nyes y e s\n", {}, r"lexicon.txt:2: duplicate pronunciation of 'yes' \(first at .*lexicon.txt:1\)"),
        ("yes y e s\n", {"oov": "<unk>"}, r"OOV word '<unk>' is not in the lexicon"),
        ("yes y e s\n", {"optional_silence": "y"}, r"optional silence 'y' is not one of the silence phones"),
        ("yes y e s\n", {"nonsilence_phones": ["y", "e", "s", "SIL"]}, r"'SIL' is both a silence and a non-silence"),
        ("yes y e s\n", {"silence_phones": []}, r"no silence phones"),
    ],
)
def test_bad_lexicons_are_named(tmp_path, lexicon, options, message):
    path = tmp_path / "lexicon.txt"
    path.write_text(lexicon)
    options = {"silence_phones": ["SIL"], **options}
    with pytest.raises(LangError, match=message):
        prepare_lang(path, tmp_path / "lang", **options)
    assert not (tmp_path / "lang" / ".completed").exists()


def test_lexiconp_probabilities_are_checked(tmp_path):
    path = tmp_path / "lexiconp.txt"
    path.write_text("yes 1.0 y e s\nno 1.5 n o\n")
    assert read_lexicon(tmp_path / "lexiconp.txt")[0] == LexiconEntry("yes", 1.0, ("y", "e", "s"))
    with pytest.raises(LangError, match=r"lexiconp.txt:2: word 'no': pronunciation probability 1.5 is not in \(0, 1\]"):
        prepare_lang(path, tmp_path / "lang", silence_phones=["SIL"])
    path.write_text("yes one y e s\n")
    with pytest.raises(LangError, match=r"lexiconp.txt:1: pronunciation probability 'one' is not a number"):
        read_lexicon(path)
