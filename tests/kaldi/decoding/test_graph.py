"""HCLG as mkgraph.sh builds it: no disambiguation symbols left, Kaldi's scales, stochastic when it should be."""

import math

import kaldi_hmm_gmm  # noqa: F401,I001  (before kaldifst: the other order deadlocks at import)
import kaldifst
import numpy as np
import pytest

from blasr.kaldi.decoding.graph import (
    add_word_penalty,
    compose_clg,
    compose_lg,
    make_graph,
    make_hclg,
    relabel_input,
    stochasticity,
)
from blasr.kaldi.formats.fst import fst_arrays, read_fst
from blasr.kaldi.formats.tree import ConstantEventMap, ContextDependency
from blasr.kaldi.lang.lexicon import LangError
from blasr.kaldi.lang.prepare import prepare_lang
from tests.kaldi.tiny_asr import ARPA, LEXICON, SILENCE, monophone_model


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("graph")
    (root / "lm.arpa").write_text(ARPA)
    lang = prepare_lang(LEXICON, root / "lang", silence_phones=SILENCE, oov="<unk>", arpa=root / "lm.arpa")
    loop = prepare_lang(LEXICON, root / "loop", silence_phones=SILENCE, word_loop=True)
    tree, model = monophone_model(lang)
    return root, lang, loop, tree, model


def test_graph_directory(world):
    root, lang, _, tree, model = world
    graph = make_graph(lang, tree, model, root / "graph")
    d = root / "graph"
    assert (d / "words.txt").read_bytes() == (lang.lang_dir / "words.txt").read_bytes()
    assert (d / "phones" / "disambig.int").read_text() == "8\n9\n10\n11\n"
    assert (d / "phones" / "silence.csl").read_text() == "1:2\n" and (d / "num_pdfs").read_text() == "25\n"
    hclg = read_fst(graph.hclg_path)
    arrays = fst_arrays(hclg)
    assert (graph.num_states, graph.num_arcs) == (arrays.num_states, arrays.num_arcs)
    ilabels, olabels = arrays.arcs["ilabel"], arrays.arcs["olabel"]
    # Input: transition-ids only (the disambiguation ids above them are gone); every pdf is reachable.
    assert ilabels.max() <= model.num_transition_ids and ilabels.min() >= 0
    assert set(model.pdf[ilabels[ilabels > 0]]) == set(range(model.num_pdfs))
    # Output: words only, never #0, <s>, </s>; the LM's words (not !SIL, which G does not know).
    words = {lang.words.symbol(i) for i in olabels[olabels > 0]}
    assert words == {"yes", "yeah", "no", "know", "<unk>"}
    assert arrays.start >= 0 and np.isfinite(arrays.final).any()
    assert hclg.is_ilabel_sorted


def test_self_loops_carry_kaldis_scale(world):
    root, _, loop, tree, model = world
    arrays = fst_arrays(make_graph(loop, tree, model, root / "loop_graph").read())
    sources = arrays.source_states()
    loops = model.is_self_loop[arrays.arcs["ilabel"]] & (arrays.arcs["ilabel"] > 0)
    assert loops.any() and (arrays.arcs["nextstate"][loops] == sources[loops]).all()  # reorder=true: real loops
    # A non-silence state's self-loop has probability 0.75; add-self-loops scales its log by 0.1.
    nonsil = loops & np.isin(model.phone[arrays.arcs["ilabel"]], loop.nonsilence)
    assert np.allclose(arrays.arcs["weight"][nonsil], -0.1 * math.log(0.75), atol=1e-5)


def test_stochastic_with_unit_scales(world):
    root, _, loop, tree, model = world
    # mkgraph.sh checks fstisstochastic only with both scales 1 (a word loop G is stochastic).
    unit = make_graph(loop, tree, model, root / "unit", self_loop_scale=1.0)
    low, high = stochasticity(unit.read())
    assert abs(low) < 1e-3 and abs(high) < 1e-3
    low, high = stochasticity(make_graph(loop, tree, model, root / "scaled").read())
    assert high > 0.1  # self-loop scale 0.1: not stochastic, as Kaldi warns


