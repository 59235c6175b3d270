"""Decoding on HCLG: a score matrix and the GMM itself give the same words, the synthesized ones."""

import kaldi_hmm_gmm  # noqa: I001  (before kaldifst: the other order deadlocks at import)
import os

import kaldiio
import numpy as np
import pytest

import blasr.kaldi.decoding.decode as decode_module
from blasr.kaldi.decoding.decode import (
    DecodeError,
    Decoder,
    DecodeOptions,
    decode_gmm,
    decode_many,
    decode_matrix,
    sweep,
)
from blasr.kaldi.formats.ark import open_matrices, read_matrices
from blasr.kaldi.formats.fst import read_fst
from blasr.kaldi.decoding.graph import make_graph
from blasr.kaldi.lang.prepare import prepare_lang

from tests.kaldi.tiny_asr import ARPA, LEXICON, SILENCE, gmm_loglikes, monophone_model, separated_gmms, synthesize

SENTENCES = [["yes", "no"], ["yeah", "yes", "no"], ["no", "yes", "no"], ["yes"], []]
DIM = 10


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("decode")
    (root / "lm.arpa").write_text(ARPA)
    lang = prepare_lang(LEXICON, root / "lang", silence_phones=SILENCE, oov="<unk>", arpa=root / "lm.arpa")
    tree, model = monophone_model(lang)
    graph = make_graph(lang, tree, model, root / "graph")
    rng = np.random.default_rng(7)
    gmms = separated_gmms(model.num_pdfs, DIM, rng)
    utterances = {}
    for index, words in enumerate(SENTENCES):
        feats, pdfs = synthesize(words, lang, tree, gmms, rng)
        utterances[f"utt{index}"] = (words, feats, pdfs)
    return root, lang, model, graph, gmms, utterances


def test_decodable_ctc_reads_column_index_minus_one():
    # The reason the graph is relabelled to pdf + 1: label i scores column i - 1.
    matrix = np.arange(12, dtype=np.float32).reshape(3, 4)
    decodable = kaldi_hmm_gmm.DecodableCtc(matrix)
    assert decodable.log_likelihood(2, 1) == matrix[2, 0] and decodable.log_likelihood(1, 4) == matrix[1, 3]
    assert (decodable.num_frames_ready(), decodable.num_indices()) == (3, 4)


def test_matrix_and_gmm_decoding_agree_on_the_synthesized_words(world):
    _, _, model, graph, gmms, utterances = world
    decoder = Decoder(graph.graph_dir, model)
    for utt, (words, feats, pdfs) in utterances.items():
        from_matrix = decoder.decode_matrix(gmm_loglikes(gmms, feats), utt)
        from_gmm = decoder.decode_gmm(feats, gmms, utt)
        assert from_matrix.words == from_gmm.words == words, utt
        assert from_matrix.word_ids == decoder.words.to_ids(words)
        # The same path: the frame-by-frame pdfs are the synthesized ones, and the scores agree.
        assert np.array_equal(from_matrix.pdfs, pdfs) and np.array_equal(from_gmm.pdfs, pdfs)
        assert from_matrix.score == pytest.approx(from_gmm.score, rel=1e-5)
        assert from_matrix.num_frames == len(feats) and not from_matrix.partial


def test_decode_functions_and_archives(world, tmp_path):
    root, lang, model, graph, gmms, utterances = world
    matrices = {utt: gmm_loglikes(gmms, feats) for utt, (_, feats, _) in utterances.items()}
    kaldiio.save_ark(str(tmp_path / "loglikes.ark"), matrices, scp=str(tmp_path / "loglikes.scp"))
    assert [utt for utt, _ in read_matrices(tmp_path / "loglikes.scp")] == list(matrices)
    # a script opens lazily (matrices read on access, a set larger than RAM streams); an archive is read whole
    lazy = open_matrices(tmp_path / "loglikes.scp")
    assert not isinstance(lazy, dict) and list(lazy) == list(matrices)
    np.testing.assert_array_equal(lazy["utt1"], matrices["utt1"])
    assert list(open_matrices(f"scp:{tmp_path / 'loglikes.scp'}")) == list(matrices)
    whole = open_matrices(tmp_path / "loglikes.ark")
    assert isinstance(whole, dict) and list(whole) == list(matrices)
    with pytest.raises(FileNotFoundError, match="missing.scp"):
        open_matrices(tmp_path / "missing.scp")
    refs = {utt: words for utt, (words, _, _) in utterances.items()}
    for source in (matrices, tmp_path / "loglikes.ark", f"scp:{tmp_path / 'loglikes.scp'}"):
        decoding = decode_matrix(source, graph.hclg_path, model, lang.words)
        assert decoding.hyps == refs and not decoding.failed and not decoding.partial
    assert decoding.num_frames == sum(len(m) for m in matrices.values())
    assert 0 < decoding.rtf < 1  # far faster than real time, even on one core
    assert "RTF" in decoding.summary()
    decoding.write_text(tmp_path / "text")
    assert (tmp_path / "text").read_text().splitlines()[0] == "utt0 yes no"
    one = decode_matrix(matrices["utt1"], graph.graph_dir, model)  # words.txt of the graph directory
    assert one.words == ["yeah", "yes", "no"]
    feats = {utt: f for utt, (_, f, _) in utterances.items()}
    assert decode_gmm(feats, graph.graph_dir, model, gmms).hyps == refs
    assert decode_gmm(feats["utt0"], graph.graph_dir, model, gmms).words == ["yes", "no"]


