"""final.mdl (transition model + diagonal GMMs): hand-built text and binary files, round trips,
and cross-checks against kaldi-hmm-gmm's own TransitionModel / GMM code."""

import math
import struct

import kaldi_hmm_gmm  # noqa: I001  (import before anything that imports kaldifst)
import numpy as np
import pytest

from blasr.kaldi.formats.gmm import AmDiagGmm, DiagGmm
from blasr.kaldi.formats.io import KaldiFormatError, KaldiReader, KaldiWriter
from blasr.kaldi.formats.model import (
    HmmTopology,
    TransitionModel,
    ali_to_pdf,
    ali_to_phones,
    model_to_bytes,
    read_model,
    read_topology,
    read_transition_model,
    write_model,
    write_topology,
)

# Two phones sharing one 3-state left-to-right topology; phone 2 shares the
# pdfs of its last two states with phone 1 (as a tree with shared leaves
# would), so there are 4 pdfs, each a 2-dimensional diagonal GMM. Written as
# Kaldi writes text (gmm-copy --binary=false): a space after every token and
# number, 7 significant digits.
TOPOLOGY_LINES = [
    "<Topology> ",
    "<TopologyEntry> ",
    "<ForPhones> ",
    "1 2 ",
    "</ForPhones> ",
    "<State> 0 <PdfClass> 0 <Transition> 0 0.75 <Transition> 1 0.25 </State> ",
    "<State> 1 <PdfClass> 1 <Transition> 1 0.5 <Transition> 2 0.5 </State> ",
    "<State> 2 <PdfClass> 2 <Transition> 2 0.75 <Transition> 3 0.25 </State> ",
    "<State> 3 </State> ",
    "</TopologyEntry> ",
    "</Topology> ",
]
LOG_PROBS = "0 -0.2876821 -1.386294 -0.6931472 -0.6931472 -0.2876821 -1.386294 " * 2
TEXT_MODEL = "\n".join(
    ["<TransitionModel> "]
    + TOPOLOGY_LINES
    + ["<Triples> 6 ", "1 0 0 ", "1 1 1 ", "1 2 2 ", "2 0 3 ", "2 1 1 ", "2 2 2 ", "</Triples> "]
    + ["<LogProbs> ", " [ " + LOG_PROBS.replace(" 0 ", " ", 1) + "]", "</LogProbs> ", "</TransitionModel> "]
    + ["<DIMENSION> 2 <NUMPDFS> 4 <DiagGMM> "]
    + ["<GCONSTS>  [ -3.224171 -3.818706 ]", "<WEIGHTS>  [ 0.25 0.75 ]"]
    + ["<MEANS_INVVARS>  [", "  0 0 ", "  1 0.5 ]", "<INV_VARS>  [", "  1 1 ", "  1 0.25 ]", "</DiagGMM> "]
    + ["<DiagGMM> ", "<GCONSTS>  [ -3.048156 ]", "<WEIGHTS>  [ 1 ]"]
    + ["<MEANS_INVVARS>  [", "  -4 1 ]", "<INV_VARS>  [", "  4 2 ]", "</DiagGMM> "]
    + ["<DiagGMM> ", "<GCONSTS>  [ -1.837877 ]", "<WEIGHTS>  [ 1 ]"]
    + ["<MEANS_INVVARS>  [", "  0 0 ]", "<INV_VARS>  [", "  1 1 ]", "</DiagGMM> "]
    + ["<DiagGMM> ", "<GCONSTS>  [ -4.531024 ]", "<WEIGHTS>  [ 1 ]"]
    + ["<MEANS_INVVARS>  [", "  1 -1 ]", "<INV_VARS>  [", "  0.5 0.5 ]", "</DiagGMM> "]
).encode() + b"\n"
# The log-probability line above is " [ 0 -0.2876821 ... ]": entry 0 (unused) is 0.
assert b" [ 0 -0.2876821 -1.386294 -0.6931472" in TEXT_MODEL

