"""Kaldi-style transcript normalisation for Switchboard, Fisher, Hub5'00 and RT (Kaldi ``egs/swbd/s5c``).

**Switchboard (ms98 transcripts)**, as ``local/swbd1_data_prep.sh``: the
transcripts are lower case already (everything is lower-cased here in any
case); ``[silence]``, ``<b_aside>`` and ``<e_aside>`` are removed, and an
utterance left without words is dropped. The noise markers ``[noise]``,
``[laughter]`` and ``[vocalized-noise]`` stay words (the lexicon gives them
the phones ``nsn``, ``lau``, ``spn``). Every word then goes through
``local/swbd1_map_words.pl`` (:func:`map_swbd_word`, also applied to the
lexicon's words), whose rules are, in order:

=============================  ======================  =====================================
rule                           example                 result
=============================  ======================  =====================================
laughter while speaking        ``[laughter-story]``    ``story`` (a trailing ``-`` is kept)
mispronunciation               ``[it'n/isn't]``        ``it'n`` (the spoken form)
partial word, start missing    ``-[an]y``, ``[an]y``   ``-y``
partial word, end missing      ``ab[solute]-``         ``ab-``
other brackets at the end      ``ex[specially]-/...]`` ``ex``
non-standard word              ``{yuppiedom}``         ``yuppiedom``
bracket inside a word          ``ammu[n]it-``          see :func:`map_swbd_word` (Kaldi's quirk kept)
pronunciation variant          ``them_1``, ``them_1's``  ``them``, ``them's``
=============================  ======================  =====================================

``&`` is kept inside words (``at&t``, ``a&p`` are lexicon words, as in
Kaldi). Kaldi's acronym mapping (``map_acronyms_transcripts.py``, which needs
the acronym map made from the dictionary with ``MSU_single_letter.txt``) is
not done: ``a._b._c.``-style acronyms stay as the lexicon spells them.

**Fisher**, as ``egs/fisher_swbd/s5/local/fisher_data_prep.sh``: an
utterance holding ``((`` (an uncertain transcription) is dropped whole;
``[laugh]`` becomes ``[laughter]``; ``[sigh]``, ``[cough]``, ``[mn]``,
``[breath]``, ``[lipsmack]`` become ``[noise]``.

**References (Hub5'00 / RT stm, Hub5'00 LDC ``.txt``)**: :func:`plain_reference`
turns scoring-annotated text into plain words for a Kaldi ``text`` file (what
an LM-weight sweep scores against): lower case; optionally deletable words in
parentheses (``(%HESITATION)``, ``(UH)``, ``(TH-)``) left out; of an
alternation ``{ a / b }`` the first alternative kept; tags (``<B_ASIDE>``,
``<contraction e_form=...>``) and hesitations (``%um``, ``%hesitation``)
removed; LDC ``.txt`` events ``{breath}``, ``{lipsmack}`` become ``[noise]``,
``[laugh]`` becomes ``[laughter]``; punctuation at word ends removed.
Scoring itself keeps the annotations (:mod:`blasr.kaldi.scoring.hub5`).
"""

from __future__ import annotations

import re
from typing import Sequence

NOISE = "[noise]"
LAUGHTER = "[laughter]"
VOCALIZED_NOISE = "[vocalized-noise]"
NOISE_WORDS = (NOISE, LAUGHTER, VOCALIZED_NOISE)

