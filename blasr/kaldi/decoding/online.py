"""Decoding while the scores arrive: :class:`OnlineDecoder`, the best-path search advanced block by block.

The search is Kaldi's ``FasterDecoder`` (kaldi-decoder's binding:
``InitDecoding``, then ``AdvanceDecoding`` on each new block of frames, read
through a ``DecodableCtc`` whose ``offset`` numbers its rows from the first
new frame); the ``OnlineFasterDecoder`` of Kaldi's ``online-gmm-decode-faster`` derives from it. A search
advanced in blocks visits the same tokens as one over the whole matrix, so the
final best path does not depend on the block sizes. The offline best path
(:meth:`~blasr.kaldi.decoding.decode.Decoder.search_best_path`) is
kaldi-hmm-gmm's lattice-faster decoder, whose bindings cannot advance: the
same beam, max-active and min-active pruning, but costs summed in float there
and in double here, so the two can differ on a near tie at the edge of the
beam (not seen in the tests).
"""

from __future__ import annotations

import time

import kaldi_decoder
import kaldifst
import numpy as np

from blasr.kaldi.decoding.decode import Decoder, Hypothesis


class OnlineDecoder:
    """One utterance's best-path search on ``decoder``'s graph, options and words, advanced by
    :meth:`advance` and read at any time by :meth:`best_path`.

    ``decoder`` (a :class:`~blasr.kaldi.decoding.decode.Decoder`) is shared: its
    graph is read, never copied, so one per system serves every stream.
    """

    def __init__(self, decoder: Decoder, utterance: str = "stream") -> None:
        options = decoder.options
        self.decoder = decoder
        self.utterance = utterance
        self._search = kaldi_decoder.FasterDecoder(decoder.search_graph(), kaldi_decoder.FasterDecoderOptions(
            beam=options.beam, max_active=options.max_active, min_active=options.min_active))
        self._search.init_decoding()
        self.num_frames = 0
        self.seconds = 0.0  # time spent in the search

    def advance(self, loglikes: np.ndarray) -> None:
        """Search through the next ``(n, num_pdfs)`` frames of log-likelihoods (unscaled; ``n`` may be 0)."""
        if len(loglikes) == 0:
            return
        start = time.perf_counter()
        scaled = self.decoder.scaled(loglikes, self.utterance)  # (n, num_transition_ids) * acoustic scale
        self._search.advance_decoding(kaldi_decoder.DecodableCtc(scaled, offset=self.num_frames))
        self.num_frames += len(scaled)
        self.seconds += time.perf_counter() - start

    def best_path(self, final: bool = True) -> Hypothesis | None:
        """The best path so far. ``final``: end of the utterance, final states' costs counted when one is
        reached (else ``partial`` is set, as ``--allow-partial``); False: the best token now (a partial
        hypothesis, which later frames may still change). None before the first frame, or when no path
        survives or, at the end, none is final and the options disallow partial output."""
        if self.num_frames == 0:
            return None
        start = time.perf_counter()
        reached = final and self._search.reached_final()
        if final and not reached and not self.decoder.options.allow_partial:
            return None
        ok, path = self._search.get_best_path(use_final_probs=reached)
        if not ok:
            return None
        ok, tids, word_ids, weight = kaldifst.get_linear_symbol_sequence(path)
        self.seconds += time.perf_counter() - start
        if not ok:  # a best path is linear; kept as a named failure rather than an assert
            return None
        tids = np.asarray(tids, dtype=np.int32)
        words = [self.decoder.words.symbol(i) for i in word_ids]
        return Hypothesis(self.utterance, words, list(word_ids), self.decoder.transition_model.pdf[tids],
                          -float(weight.value1 + weight.value2), self.num_frames, self.seconds, not reached, tids)