LOG_PROB_VALUES = [float(v) for v in LOG_PROBS.split()[1:]]
LOG_PROB_VALUES = [0.0] + LOG_PROB_VALUES[:6] + LOG_PROB_VALUES[7:]


def i32(v):
    return b"\x04" + struct.pack("<i", v)


def f32(v):
    return b"\x04" + struct.pack("<f", v)


def ivec(values):  # WriteIntegerVector
    return b"\x04" + struct.pack("<i", len(values)) + struct.pack(f"<{len(values)}i", *values)


def fvec(values):
    return b"FV " + i32(len(values)) + struct.pack(f"<{len(values)}f", *values)


def fmat(rows):
    flat = [v for row in rows for v in row]
    return b"FM " + i32(len(rows)) + i32(len(rows[0])) + struct.pack(f"<{len(flat)}f", *flat)


def binary_gmm(gconsts, weights, means_invvars, inv_vars):
    return (
        b"<DiagGMM> <GCONSTS> " + fvec(gconsts) + b"<WEIGHTS> " + fvec(weights)
        + b"<MEANS_INVVARS> " + fmat(means_invvars) + b"<INV_VARS> " + fmat(inv_vars) + b"</DiagGMM> "
    )


# The same model in binary, built by hand from Kaldi's Write functions (hmm-topology.cc,
# transition-model.cc, diag-gmm.cc, am-diag-gmm.cc).
BINARY_STATES = [(0, [(0, 0.75), (1, 0.25)]), (1, [(1, 0.5), (2, 0.5)]), (2, [(2, 0.75), (3, 0.25)]), (-1, [])]
BINARY_MODEL = (
    b"\0B<TransitionModel> <Topology> "
    + ivec([1, 2]) + ivec([-1, 0, 0]) + i32(1) + i32(4)
    + b"".join(i32(pdf) + i32(len(arcs)) + b"".join(i32(d) + f32(p) for d, p in arcs) for pdf, arcs in BINARY_STATES)
    + b"</Topology> <Triples> " + i32(6)
    + b"".join(i32(v) for v in [1, 0, 0, 1, 1, 1, 1, 2, 2, 2, 0, 3, 2, 1, 1, 2, 2, 2])
    + b"</Triples> <LogProbs> " + fvec(LOG_PROB_VALUES) + b"</LogProbs> </TransitionModel> "
    + b"<DIMENSION> " + i32(2) + b"<NUMPDFS> " + i32(4)
    + binary_gmm([-3.224171, -3.818706], [0.25, 0.75], [[0, 0], [1, 0.5]], [[1, 1], [1, 0.25]])
    + binary_gmm([-3.048156], [1], [[-4, 1]], [[4, 2]])
    + binary_gmm([-1.837877], [1], [[0, 0]], [[1, 1]])
    + binary_gmm([-4.531024], [1], [[1, -1]], [[0.5, 0.5]])
)


@pytest.fixture
def text_model(tmp_path):
    path = tmp_path / "final.txt.mdl"
    path.write_bytes(TEXT_MODEL)
    return path


@pytest.fixture
def binary_model(tmp_path):
    path = tmp_path / "final.mdl"
    path.write_bytes(BINARY_MODEL)
    return path