def test_make_graph_is_idempotent(world, tmp_path):
    _, lang, _, tree, model = world
    make_graph(lang, tree, model, tmp_path)
    written = (tmp_path / "HCLG.fst").stat().st_mtime_ns
    again = make_graph(lang, tree, model, tmp_path)
    assert (tmp_path / "HCLG.fst").stat().st_mtime_ns == written and again.num_arcs > 0
    rebuilt = make_graph(lang, tree, model, tmp_path, self_loop_scale=1.0)  # other inputs
    assert (tmp_path / "HCLG.fst").stat().st_mtime_ns != written and rebuilt.num_arcs == again.num_arcs


def test_monophone_context_is_a_renumbering(world):
    _, lang, _, tree, _ = world
    lg = compose_lg(lang.read_fst("L_disambig.fst"), lang.read_fst("G.fst"))
    clg, ilabels = compose_clg(lg, tree, lang.disambig)
    assert ilabels[0] == [] and all(len(window) == 1 for window in ilabels[1:])
    phones = sorted(w[0] for w in ilabels[1:] if w[0] > 0)
    disambig = sorted(-w[0] for w in ilabels[1:] if w[0] < 0)
    assert phones == sorted(lang.silence + lang.nonsilence)
    assert set(disambig) <= set(lang.disambig) and lang.phones.id("#0") in disambig  # G's back-off symbol
    clg_arrays, lg_arrays = fst_arrays(clg), fst_arrays(lg)
    assert (clg_arrays.num_arcs, clg_arrays.num_states) == (lg_arrays.num_arcs, lg_arrays.num_states)


def test_relabel_and_word_penalty():
    fst = kaldifst.StdVectorFst()
    fst.start = fst.add_state()
    fst.add_state()
    fst.add_arc(0, kaldifst.StdArc(0, 8, 0.25, 1))  # output labels unsorted: the composition must still see both
    fst.add_arc(0, kaldifst.StdArc(3, 7, 0.5, 1))
    fst.add_arc(1, kaldifst.StdArc(2, 0, 1.0, 1))
    fst.set_final(1, 0.0)
    relabelled = fst_arrays(relabel_input(fst, np.array([0, 10, 0, 30])))
    rows = sorted(zip(relabelled.source_states().tolist(), relabelled.arcs.tolist(), strict=True))
    assert rows == [(0, (0, 8, 0.25, 1)), (0, (30, 7, 0.5, 1)), (1, (0, 0, 1.0, 1))]
    with pytest.raises(LangError, match="input labels up to 3"):
        relabel_input(fst, np.array([0, 1, 2]))
    penalised = fst_arrays(add_word_penalty(fst, 1.5))
    weights = {(int(a["ilabel"]), int(a["olabel"])): float(a["weight"]) for a in penalised.arcs}
    assert weights == {(3, 7): 2.0, (0, 8): 1.75, (2, 0): 1.0}


def test_position_dependent_graph(tmp_path):
    lang = prepare_lang(
        LEXICON, tmp_path / "lang", silence_phones=SILENCE, position_dependent_phones=True, word_loop=True
    )
    tree, model = monophone_model(lang)
    arrays = fst_arrays(make_graph(lang, tree, model, tmp_path / "graph").read())
    phones = {lang.phones.symbol(p) for p in model.phone[arrays.arcs["ilabel"][arrays.arcs["ilabel"] > 0]]}
    assert {"y_B", "e_I", "s_E", "e_E", "SIL", "SPN_S"} <= phones and "y_S" not in phones


def test_graph_errors(world, tmp_path):
    _, lang, loop, tree, model = world
    lexicon_only = prepare_lang(LEXICON, tmp_path / "lang", silence_phones=SILENCE)
    with pytest.raises(FileNotFoundError, match="G.fst: no such file"):
        make_graph(lexicon_only, tree, model, tmp_path / "graph")
    other_tree = ContextDependency(1, 0, ConstantEventMap(0))  # one pdf for everything
    with pytest.raises(LangError, match="the tree has 1 pdfs, the transition model 25"):
        make_hclg(loop.read_fst("L_disambig.fst"), loop.read_fst("G.fst"), other_tree, model, loop.disambig)