# local/swbd1_map_words.pl, one (pattern, replacement) per Perl substitution, in its order.
# Perl's $n in a replacement becomes \g<n>; an unset group ($3 of the seventh rule) is empty.
_SWBD_WORD_RULES: tuple[tuple[re.Pattern, str], ...] = (
    (re.compile(r"(|\-)^\[laughter-(.+)\](|\-)$", re.I), r"\g<1>\g<2>\g<3>"),
    (re.compile(r"^\[(.+)/.+\](|\-)$"), r"\g<1>\g<2>"),
    (re.compile(r"^(|\-)\[[^][]+\](.+)$"), r"-\g<2>"),
    (re.compile(r"^(.+)\[[^][]+\](|\-)$"), r"\g<1>-"),
    (re.compile(r"([^][]+)\[.+\]$"), r"\g<1>"),
    (re.compile(r"^\{(.+)\}$"), r"\g<1>"),
    (re.compile(r"[a-z]\[([^][])+\][a-z]", re.I), r"\g<1>-"),
    (re.compile(r"_\d"), ""),
)

_SWBD_REMOVED = ("[silence]", "<b_aside>", "<e_aside>")

# fisher_data_prep.sh's sed lines
_FISHER_MAP = {"[laugh]": LAUGHTER, "[sigh]": NOISE, "[cough]": NOISE, "[mn]": NOISE, "[breath]": NOISE,
               "[lipsmack]": NOISE}

# LDC transcription events of the Hub5'00 .txt files ({breath}) and other conventions
_EVENT_MAP = {"[laugh]": LAUGHTER, "[laughter]": LAUGHTER, "[noise]": NOISE, "[vocalized-noise]": VOCALIZED_NOISE}
_PUNCTUATION = ",.?!;:\""


def map_swbd_word(word: str) -> str:
    """``swbd1_map_words.pl`` for one word (see the module table).

    Like Kaldi, the seventh rule (a bracket inside a word) replaces the
    letter before the bracket, the bracket and the letter after it with the
    bracket's last character and ``-``: ``ammu[n]it-`` becomes ``ammn-t-``,
    not the ``ammu-it-`` its comment promises. Kept so that words agree with a
    Kaldi lexicon made by the same script; such words are rare.
    """
    for pattern, replacement in _SWBD_WORD_RULES:
        word = pattern.sub(replacement, word, count=1)  # Perl s:::, no g flag
    return word


def normalize_swbd_words(words: Sequence[str]) -> list[str]:
    """One ms98 transcript segment's words -> Kaldi's ``text`` words (empty: Kaldi drops the utterance)."""
    kept = []
    for word in words:
        word = word.lower()
        for marker in ("<b_aside>", "<e_aside>"):
            word = word.replace(marker, "")
        if not word or word == "[silence]":
            continue
        kept.append(map_swbd_word(word))
    return [w for w in kept if w]


def normalize_fisher_words(words: Sequence[str]) -> list[str] | None:
    """One Fisher transcript line's words -> Kaldi's ``text`` words; None when Kaldi drops the line (``((``)."""
    text = " ".join(words).lower()
    if "((" in text:
        return None
    return [_FISHER_MAP.get(w, w) for w in text.split()]


_TAG = re.compile(r"<[^<>]*>")
_CONTRACTION = re.compile(r'<contraction\s+e_form="[^"]*">', re.I)


def plain_reference(text: str) -> list[str]:
    """Scoring-annotated reference text (stm, LDC ``.txt``) -> plain lower-case words (see the module doc)."""
    text = _CONTRACTION.sub("", text)
    text = _TAG.sub(" ", text)
    text = text.replace("((", " ").replace("))", " ")
    # alternations: keep the first alternative
    text = re.sub(r"\{([^{}]*)\}", lambda m: " " + m.group(1).split("/")[0] + " "
                  if "/" in m.group(1) else " {" + m.group(1) + "} ", text)
    words = []
    for token in text.lower().split():
        if token.startswith("(") or token.endswith(")"):
            continue  # optionally deletable
        if token.startswith("{") and token.endswith("}"):
            words.append(NOISE)  # an LDC event such as {breath}, {lipsmack}
            continue
        if token in _EVENT_MAP:
            words.append(_EVENT_MAP[token])
            continue
        token = token.strip(_PUNCTUATION)
        if not token or token.startswith("%") or token in ("-", "--"):
            continue
        words.append(token)
    return words
