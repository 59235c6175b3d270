"""A tiny synthetic corpus for the GMM training, tree and alignment tests, and systems trained on it once.

Phone 1 is silence with Kaldi's 5-state silence topology; phones 2..6 have the
standard 3-state topology. Every (phone, state) has a Gaussian mean far from
the others (unit variance, 10 dimensions). Two context effects give a
triphone tree something to find: phone 3's states move when the phone on its
left is 2 or 4, and phone 5's last state moves when the phone on its right is 6.
Utterances are one to three words (a 7-word lexicon; short, as Kaldi trains
monophones on the shortest utterances) with silence at both ends and
optionally between words; every HMM state lasts 2 to 6 frames.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from blasr.kaldi.formats.model import HmmState, HmmTopology

SILENCE = 1
PHONES = (1, 2, 3, 4, 5, 6)
DIM = 10
LEXICON = {1: [[2, 3]], 2: [[4, 3, 5]], 3: [[5, 6]], 4: [[6, 2, 4]], 5: [[3]], 6: [[4, 5, 6]], 7: [[2, 5]]}


def three_state() -> list[HmmState]:
    return [
        HmmState(0, 0, [(0, 0.75), (1, 0.25)]),
        HmmState(1, 1, [(1, 0.75), (2, 0.25)]),
        HmmState(2, 2, [(2, 0.75), (3, 0.25)]),
        HmmState(),
    ]


def silence_five_state() -> list[HmmState]:
    # Kaldi's silence topology (utils/gen_topo.pl).
    return [
        HmmState(0, 0, [(0, 0.25), (1, 0.25), (2, 0.25), (3, 0.25)]),
        HmmState(1, 1, [(1, 0.25), (2, 0.25), (3, 0.25), (4, 0.25)]),
        HmmState(2, 2, [(1, 0.25), (2, 0.25), (3, 0.25), (4, 0.25)]),
        HmmState(3, 3, [(1, 0.25), (2, 0.25), (3, 0.25), (4, 0.25)]),
        HmmState(4, 4, [(4, 0.75), (5, 0.25)]),
        HmmState(),
    ]


def topology() -> HmmTopology:
    return HmmTopology([silence_five_state(), three_state()], {p: (0 if p == SILENCE else 1) for p in PHONES})


@dataclass
class Corpus:
    topology: HmmTopology
    features: dict[str, np.ndarray]
    phones: dict[str, list[int]]  # phone transcripts, silences included
    words: dict[str, list[int]]  # word transcripts
    frame_phones: dict[str, np.ndarray]  # the true phone of every frame
    frame_states: dict[str, np.ndarray]  # the true HMM state of every frame


def make_corpus(num_utterances: int = 80, seed: int = 7) -> Corpus:
    rng = np.random.default_rng(seed)
    means = {p: rng.normal(size=(5 if p == SILENCE else 3, DIM)) * 3.0 for p in PHONES}
    left_shift = np.where(np.arange(DIM) < DIM // 2, 4.0, 0.0)
    right_shift = np.where(np.arange(DIM) >= DIM // 2, 4.0, 0.0)
    corpus = Corpus(topology(), {}, {}, {}, {}, {})
    for u in range(num_utterances):
        words = [int(w) for w in rng.integers(1, len(LEXICON) + 1, size=rng.integers(1, 4))]
        phones = [SILENCE]
        for i, word in enumerate(words):
            phones += LEXICON[word][0]
            if i + 1 < len(words) and rng.random() < 0.3:
                phones.append(SILENCE)
        phones.append(SILENCE)
        frames, frame_phones, frame_states = [], [], []
        for i, phone in enumerate(phones):
            left = phones[i - 1] if i > 0 else 0
            right = phones[i + 1] if i + 1 < len(phones) else 0
            for state, mean in enumerate(means[phone]):
                if phone == 3 and left in (2, 4):
                    mean = mean + left_shift
                if phone == 5 and state == 2 and right == 6:
                    mean = mean + right_shift
                duration = int(rng.integers(2, 7))
                frames.append(mean + rng.normal(size=(duration, DIM)))
                frame_phones += [phone] * duration
                frame_states += [state] * duration
        utt = f"utt{u:03d}"
        corpus.features[utt] = np.concatenate(frames).astype(np.float32)
        corpus.phones[utt], corpus.words[utt] = phones, words
        corpus.frame_phones[utt], corpus.frame_states[utt] = np.array(frame_phones), np.array(frame_states)
    return corpus


MONO_OPTIONS = dict(num_iters=12, max_iter_inc=8, total_gauss=60, realign_iters=(1, 2, 3, 4, 5, 6, 8, 10))


@functools.lru_cache(maxsize=None)
def corpus() -> Corpus:
    return make_corpus()


@functools.lru_cache(maxsize=None)
def trained_mono():
    """Monophones trained on :func:`corpus` (phone transcripts) and the final alignment with them."""
    from blasr.kaldi.gmm.train import MonoOptions, align_corpus, train_mono

    data = corpus()
    result = train_mono(
        data.topology, data.phones, data.features, MonoOptions(**MONO_OPTIONS), silence_phones=[SILENCE]
    )
    return result, align_corpus(result.system, data.phones, data.features)


def phone_accuracy(transition_model, alignments, data: Corpus) -> float:
    from blasr.kaldi.formats.model import ali_to_phones

    right = sum(int((ali_to_phones(transition_model, a) == data.frame_phones[u]).sum()) for u, a in alignments.items())
    return right / sum(len(data.frame_phones[u]) for u in alignments)


def true_alignments(transition_model, data: Corpus) -> dict[str, np.ndarray]:
    """The transition-ids of the true state sequence, in Kaldi's reordered layout.

    Each state visit is its forward transition (to the next state, or to the
    final state for the last) followed by self-loops.
    """
    model = transition_model
    alignments = {}
    for utt, phones in data.frame_phones.items():
        states = data.frame_states[utt]
        starts = np.flatnonzero(np.r_[True, (np.diff(states) != 0) | (np.diff(phones) != 0)])
        ends = np.r_[starts[1:], len(states)]
        tids = []
        for start, end in zip(starts.tolist(), ends.tolist()):
            phone, state = int(phones[start]), int(states[start])
            same = (model.phone == phone) & (model.hmm_state == state)
            forward = [t for t in np.flatnonzero(same & ~model.is_self_loop) if _destination(model, t) == state + 1]
            loop = np.flatnonzero(same & model.is_self_loop)
            tids += [int(forward[0])] + [int(loop[0])] * (end - start - 1)
        alignments[utt] = np.array(tids, dtype=np.int32)
    return alignments


def _destination(model, tid: int) -> int:
    tstate = int(model.transition_state[tid])
    index = tid - int(model.state2id[tstate])
    phone, state = int(model.phone[tid]), int(model.hmm_state[tid])
    return model.topology.topology_for_phone(phone)[state].transitions[index][0]