def test_word_insertion_penalty_is_paid_per_word(world):
    _, _, model, graph, gmms, utterances = world
    words, feats, _ = utterances["utt1"]
    matrix = gmm_loglikes(gmms, feats)
    plain = Decoder(graph.graph_dir, model).decode_matrix(matrix)
    penalised = Decoder(graph.graph_dir, model, options=DecodeOptions(word_insertion_penalty=2.0)).decode_matrix(matrix)
    assert penalised.words == plain.words == words
    assert penalised.score == pytest.approx(plain.score - 2.0 * len(words), abs=1e-3)


def test_acoustic_scale_and_homophones(world):
    _, _, model, graph, gmms, utterances = world
    words, feats, _ = utterances["utt0"]
    matrix = gmm_loglikes(gmms, feats)
    decoder = Decoder(graph.graph_dir, model)
    # "no" and "know" sound the same; the bigram decides, whatever the acoustic scale.
    for scale in (0.05, 0.1, 1.0):
        assert decoder.with_options(acoustic_scale=scale).decode_matrix(matrix).words == ["yes", "no"]
    low, high = (decoder.with_options(acoustic_scale=s).decode_matrix(matrix).score for s in (0.1, 0.2))
    assert high < low < 0  # log-likelihoods of the frames are negative: a larger scale counts them more


def test_sweep_picks_the_best_setting(world):
    _, lang, model, graph, gmms, utterances = world
    matrices = {utt: gmm_loglikes(gmms, feats) for utt, (_, feats, _) in utterances.items()}
    refs = {utt: words for utt, (words, _, _) in utterances.items()}
    refs["utt0"] = ["yes", "know"]  # a reference the LM disagrees with: one substitution at every setting
    result = sweep(matrices, refs, graph.graph_dir, model, lm_weights=(8, 12), word_insertion_penalties=(0.0, 1.0))
    assert list(result.results) == [(8.0, 0.0), (12.0, 0.0), (8.0, 1.0), (12.0, 1.0)]  # score_kaldi.sh's order
    assert all(counts.substitutions == 1 and counts.errors == 1 for counts in result.results.values())
    assert result.best == (8.0, 0.0) and result.best_counts.ref_words == 9  # ties: the first setting
    assert result.best_hyps["utt1"] == ["yeah", "yes", "no"]
    assert result.kaldi_lines()[-1] == "%WER 11.11 [ 1 / 9, 0 ins, 0 del, 1 sub ] wer_12_1"


