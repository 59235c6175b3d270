"""G.fst: ARPA through kaldilm (checked first: kaldilm aborts the process on bad input), word loops, sentences."""

import gzip
import math

import kaldi_hmm_gmm  # noqa: F401,I001  (before kaldifst: the other order deadlocks at import)
import kaldifst
import numpy as np
import pytest

from blasr.kaldi.decoding.graph import stochasticity
from blasr.kaldi.formats.fst import fst_arrays
from blasr.kaldi.lang.grammar import (
    ArpaError,
    arpa_to_fst,
    check_arpa,
    format_lm,
    sentences_fst,
    word_loop_fst,
    write_g,
)
from blasr.kaldi.lang.lexicon import LangError
from blasr.kaldi.lang.prepare import prepare_lang
from tests.kaldi.tiny_asr import ARPA, LEXICON, SILENCE

LN10 = math.log(10.0)


@pytest.fixture
def lang(tmp_path):
    return prepare_lang(LEXICON, tmp_path / "lang", silence_phones=SILENCE, oov="<unk>")


def write_arpa(tmp_path, text, name="lm.arpa"):
    path = tmp_path / name
    path.write_text(text)
    return path


def arc_from(arrays, state, ilabel):
    arcs = arrays.arcs[arrays.first[state] : arrays.first[state + 1]]
    (arc,) = arcs[arcs["ilabel"] == ilabel]
    return arc


def test_arpa_to_g(tmp_path, lang):
    g, info = arpa_to_fst(write_arpa(tmp_path, ARPA), lang.words)
    assert (info.order, info.ngram_counts, info.ngrams_read, info.num_skipped) == (2, [7, 5], [7, 5], 0)
    arrays = fst_arrays(g)
    w = lang.words.id
    # <s> and </s> become epsilon: no arc reads them; back-off arcs read #0 and write epsilon.
    assert not {w("<s>"), w("</s>")} & set(arrays.arcs["ilabel"].tolist())
    backoff = arrays.arcs[arrays.arcs["ilabel"] == w("#0")]
    assert len(backoff) == 6 and (backoff["olabel"] == 0).all()  # every unigram state but </s>'s backs off
    others = arrays.arcs[arrays.arcs["ilabel"] != w("#0")]
    assert (others["ilabel"] == others["olabel"]).all()
    # From the start state (history <s>): "yes" costs -log10 P(yes | <s>) * ln 10 = 0.3 ln 10.
    yes = arc_from(arrays, arrays.start, w("yes"))
    assert yes["weight"] == pytest.approx(0.3 * LN10, abs=1e-5)
    # P(</s> | no) is the final weight of the state after "yes no".
    after_no = arc_from(arrays, int(yes["nextstate"]), w("no"))["nextstate"]
    assert arrays.final[after_no] == pytest.approx(0.4 * LN10, abs=1e-5)
    assert g.is_ilabel_sorted


def test_gzipped_arpa_and_format_lm(tmp_path, lang):
    path = tmp_path / "lm.arpa.gz"
    with gzip.open(path, "wt") as f:
        f.write(ARPA)
    plain, _ = arpa_to_fst(write_arpa(tmp_path, ARPA), lang.words)
    info = format_lm(lang.lang_dir, path)
    assert info.ngrams_read == [7, 5]
    assert str(lang.read_fst("G.fst")) == str(plain)


@pytest.mark.parametrize(
    "edit, message",
    [
        (("ngram 2=5", "ngram 2=4"), r"lm.arpa:20: the \\data\\ section promises 4 2-grams, the file has more"),
        (("-0.2 no yes", "-0.2 no yes -0.1"), r"lm.arpa:20: invalid 2-gram line: .* \[-0.2 no yes -0.1\]"),
        (("-0.6 yes -0.3", "-0.6x yes -0.3"), r"lm.arpa:9: '-0.6x' is not a number"),
        (("\\end\\", ""), r"expected \\end\\ after the last n-gram section"),
        (("\\2-grams:", "\\3-grams:"), r"lm.arpa:15: unexpected directive, expected \\2-grams:"),
        (("ngram 2=5", "ngram 3=5"), r"lists orders \[1, 3\], not 1..2"),
        (("-0.5 yes no", "-0.5 yes nope"), r"lm.arpa:17: word 'nope' is not in .*words.txt"),
        (("-99 <s> -0.5", "-99 #0 -0.5"), r"lm.arpa:7: word '#0' is not allowed"),
        (("\\data\\", "data"), r"no \\data\\ line: not an ARPA file"),
    ],
)
def test_bad_arpa_files_are_named_not_fatal(tmp_path, lang, edit, message):
    old, new = edit
    assert old in ARPA
    path = write_arpa(tmp_path, ARPA.replace(old, new, 1))
    with pytest.raises(ArpaError, match=message):
        arpa_to_fst(path, lang.words)
    assert not lang.G_path.exists()


