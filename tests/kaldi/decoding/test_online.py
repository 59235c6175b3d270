"""The best-path search advanced block by block: the offline decoder's best path, whatever the blocks."""

import kaldi_hmm_gmm  # noqa: F401, I001  (before kaldifst: the other order deadlocks at import)

import numpy as np
import pytest

from blasr.kaldi.decoding.decode import Decoder, DecodeOptions
from blasr.kaldi.decoding.online import OnlineDecoder
from tests.kaldi.decoding.test_decode import world  # noqa: F401
from tests.kaldi.tiny_asr import gmm_loglikes


def blocks(num_frames: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    edges = np.unique(np.concatenate([[0, num_frames], rng.integers(0, num_frames, size=num_frames // 4)]))
    return list(zip(edges[:-1], edges[1:]))


def test_any_blocks_give_the_offline_best_path(world):  # noqa: F811
    _, _, model, graph, gmms, utterances = world
    rng = np.random.default_rng(11)
    for options in (DecodeOptions(), DecodeOptions(acoustic_scale=0.05, beam=8.0, word_insertion_penalty=1.0)):
        decoder = Decoder(graph.graph_dir, model, options=options)
        for utt, (words, feats, _) in utterances.items():
            # noisy scores, so that the search has competing paths to prune
            loglikes = gmm_loglikes(gmms, feats) + rng.normal(scale=20.0, size=(len(feats), model.num_pdfs))
            loglikes = loglikes.astype(np.float32)
            offline = decoder.search_best_path(loglikes, utt)
            for trial in range(3):
                online = OnlineDecoder(decoder, utt)
                assert online.best_path() is None  # nothing searched yet
                spans = [(0, len(loglikes))] if trial == 0 else blocks(len(loglikes), rng)
                for start, end in spans:
                    online.advance(loglikes[start:end])
                    partial = online.best_path(final=False)
                    assert partial.num_frames == end and len(partial.tids) == end and partial.partial
                online.advance(loglikes[:0])  # an empty block is no step
                final = online.best_path()
                assert final.words == offline.words and final.word_ids == offline.word_ids, (utt, spans)
                assert np.array_equal(final.tids, offline.tids) and np.array_equal(final.pdfs, offline.pdfs)
                assert final.score == pytest.approx(offline.score, rel=1e-5)  # double here, float there
                assert final.partial == offline.partial and final.num_frames == len(loglikes)
        assert any(h.words for h in [decoder.search_best_path(gmm_loglikes(gmms, f)) for _, f, _ in
                                     utterances.values()])


def test_no_final_state_is_a_partial_path_or_nothing(world):  # noqa: F811
    _, _, model, graph, gmms, utterances = world
    words, feats, _ = utterances["utt0"]
    loglikes = gmm_loglikes(gmms, feats)[:2]  # inside the first silence: no final state reached
    decoder = Decoder(graph.graph_dir, model)
    online = OnlineDecoder(decoder)
    online.advance(loglikes)
    assert online.best_path().partial
    strict = OnlineDecoder(decoder.with_options(allow_partial=False))
    strict.advance(loglikes)
    assert strict.best_path() is None
    with pytest.raises(ValueError, match="expected \\(frames, "):
        online.advance(loglikes[:, :3])