def test_hand_written_text_model_values(text_model):
    tm, am = read_model(text_model)
    topo = tm.topology
    assert topo.phones == [1, 2] and topo.phone_to_entry == {1: 0, 2: 0} and topo.is_hmm
    states = topo.topology_for_phone(2)
    assert [s.forward_pdf_class for s in states] == [0, 1, 2, -1]
    assert states[2].transitions == [(2, 0.75), (3, 0.25)] and states[3].transitions == []
    assert topo.num_pdf_classes(1) == 3

    assert tm.num_transition_states == 6 and tm.num_transition_ids == 12 and tm.num_pdfs == 4
    assert tm.tuples[3].tolist() == [2, 0, 3, 3]
    # transition-ids 1..12: (self-loop, forward) per state; pdf of state (phone 2, hmm-state 1) is shared pdf 1
    assert tm.pdf[1:].tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 1, 1, 2, 2]
    assert tm.phone[1:].tolist() == [1] * 6 + [2] * 6
    assert tm.hmm_state[1:].tolist() == [0, 0, 1, 1, 2, 2] * 2
    assert tm.is_self_loop[1:].tolist() == [True, False] * 6
    assert np.flatnonzero(tm.is_final).tolist() == [6, 12]
    assert tm.state2id.tolist() == [0, 1, 3, 5, 7, 9, 11, 13]
    np.testing.assert_allclose(np.exp(tm.log_probs[1:7]), [0.75, 0.25, 0.5, 0.5, 0.75, 0.25], rtol=1e-6)
    np.testing.assert_allclose(tm.non_self_loop_log_probs()[1:4], np.log([0.25, 0.5, 0.25]), rtol=1e-6)

    assert am.num_pdfs == 4 and am.dim == 2 and am.num_gauss == 5
    gmm = am.pdfs[0]
    assert gmm.weights.tolist() == [0.25, 0.75]
    np.testing.assert_allclose(gmm.means, [[0, 0], [1, 2]])
    np.testing.assert_allclose(gmm.variances, [[1, 1], [1, 4]])
    np.testing.assert_allclose(am.pdfs[3].means, [[2, -2]])
    for g in am.pdfs:  # the stored gconsts are the ones ComputeGconsts gives
        np.testing.assert_allclose(g.gconsts, g.compute_gconsts(), atol=1e-5)
    # log-likelihood of the zero vector is the gconst; of the mean, gconst + mean' Sigma^-1 mean / 2
    assert am.pdfs[2].log_likelihood(np.zeros((1, 2)))[0] == pytest.approx(-math.log(2 * math.pi), abs=1e-6)
    assert am.pdfs[1].log_likelihoods([[-1, 0.5]])[0, 0] == pytest.approx(-3.048156 + 0.5 * (4 + 0.5), abs=1e-5)


def test_text_and_binary_hand_built_files_agree(text_model, binary_model):
    tm_text, am_text = read_model(text_model)
    tm_bin, am_bin = read_model(binary_model)
    assert tm_text.topology == tm_bin.topology
    assert np.array_equal(tm_text.tuples, tm_bin.tuples) and np.array_equal(tm_text.log_probs, tm_bin.log_probs)
    for a, b in zip(am_text.pdfs, am_bin.pdfs, strict=True):
        for name in ("weights", "means_invvars", "inv_vars", "gconsts"):
            assert np.array_equal(getattr(a, name), getattr(b, name))
    # Kaldi's binary format is canonical: writing the text-read model gives the hand-built bytes,
    # and rewriting the text-read model in text gives the hand-written text.
    assert model_to_bytes(tm_text, am_text, binary=True) == BINARY_MODEL
    assert model_to_bytes(tm_bin, am_bin, binary=False) == TEXT_MODEL


@pytest.mark.parametrize("binary", [True, False])
def test_round_trip_through_files(tmp_path, text_model, binary):
    tm, am = read_model(text_model)
    path = write_model(tm, am, tmp_path / "out.mdl", binary=binary)
    assert path.read_bytes().startswith(b"\0B") == binary
    tm2, am2 = read_model(path)
    assert model_to_bytes(tm2, am2, binary) == path.read_bytes()
    assert np.array_equal(tm2.pdf, tm.pdf)
    assert read_transition_model(path).num_pdfs == 4