def test_unknown_words_skipped_as_kaldi_counted(tmp_path, lang):
    text = ARPA.replace("ngram 2=5", "ngram 2=6").replace("-0.2 no yes", "-0.2 no yes\n-0.2 maybe yes")
    text = text.replace("ngram 1=7", "ngram 1=8").replace("-2.0 <unk>", "-2.0 <unk>\n-2.0 maybe")
    with pytest.raises(ArpaError, match="word 'maybe'"):
        check_arpa(write_arpa(tmp_path, text), lang.words)
    g, info = arpa_to_fst(write_arpa(tmp_path, text), lang.words, unknown_words="skip")
    assert info.unknown_words == {"maybe": 2} and info.skipped == {"word not in words.txt": 2}
    assert info.ngrams_read == [8, 6]
    clean, _ = arpa_to_fst(write_arpa(tmp_path, ARPA, "ok.arpa"), lang.words)
    assert str(g) == str(clean)


def test_ngrams_kaldi_skips_are_counted(tmp_path, lang):
    # Kaldi's arpa2fst leaves out, with a warning, n-grams with <s> inside or </s> before the end ...
    text = ARPA.replace("ngram 2=5", "ngram 2=7").replace(
        "-0.2 no yes", "-0.2 no yes\n-0.3 yes <s>\n-0.3 </s> yes"
    )
    info = check_arpa(write_arpa(tmp_path, text), lang.words)
    assert info.skipped == {"<s> or </s> misplaced": 2}
    # ... and n-grams whose history is no (n-1)-gram.
    trigram = ARPA.replace("ngram 2=5", "ngram 2=5\nngram 3=1")
    trigram = trigram.replace("\\end\\", "\\3-grams:\n-0.1 yeah no yes\n\\end\\")
    info = check_arpa(write_arpa(tmp_path, trigram), lang.words)
    assert info.skipped == {"no (n-1)-gram prefix": 1}  # there is no bigram "yeah no"


def test_word_loop(lang):
    g = word_loop_fst(lang.words)
    arrays = fst_arrays(g)
    assert arrays.num_states == 1 and arrays.num_arcs == len(lang.real_words) == 6
    assert np.allclose(arrays.arcs["weight"], math.log(7)) and arrays.final[0] == pytest.approx(math.log(7))
    assert max(map(abs, stochasticity(g))) < 1e-6
    assert fst_arrays(word_loop_fst(lang.words, ["yes", "no"])).num_arcs == 2
    with pytest.raises(LangError, match="word '#0' is not a word"):
        word_loop_fst(lang.words, ["#0"])


def test_sentences(lang):
    g = sentences_fst([["yes", "no"], ["yes"], "no", ["yes", "no"]], lang.words)
    assert max(map(abs, stochasticity(g))) < 1e-6
    best = kaldifst.shortest_path(g)
    ok, ilabels, _, weight = kaldifst.get_linear_symbol_sequence(best)
    assert ok and [lang.words.symbol(i) for i in ilabels] == ["yes", "no"]
    assert weight.value == pytest.approx(-math.log(0.5), abs=1e-5)  # 2 of the 4 sentences
    with pytest.raises(LangError, match="sentence 1: word 'maybe' is not in"):
        sentences_fst([["yes"], ["maybe"]], lang.words)


def test_write_g_checks_labels(lang):
    write_g(word_loop_fst(lang.words), lang)
    assert lang.G_path.is_file()
    bad = kaldifst.StdVectorFst()
    bad.start = bad.add_state()
    bad.set_final(0, 0.0)
    bad.add_arc(0, kaldifst.StdArc(lang.words.id("<s>"), lang.words.id("<s>"), 0.0, 0))
    with pytest.raises(LangError, match="<s> must not appear in G"):
        write_g(bad, lang)
    bad = kaldifst.StdVectorFst()
    bad.start = bad.add_state()
    bad.add_arc(0, kaldifst.StdArc(99, 99, 0.0, 0))
    with pytest.raises(LangError, match="input label 99 is not in"):
        write_g(bad, lang)


def test_prepare_lang_with_a_grammar(tmp_path):
    arpa = write_arpa(tmp_path, ARPA)
    lang = prepare_lang(LEXICON, tmp_path / "lang", silence_phones=SILENCE, arpa=arpa)
    assert str(lang.read_fst("G.fst")) == str(arpa_to_fst(arpa, lang.words)[0])
    lang = prepare_lang(LEXICON, tmp_path / "lang", silence_phones=SILENCE, sentences=[["yes", "no"]])
    assert fst_arrays(lang.read_fst("G.fst")).num_arcs == 2
    with pytest.raises(LangError, match="at most one"):
        prepare_lang(LEXICON, tmp_path / "lang", silence_phones=SILENCE, arpa=arpa, word_loop=True)
