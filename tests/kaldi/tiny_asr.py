"""A tiny speech recogniser for tests: lexicon, ARPA bigram, monophone model, well-separated GMMs, synthetic frames.

The GMMs have one Gaussian per pdf with means far apart (unit variances), so
frames sampled along a known HMM path can only be decoded one way: the tests
assert the exact words.
"""

from __future__ import annotations

import numpy as np

from blasr.kaldi.formats.gmm import AmDiagGmm, DiagGmm
from blasr.kaldi.formats.model import TransitionModel
from blasr.kaldi.formats.tree import ContextDependency
from blasr.kaldi.lang.lang_dir import Lang

# "yeah" is a prefix of "yes", "no" and "know" are homophones: L_disambig needs #1 and #2.
LEXICON = [("yes", "y e s"), ("yeah", "y e"), ("no", "n o"), ("know", "n o"), ("!SIL", "SIL"), ("<unk>", "SPN")]
SILENCE = ["SIL", "SPN"]
PRONUNCIATIONS = {word: phones.split() for word, phones in LEXICON}

# A bigram in which "know" is unlikely, so that the homophone "no" wins.
ARPA = """
\\data\\
ngram 1=7
ngram 2=5

\\1-grams:
-99 <s> -0.5
-0.8 </s>
-0.6 yes -0.3
-0.9 yeah -0.3
-0.6 no -0.3
-3.0 know -0.3
-2.0 <unk>

\\2-grams:
-0.3 <s> yes
-0.5 yes no
-0.4 no </s>
-0.7 yeah yes
-0.2 no yes

\\end\\
"""


def monophone_model(lang: Lang) -> tuple[ContextDependency, TransitionModel]:
    """A monophone tree (one pdf per phone and HMM state) and its transition model."""
    import kaldi_hmm_gmm

    phones = sorted(lang.silence + lang.nonsilence)
    num_classes = [0] * (max(phones) + 1)
    for phone in phones:
        num_classes[phone] = lang.topology.num_pdf_classes(phone)
    tree = kaldi_hmm_gmm.monophone_context_dependency(phones, num_classes)
    model = kaldi_hmm_gmm.TransitionModel(tree, lang.topology.to_kaldi_hmm_gmm())
    return ContextDependency.from_kaldi_hmm_gmm(tree), TransitionModel.from_kaldi_hmm_gmm(model)


def separated_gmms(num_pdfs: int, dim: int, rng: np.random.Generator, spread: float = 6.0) -> AmDiagGmm:
    means = rng.normal(0.0, spread, size=(num_pdfs, dim))
    return AmDiagGmm([DiagGmm.from_means_and_variances([1.0], m[None], np.ones((1, dim))) for m in means])


def synthesize(
    words: list[str],
    lang: Lang,
    tree: ContextDependency,
    acoustic_model: AmDiagGmm,
    rng: np.random.Generator,
    frames_per_state: tuple[int, int] = (3, 6),
) -> tuple[np.ndarray, np.ndarray]:
    """Frames ``(T, dim)`` and their pdf-ids along SIL, the words' phones, SIL (only one SIL without words,
    as L allows): every emitting HMM state of every phone in order (a valid path of gen_topo's
    topologies), 3-5 frames each."""
    phones = ["SIL"] + [p for w in words for p in PRONUNCIATIONS[w]] + (["SIL"] if words else [])
    pdfs = []
    for phone in phones:
        phone_id = lang.phones.id(phone)
        for pdf_class in range(lang.topology.num_pdf_classes(phone_id)):
            pdf = tree.compute([phone_id], pdf_class)
            pdfs += [pdf] * int(rng.integers(*frames_per_state))
    pdfs = np.array(pdfs)
    means = np.stack([acoustic_model.pdfs[p].means[0] for p in pdfs])
    return (means + rng.normal(size=means.shape)).astype(np.float32), pdfs


def gmm_loglikes(acoustic_model: AmDiagGmm, feats: np.ndarray) -> np.ndarray:
    """``(T, num_pdfs)`` GMM log-likelihoods, float32: the matrix a network export would hand over."""
    return np.stack([gmm.log_likelihood(feats) for gmm in acoustic_model.pdfs], axis=1).astype(np.float32)