def test_random_gmms_round_trip_and_text_is_stable(tmp_path):
    # Random values: binary is exact; text (7 digits) reads back within float precision and then is a fixed point.
    gen = np.random.default_rng(1234)
    pdfs = [
        DiagGmm.from_means_and_variances(
            gen.dirichlet(np.ones(g)), gen.normal(size=(g, 5)), gen.uniform(0.1, 3.0, size=(g, 5))
        )
        for g in (1, 3, 4, 2)
    ]
    am = AmDiagGmm(pdfs)
    tm = TransitionModel.from_kaldi_hmm_gmm(_kaldi_transition_model(SEPARATE_SELF_LOOP_TOPOLOGY, [0, 2, 2]))
    tm_binary, am_binary = read_model(write_model(tm, am, tmp_path / "b.mdl"))
    for a, b in zip(am.pdfs, am_binary.pdfs, strict=True):
        assert np.array_equal(a.means_invvars, b.means_invvars) and np.array_equal(a.gconsts, b.gconsts)
    text = model_to_bytes(tm, am, binary=False)
    (tmp_path / "t.mdl").write_bytes(text)
    tm_text, am_text = read_model(tmp_path / "t.mdl")
    for a, b in zip(am.pdfs, am_text.pdfs, strict=True):
        np.testing.assert_allclose(b.inv_vars, a.inv_vars, rtol=1e-6)
        np.testing.assert_allclose(b.gconsts, a.gconsts, rtol=1e-6)
    assert model_to_bytes(tm_text, am_text, binary=False) == text


# -- cross-checks against kaldi-hmm-gmm ----------------------------------------------------

SEPARATE_SELF_LOOP_TOPOLOGY = """<Topology>
<TopologyEntry>
<ForPhones>
1 2
</ForPhones>
<State> 0 <ForwardPdfClass> 0 <SelfLoopPdfClass> 1 <Transition> 0 0.6 <Transition> 1 0.4 </State>
<State> 1 </State>
</TopologyEntry>
</Topology>
"""