def test_parallel_decoding_equals_one_process(world, tmp_path):
    _, lang, model, graph, gmms, utterances = world
    matrices = {utt: gmm_loglikes(gmms, feats) for utt, (_, feats, _) in utterances.items()}
    kaldiio.save_ark(str(tmp_path / "loglikes.ark"), matrices, scp=str(tmp_path / "loglikes.scp"))
    settings = [DecodeOptions(acoustic_scale=1 / 8), DecodeOptions(acoustic_scale=1 / 12, word_insertion_penalty=1.0)]
    one = decode_many(matrices, graph.graph_dir, model, None, settings)
    for source in (f"scp:{tmp_path / 'loglikes.scp'}", tmp_path / "loglikes.ark", matrices):
        two = decode_many(source, graph.graph_dir, model, None, settings, num_jobs=2)
        assert len(two) == len(one) == 2
        for a, b in zip(one, two):
            assert list(b.hypotheses) == list(a.hypotheses) == list(matrices)  # input order kept
            assert b.hyps == a.hyps and b.num_frames == a.num_frames and not b.failed
            for utt in matrices:
                np.testing.assert_array_equal(b.hypotheses[utt].pdfs, a.hypotheses[utt].pdfs)
                assert b.hypotheses[utt].score == pytest.approx(a.hypotheses[utt].score)
    # each setting is its own decoding: the same as decoding with those options alone
    alone = Decoder(graph.graph_dir, model, options=settings[1]).decode_matrices(matrices)
    assert one[1].hyps == alone.hyps
    assert [h.score for h in one[1].hypotheses.values()] == pytest.approx([h.score for h in alone.hypotheses.values()])
    refs = {utt: words for utt, (words, _, _) in utterances.items()}
    serial = sweep(matrices, refs, graph.graph_dir, model, lm_weights=(8, 12), word_insertion_penalties=(0.0, 1.0))
    parallel = sweep(f"scp:{tmp_path / 'loglikes.scp'}", refs, graph.graph_dir, model, lm_weights=(8, 12),
                     word_insertion_penalties=(0.0, 1.0), num_jobs=3)
    assert parallel.results == serial.results and parallel.best == serial.best
    with pytest.raises(ValueError, match="needs the graph as a file"):
        decode_many(matrices, read_fst(graph.hclg_path), model, lang.words, settings, num_jobs=2)
    with pytest.raises(ValueError, match="num_jobs must be at least 1"):
        decode_many(matrices, graph.graph_dir, model, None, settings, num_jobs=0)


def _die(*_):
    """Stands in for a decoding process that Kaldi aborts or the kernel kills."""
    os._exit(134)


def test_a_dead_decoding_process_is_a_clear_error(world, monkeypatch):
    _, _, model, graph, gmms, utterances = world
    matrices = {utt: gmm_loglikes(gmms, feats) for utt, (_, feats, _) in utterances.items()}
    monkeypatch.setattr(decode_module, "_decode_shard", _die)  # pickled by name: the workers run _die
    with pytest.raises(DecodeError, match=r"a decoding process died .*--nj 1"):
        decode_many(matrices, graph.graph_dir, model, None, [DecodeOptions()], num_jobs=2)


def test_too_short_utterance_is_partial_or_failed(world):
    _, _, model, graph, gmms, utterances = world
    matrix = gmm_loglikes(gmms, utterances["utt3"][1])[:1]  # one frame cannot reach a final state
    hypothesis = Decoder(graph.graph_dir, model).decode_matrix(matrix, "short")
    assert hypothesis.partial and hypothesis.num_frames == 1
    strict = Decoder(graph.graph_dir, model, options=DecodeOptions(allow_partial=False))
    assert strict.decode_matrix(matrix, "short") is None
    decoding = strict.decode_matrices({"short": matrix})
    assert decoding.failed == ["short"] and not decoding.hypotheses


def test_bad_scores_are_named(world):
    _, _, model, graph, gmms, utterances = world
    decoder = Decoder(graph.graph_dir, model)
    matrix = gmm_loglikes(gmms, utterances["utt0"][1])
    with pytest.raises(DecodeError, match=r"utterance 'u9': scores have shape \(\d+, 24\); expected \(frames, 25\)"):
        decoder.decode_matrix(matrix[:, :24], "u9")
    matrix[3, 2] = np.nan
    with pytest.raises(DecodeError, match="utterance 'u9': scores hold NaN"):
        decoder.decode_matrix(matrix, "u9")
    with pytest.raises(DecodeError, match=r"features have shape \(\d+, 9\); expected \(frames, 10\)"):
        decoder.decode_gmm(utterances["utt0"][1][:, :9], gmms, "u9")


def test_graphs_for_another_model_are_refused(world):
    _, lang, model, _, _, _ = world
    import kaldifst

    graph = kaldifst.StdVectorFst()
    graph.start = graph.add_state()
    graph.set_final(0, 0.0)
    graph.add_arc(0, kaldifst.StdArc(model.num_transition_ids + 3, 0, 0.0, 0))  # e.g. a disambiguation id left in
    with pytest.raises(DecodeError, match=f"input label {model.num_transition_ids + 3} but the model only"):
        Decoder(graph, model, lang.words)
    graph = kaldifst.StdVectorFst()
    graph.start = graph.add_state()
    graph.add_arc(0, kaldifst.StdArc(1, 99, 0.0, 0))
    with pytest.raises(DecodeError, match=r"outputs word ids \[99\]"):
        Decoder(graph, model, lang.words)