SILENCE_AND_SPEECH_TOPOLOGY = """<Topology>
<TopologyEntry>
<ForPhones>
2 3 4
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


def _kaldi_transition_model(topology_text, num_pdf_classes):
    topology = kaldi_hmm_gmm.HmmTopology()
    topology.read(topology_text)
    phones = [p for p in range(1, len(num_pdf_classes))]
    tree = kaldi_hmm_gmm.monophone_context_dependency(phones, num_pdf_classes)
    return kaldi_hmm_gmm.TransitionModel(tree, topology)


KALDI_MODELS = {
    "silence-and-speech": (SILENCE_AND_SPEECH_TOPOLOGY, [0, 5, 3, 3, 3]),
    "separate-self-loop-pdfs": (SEPARATE_SELF_LOOP_TOPOLOGY, [0, 2, 2]),
}


@pytest.mark.parametrize("name", list(KALDI_MODELS))
def test_parse_kaldi_hmm_gmm_transition_model(name):
    kaldi = _kaldi_transition_model(*KALDI_MODELS[name])
    text = str(kaldi)  # Kaldi's own TransitionModel::Write, text mode, 6 digits
    tm = TransitionModel.read(KaldiReader(text.encode(), "kaldi", binary=False))
    assert tm.is_hmm == (name != "separate-self-loop-pdfs")
    assert ("<Tuples>" in text) == (not tm.is_hmm)
    assert tm.num_transition_ids == kaldi.num_transition_ids and tm.num_pdfs == kaldi.num_pdfs
    assert tm.num_transition_states == kaldi.num_transition_states
    ids = range(1, kaldi.num_transition_ids + 1)
    assert tm.pdf[1:].tolist() == [kaldi.transition_id_to_pdf(i) for i in ids]
    assert tm.phone[1:].tolist() == [kaldi.transition_id_to_phone(i) for i in ids]
    assert tm.is_self_loop[1:].tolist() == [kaldi.is_self_loop(i) for i in ids]
    assert tm.is_final[1:].tolist() == [kaldi.is_final(i) for i in ids]
    assert tm.transition_state.tolist() == kaldi.id2state
    assert tm.state2id.tolist() == kaldi.state2id
    # our text writer, at kaldi-hmm-gmm's precision, reproduces its text exactly
    writer = KaldiWriter(binary=False, precision=6)
    tm.write(writer)
    assert writer.getvalue().decode() == text


@pytest.mark.parametrize("name", list(KALDI_MODELS))
def test_to_and_from_kaldi_hmm_gmm(name):
    kaldi = _kaldi_transition_model(*KALDI_MODELS[name])
    tm = TransitionModel.from_kaldi_hmm_gmm(kaldi)
    np.testing.assert_array_equal(tm.log_probs, np.array(kaldi.log_probs, dtype=np.float32))
    np.testing.assert_allclose(tm.non_self_loop_log_probs(), kaldi.non_self_loop_log_probs, atol=1e-6)
    back = tm.to_kaldi_hmm_gmm()
    assert str(back) == str(kaldi)
    assert back.id2pdf_id == kaldi.id2pdf_id and back.state2id == kaldi.state2id and back.num_pdfs == kaldi.num_pdfs
    ids = range(1, kaldi.num_transition_ids + 1)
    assert [back.transition_id_to_pdf(i) for i in ids] == [kaldi.transition_id_to_pdf(i) for i in ids]
    topology = tm.topology.to_kaldi_hmm_gmm()
    assert str(topology) == str(kaldi.topo)
    assert HmmTopology.from_kaldi_hmm_gmm(topology) == tm.topology


def test_ali_to_pdf_matches_kaldi_hmm_gmm():
    kaldi = _kaldi_transition_model(*KALDI_MODELS["separate-self-loop-pdfs"])
    tm = TransitionModel.from_kaldi_hmm_gmm(kaldi)
    alignment = np.random.default_rng(0).integers(1, kaldi.num_transition_ids + 1, size=200)
    pdfs = ali_to_pdf(tm, alignment)
    assert pdfs.tolist() == [kaldi.transition_id_to_pdf(int(t)) for t in alignment]
    assert ali_to_phones(tm, alignment).tolist() == [kaldi.transition_id_to_phone(int(t)) for t in alignment]
    # the self-loop of phone 1 is pdf 1 (its self-loop pdf class), the forward transition pdf 0
    assert ali_to_pdf(tm, [1, 2, 3, 4]).tolist() == [1, 0, 3, 2]
    with pytest.raises(ValueError, match=r"utterance 'u1': transition-id 5 is out of range 1\.\.4"):
        ali_to_pdf(tm, [1, 5], "u1")
    with pytest.raises(ValueError, match="transition-id 0 is out of range"):
        ali_to_pdf(tm, [0])


def test_gmms_agree_with_kaldi_hmm_gmm(text_model):
    _, am = read_model(text_model)
    kaldi = am.to_kaldi_hmm_gmm()
    assert kaldi.num_pdfs == 4 and kaldi.dim == 2
    frames = np.random.default_rng(1).normal(size=(7, 2)).astype(np.float32)
    for pdf, gmm in enumerate(am.pdfs):
        kaldi_gmm = kaldi.get_pdf(pdf)
        np.testing.assert_allclose(kaldi_gmm.gconsts, gmm.gconsts, atol=2e-6)
        expected = [kaldi.log_likelihood(pdf, frame) for frame in frames]
        np.testing.assert_allclose(gmm.log_likelihood(frames), expected, rtol=1e-5)
        np.testing.assert_allclose(kaldi_gmm.log_likelihoods(frames[0]), gmm.log_likelihoods(frames[:1])[0], rtol=1e-5)
    back = AmDiagGmm.from_kaldi_hmm_gmm(kaldi)
    assert all(np.array_equal(a.means_invvars, b.means_invvars) for a, b in zip(am.pdfs, back.pdfs, strict=True))


# -- topology files and bad input ---------------------------------------------------------


@pytest.mark.parametrize("binary", [False, True])
def test_topology_file_round_trip(tmp_path, binary):
    (tmp_path / "topo").write_text(SILENCE_AND_SPEECH_TOPOLOGY)
    topology = read_topology(tmp_path / "topo")
    assert topology.phones == [1, 2, 3, 4] and topology.phone_to_entry == {1: 1, 2: 0, 3: 0, 4: 0}
    assert topology.num_pdf_classes(1) == 5 and topology.num_pdf_classes(3) == 3
    assert topology.topology_for_phone(1)[2].transitions == [(1, 0.25), (2, 0.25), (3, 0.25), (4, 0.25)]
    path = write_topology(topology, tmp_path / "topo.out", binary=binary)
    assert read_topology(path) == topology


def _replace(data: bytes, old: bytes, new: bytes) -> bytes:
    assert old in data
    return data.replace(old, new, 1)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: b"<Foo> " + d[len(b"<TransitionModel> "):], r"expected <TransitionModel>, found <Foo> at byte 0"),
        (lambda d: _replace(d, b"<Triples> 6", b"<Triples> 5"), r"expected </Triples>, found 2"),
        (lambda d: _replace(d, b" [ 0 -0.2876821", b" [ -0.2876821"), r"<LogProbs> has 12 entries; .* 13 are expected"),
        (lambda d: _replace(d, b"<State> 1 <PdfClass>", b"<State> 2 <PdfClass>"), r"expected 1, found 2"),
        (lambda d: _replace(d, b"<Transition> 2 0.5", b"<Transition> 7 0.5"), r"state 1: transition to missing state"),
        (lambda d: _replace(d, b"  1 0.5 ]", b"  1 0.5 0 ]"), r"matrix rows have different lengths"),
        (lambda d: _replace(d, b"<NUMPDFS> 4", b"<NUMPDFS> 5"), r"expected <DiagGMM>, found the end of the file"),
        (lambda d: d[: d.index(b"<DIMENSION>")], r"expected <DIMENSION> .* found the end of the file"),
        (lambda d: d + b"<Extra> ", r"unexpected data after the end of the object"),
    ],
)
def test_bad_text_models_get_clear_errors(tmp_path, edit, message):
    path = tmp_path / "final.mdl"
    path.write_bytes(edit(TEXT_MODEL))
    with pytest.raises(KaldiFormatError, match=r"final\.mdl: .*" + message):
        read_model(path)


def test_bad_binary_models_get_clear_errors(tmp_path):
    path = tmp_path / "final.mdl"
    path.write_bytes(BINARY_MODEL[:300])
    with pytest.raises(KaldiFormatError, match=r"final\.mdl: .*at byte \d+"):
        read_model(path)
    # pdf count disagreement between the transition model and the GMMs
    transition_model = BINARY_MODEL[: BINARY_MODEL.index(b"<DIMENSION>")]
    one_gmm = b"<DIMENSION> " + i32(2) + b"<NUMPDFS> " + i32(1) + binary_gmm([-1.837877], [1], [[0, 0]], [[1, 1]])
    path.write_bytes(transition_model + one_gmm)
    with pytest.raises(KaldiFormatError, match=r"final\.mdl: the transition model has 4 pdfs, the GMMs 1"):
        read_model(path)
    # a GMM whose dimension is not <DIMENSION>
    wrong_dim = _replace(BINARY_MODEL, b"<DIMENSION> " + i32(2), b"<DIMENSION> " + i32(3))
    path.write_bytes(wrong_dim)
    with pytest.raises(KaldiFormatError, match=r"pdf 0 has dimension 2, <DIMENSION> says 3"):
        read_model(path)
    with pytest.raises(FileNotFoundError, match="missing.mdl"):
        read_model(tmp_path / "missing.mdl")


def test_old_style_topology_is_refused(tmp_path):
    old = SILENCE_AND_SPEECH_TOPOLOGY.replace("<State> 3 </State>", "<State> 3 <Final> 1.0 </State>", 1)
    (tmp_path / "topo").write_text(old)
    with pytest.raises(KaldiFormatError, match=r"topo: old-style topology \(<Final>\)"):
        read_topology(tmp_path / "topo")


def test_a_phone_pointing_past_the_topology_entries_is_named(tmp_path):
    path = tmp_path / "final.mdl"
    for index in (5, 2**31 - 1, -2):  # -2 would have indexed the entries from the end
        path.write_bytes(BINARY_MODEL.replace(ivec([1, 2]) + ivec([-1, 0, 0]), ivec([1, 2]) + ivec([-1, 0, index]), 1))
        with pytest.raises(KaldiFormatError, match=rf"final\.mdl: phone 2 points to topology entry {index}; there"):
            read_model(path)
