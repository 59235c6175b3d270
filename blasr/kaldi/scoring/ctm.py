"""Word times from a one-best alignment, and NIST CTM files: Kaldi's ``lattice-align-words`` + ``nbest-to-ctm``.

Kaldi gets a CTM from a decode directory with ``steps/get_ctm.sh``::

    lattice-1best | lattice-align-words phones/word_boundary.int final.mdl | nbest-to-ctm |
        utils/int2sym.pl -f 5 words.txt | utils/convert_ctm.pl segments reco2file_and_channel

This module does the same for one best path given as a per-frame
transition-id alignment and the path's word ids (what a decoder or a forced
alignment gives):

* :func:`word_alignment` is ``lattice-align-words`` on a linear lattice
  (``LatticeWordAligner``): the alignment is cut into phones (a phone ends with
  its transition into the HMM's final state, plus, in Kaldi's default
  ``reorder`` layout, the self-loops that follow it), and the phones are grouped
  by ``phones/word_boundary.int``: a ``singleton`` phone is a word, ``begin``
  (``internal`` ...) ``end`` is a word, a ``nonword`` phone (silence, noise
  phones of a position-independent silence) is *not* attached to a word: it is
  left out, or returned with word id 0 (``silence=True``; ``nbest-to-ctm
  --print-silence``). The words take the ids of ``word_ids`` in order. A word
  still open when the alignment ends (a partial decode) is returned as it is,
  as Kaldi forces it out; anything else that does not fit (a phone outside the
  word-boundary table, an ``end`` phone without a ``begin``, more or fewer words
  on the path than in ``word_ids``, a phone that changes before its final
  transition: model, alignment and ``reorder`` do not match) is a
  :class:`WordAlignmentError` naming the utterance and frame.
* :func:`ctm_lines` / :func:`write_ctm` are ``nbest-to-ctm`` (``utt 1 start
  duration word``, times = frames x ``frame_shift``; 3 decimals at Kaldi's
  0.01 s, whose single-precision value is below 0.01), with words
  mapped through ``words.txt`` (``int2sym.pl``) and optionally confidences; with
  a ``segments`` file they are ``convert_ctm.pl``: utterance times become
  recording times (``recording-begin + start``, 2 decimals), the first two fields the file
  and channel of ``reco2file_and_channel`` and the lines are sorted by file,
  channel and time (as ``score_sclite.sh`` sorts them for sclite).
* :func:`read_ctm` reads a CTM back (for :mod:`blasr.kaldi.scoring.hub5`).

* :func:`lexicon_word_alignment` is ``lattice-align-words-lexicon`` on a
  linear lattice, for lang directories without position-dependent phones
  (no ``word_boundary.int``): the same phones are split into the path's words
  by their pronunciations in ``phones/align_lexicon.int``, with the ``<eps>``
  entries (the optional silence) allowed between words.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Mapping, NamedTuple, Sequence

import numpy as np

from blasr.kaldi.formats.model import TransitionModel
from blasr.kaldi.formats.symbols import SymbolTable
from blasr.kaldi.lang.lang_dir import Lang, read_word_boundary
from blasr.utils.errors import BlasrError

FRAME_SHIFT = 0.01  # seconds, Kaldi's default (nbest-to-ctm --frame-shift)
CHANNELS = {"1": "A", "2": "B", "a": "A", "b": "B"}  # CTM / stm channel spellings -> sides


class WordSpan(NamedTuple):
    """One word of a best path: its id (0: a nonword phone, only with ``silence=True``), first frame, frame count."""

    word: int
    start: int
    num_frames: int

    @property
    def end(self) -> int:
        """One past the last frame."""
        return self.start + self.num_frames


class WordAlignmentError(BlasrError, ValueError):
    """An alignment that cannot be cut into the given words (see the module doc)."""


def _checked_alignment(alignment, transition_model, where: str) -> np.ndarray:
    """``alignment`` as a 1-D int64 array of transition-ids of ``transition_model``, else a WordAlignmentError."""
    tids = np.asarray(alignment, dtype=np.int64)
    if tids.ndim != 1:
        raise WordAlignmentError(f"{where}an alignment is one transition-id per frame, got shape {tids.shape}")
    if tids.size and (tids.min() < 1 or tids.max() > transition_model.num_transition_ids):
        raise WordAlignmentError(f"{where}transition-ids outside 1..{transition_model.num_transition_ids} "
                                 "(alignment and model do not match?)")
    return tids


def _phones(
    transition_model: TransitionModel, tids: np.ndarray, reorder: bool, where: str
) -> list[tuple[int, int, int]]:
    """``(phone, start, end)`` per phone, as ``LatticeWordAligner`` cuts them; the last may be unfinished."""
    phones = []
    n = len(tids)
    i = 0
    while i < n:
        phone = int(transition_model.phone[tids[i]])
        j = i
        while j < n and not transition_model.is_final[tids[j]]:
            if transition_model.phone[tids[j]] != phone:
                raise WordAlignmentError(
                    f"{where}frame {j}: phone {int(transition_model.phone[tids[j]])} begins before phone {phone} "
                    f"(started at frame {i}) reached its final transition (model, alignment and reorder={reorder} "
                    "do not match?)")
            j += 1
        if j < n:
            if transition_model.phone[tids[j]] != phone:
                raise WordAlignmentError(
                    f"{where}frame {j}: phone changed before the final transition of phone {phone}")
            j += 1
            if reorder:  # the self-loops of the last state follow its final transition
                while j < n and transition_model.is_self_loop[tids[j]]:
                    if transition_model.phone[tids[j]] != phone:
                        raise WordAlignmentError(
                            f"{where}frame {j}: a self-loop of another phone after phone {phone}'s final transition "
                            "(an alignment without Kaldi's reorder layout? pass reorder=False)")
                    j += 1
        phones.append((phone, i, j))
        i = j
    return phones


def word_alignment(
    alignment: Sequence[int] | np.ndarray,
    word_ids: Sequence[int],
    transition_model: TransitionModel,
    word_boundary: Mapping[int, str] | Lang | str | os.PathLike,
    *,
    reorder: bool = True,
    silence: bool = False,
    utterance: str = "",
) -> list[WordSpan]:
    """Word times of one best path (``lattice-align-words`` + ``CompactLatticeToWordAlignment``).

    Args:
        alignment: one transition-id per frame (1-based, as Kaldi's alignments
            and a decoder's best path).
        word_ids: the words of the path in order, as the decoder outputs them
            (epsilon ``0`` entries are ignored).
        transition_model: the model of the alignment (``final.mdl``'s).
        word_boundary: ``{phone id: kind}``, a :class:`Lang` (its
            ``phones/word_boundary.int``) or the path of a ``word_boundary.int``.
        reorder: the alignment's layout (Kaldi's default ``True``: a state's
            self-loops follow its forward transition).
        silence: also return each nonword phone (silence) as a span with word id 0.
        utterance: named in errors.

    Returns:
        ``WordSpan(word, start, num_frames)`` per word in time order: the words
        cover their phones' frames; the frames of nonword phones between them
        belong to no word (unless ``silence``).

    Raises:
        WordAlignmentError: the alignment does not fit the words (see the module doc).
    """
    if isinstance(word_boundary, Lang):
        kinds: Mapping[int, str] = word_boundary.word_boundary
    elif isinstance(word_boundary, (str, os.PathLike)):
        kinds = read_word_boundary(word_boundary)
    else:
        kinds = word_boundary
    where = f"utterance {utterance!r}: " if utterance else ""
    tids = _checked_alignment(alignment, transition_model, where)
    words = [int(w) for w in word_ids if int(w) != 0]
    spans: list[WordSpan] = []
    next_word = 0
    open_start: int | None = None  # first frame of the word being read (after its begin phone)

    def take_word(frame: int) -> int:
        nonlocal next_word
        if next_word == len(words):
            raise WordAlignmentError(f"{where}frame {frame}: a word starts here, but the path has only "
                                     f"{len(words)} word ids")
        next_word += 1
        return words[next_word - 1]

    for phone, start, end in _phones(transition_model, tids, reorder, where):
        kind = kinds.get(phone)
        if kind is None:
            raise WordAlignmentError(f"{where}frame {start}: phone {phone} is not in the word-boundary table")
        if open_start is not None and kind not in ("internal", "end"):
            raise WordAlignmentError(f"{where}frame {start}: a {kind} phone ({phone}) inside the word that "
                                     f"began at frame {open_start}")
        if kind == "nonword":
            if silence:
                spans.append(WordSpan(0, start, end - start))
        elif kind == "singleton":
            spans.append(WordSpan(take_word(start), start, end - start))
        elif kind == "begin":
            open_start = start
        elif open_start is None:  # internal or end
            raise WordAlignmentError(f"{where}frame {start}: a word-{kind} phone ({phone}) outside a word")
        elif kind == "end":
            spans.append(WordSpan(take_word(open_start), open_start, end - open_start))
            open_start = None
    if open_start is not None:  # the path ends inside a word (a partial decode): Kaldi forces it out
        spans.append(WordSpan(take_word(open_start), open_start, len(tids) - open_start))
    if next_word != len(words):
        raise WordAlignmentError(f"{where}the path has {len(words)} word ids, the alignment {next_word} words")
    return spans


def lexicon_word_alignment(
    alignment: Sequence[int] | np.ndarray,
    word_ids: Sequence[int],
    transition_model: TransitionModel,
    lexicon: Mapping[int, Sequence[Sequence[int]]],
    *,
    reorder: bool = True,
    silence: bool = False,
    partial: bool = False,
    utterance: str = "",
) -> list[WordSpan]:
    """Word times of one best path from the lexicon (``lattice-align-words-lexicon``), for any lang.

    The alignment is cut into phones as in :func:`word_alignment`; the phone
    sequence is then split, left to right, into a pronunciation of each word of
    ``word_ids`` in turn, with any number of ``lexicon[0]`` pronunciations (the
    optional silence) before, between and after them (a search over the split
    points: a word with several pronunciations, or one that is itself silence,
    takes the first split that lets the rest fit).

    Args:
        lexicon: ``{word id: [phone ids of each pronunciation]}``, word 0 the
            optional silence (:func:`~blasr.kaldi.lang.lang_dir.read_align_lexicon`).
        partial: the path ends inside its last word (a decode that reached no
            final state): that word may end with a prefix of its pronunciation.
        alignment, word_ids, transition_model, reorder, silence, utterance: as :func:`word_alignment`.

    Raises:
        WordAlignmentError: the phones do not spell the words (another lexicon, or alignment and model do not
            match).
    """
    where = f"utterance {utterance!r}: " if utterance else ""
    tids = _checked_alignment(alignment, transition_model, where)
    words = [int(w) for w in word_ids if int(w) != 0]
    phones = _phones(transition_model, tids, reorder, where)
    sequence = tuple(phone for phone, _, _ in phones)
    n, num_words = len(sequence), len(words)
    for word in words:
        if not lexicon.get(word):
            raise WordAlignmentError(f"{where}word {word} has no pronunciation in the alignment lexicon")
    fillers = [tuple(p) for p in lexicon.get(0, ()) if p]

    def moves(i: int, k: int) -> Iterator[tuple[int, int, int]]:
        """``(word or 0, next i, next k)`` from ``k`` words read at phone ``i``: a word, then a silence."""
        if k < num_words:
            for pronunciation in lexicon[words[k]]:
                if pronunciation and sequence[i:i + len(pronunciation)] == tuple(pronunciation):
                    yield words[k], i + len(pronunciation), k + 1
                elif partial and k == num_words - 1 and tuple(pronunciation[:n - i]) == sequence[i:]:
                    yield words[k], n, k + 1  # the last word, cut off by the end of the path
        for filler in fillers:
            if sequence[i:i + len(filler)] == filler:
                yield 0, i + len(filler), k

    # done[i][k]: the phones from i on spell the words from k on (filled backwards: every move reads a phone,
    # except the cut-off last word, which only ends the path)
    done = [[False] * (num_words + 1) for _ in range(n + 1)]
    done[n][num_words] = True
    for i in range(n, -1, -1):
        for k in range(num_words, -1, -1):
            if not done[i][k]:
                done[i][k] = any(j > i and done[j][m] or j == n and m == num_words for _, j, m in moves(i, k))
    if not done[0][0]:
        raise WordAlignmentError(
            f"{where}the path's {n} phones ({' '.join(map(str, sequence[:20]))}{' ...' if n > 20 else ''}) do not "
            f"spell its {num_words} words ({' '.join(map(str, words[:10]))}) with the alignment lexicon (the "
            "lexicon of another lang?)")
    spans: list[WordSpan] = []
    i = k = 0
    while (i, k) != (n, num_words):
        word, j, m = next((w, j, m) for w, j, m in moves(i, k) if done[j][m] and (j > i or j == n))
        start = phones[i][1] if i < n else len(tids)
        end = phones[j - 1][2] if j > i else start
        if word or silence:
            spans.append(WordSpan(word, start, end - start))
        i, k = j, m
    return spans


# -- CTM files ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CtmLine:
    """One CTM line: ``file channel start duration word [confidence]`` (times in seconds)."""

    file: str
    channel: str
    start: float
    duration: float
    word: str
    confidence: float | None = None

    @property
    def midpoint(self) -> float:
        return self.start + self.duration / 2


def _word_text(word: int | str, words: SymbolTable | Mapping[int, str] | None) -> str:
    if isinstance(word, str) or words is None:
        return str(word)
    return words.symbol(word) if isinstance(words, SymbolTable) else words[word]


def _precision(frame_shift: float) -> int:
    # nbest-to-ctm: 2 decimals, 3 below 0.01 s, 4 below 0.001 s; its frame shift is single precision, and
    # 0.01 in single precision is below 0.01, so Kaldi's default prints 3 decimals (0.01 exactly would too)
    shift = float(np.float32(frame_shift))
    return 4 if shift < 0.001 else 3 if shift < 0.01 else 2


def ctm_lines(
    utterance: str,
    spans: Sequence[WordSpan],
    words: SymbolTable | Mapping[int, str] | None = None,
    *,
    frame_shift: float = FRAME_SHIFT,
    confidences: Sequence[float] | None = None,
) -> list[str]:
    """``nbest-to-ctm`` lines of one utterance, ``utt 1 start duration word [confidence]`` (times from its start,
    with ``nbest-to-ctm``'s decimals: 3 for 0.01 s frames).

    ``words`` maps word ids to words (``words.txt``; None: the ids are printed,
    as ``nbest-to-ctm`` does before ``int2sym.pl``). ``confidences``: one per span.
    """
    if confidences is not None and len(confidences) != len(spans):
        raise ValueError(f"utterance {utterance!r}: {len(spans)} words but {len(confidences)} confidences")
    digits = _precision(frame_shift)
    shift = np.float32(frame_shift)  # Kaldi's BaseFloat arithmetic
    lines = []
    for k, span in enumerate(spans):
        start, duration = float(shift * np.float32(span.start)), float(shift * np.float32(span.num_frames))
        line = f"{utterance} 1 {start:.{digits}f} {duration:.{digits}f} {_word_text(span.word, words)}"
        if confidences is not None:
            line += f" {confidences[k]:.2f}"
        lines.append(line)
    return lines


def read_segments(path: str | os.PathLike) -> dict[str, tuple[str, float, float]]:
    """A Kaldi ``segments`` file: ``{utterance: (recording, begin, end)}``."""
    path = Path(path)
    segments = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 4:
            raise ValueError(f"{path}:{number}: expected 'utterance recording begin end', got {line!r}")
        try:
            segments[fields[0]] = (fields[1], float(fields[2]), float(fields[3]))
        except ValueError:
            raise ValueError(f"{path}:{number}: bad times in {line!r}") from None
    return segments


def read_reco2file_and_channel(path: str | os.PathLike) -> dict[str, tuple[str, str]]:
    """A Kaldi ``reco2file_and_channel`` file: ``{recording: (file, channel)}``."""
    path = Path(path)
    table = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 3:
            raise ValueError(f"{path}:{number}: expected 'recording file channel', got {line!r}")
        table[fields[0]] = (fields[1], fields[2])
    return table


def file_and_channel(recording: str, table: Mapping[str, tuple[str, str]] | None = None) -> tuple[str, str]:
    """The CTM file and channel of a recording: from ``reco2file_and_channel`` when given, else by blasr's
    naming (``sw02001-A`` -> ``sw02001 A``, as :mod:`blasr.data.conversations` writes that file), else
    ``recording 1`` (one channel)."""
    if table is not None:
        if recording not in table:
            raise ValueError(f"recording {recording!r} is not in reco2file_and_channel")
        return table[recording]
    stem, dash, side = recording.rpartition("-")
    if dash and stem and side in ("A", "B"):
        return stem, side
    return recording, "1"


def write_ctm(
    path: str | os.PathLike,
    utterances: Mapping[str, Sequence[WordSpan]] | Iterable[tuple[str, Sequence[WordSpan]]],
    words: SymbolTable | Mapping[int, str] | None = None,
    *,
    frame_shift: float = FRAME_SHIFT,
    segments: str | os.PathLike | Mapping[str, tuple[str, float, float]] | None = None,
    reco2file_and_channel: str | os.PathLike | Mapping[str, tuple[str, str]] | None = None,
    confidences: Mapping[str, Sequence[float]] | None = None,
) -> Path:
    """Write a CTM of word spans (:func:`word_alignment`'s), one utterance after another.

    Without ``segments``: ``nbest-to-ctm`` + ``int2sym.pl`` (``utt 1 start dur
    word``, times within the utterance, utterances in the given order). With
    ``segments`` (a file or :func:`read_segments`'s mapping): ``convert_ctm.pl``
    as well: ``file channel start dur word`` with the segment's begin added to
    the printed start, both times to 2 decimals, file and channel from ``reco2file_and_channel`` (a
    file or mapping; without it see :func:`file_and_channel`), the lines sorted
    by file, channel and start time; an utterance missing from ``segments`` is
    an error. ``confidences`` adds a 6th field (one value per span).
    """
    items = list(utterances.items() if isinstance(utterances, Mapping) else utterances)
    if segments is not None and not isinstance(segments, Mapping):
        segments = read_segments(segments)
    if reco2file_and_channel is not None and not isinstance(reco2file_and_channel, Mapping):
        reco2file_and_channel = read_reco2file_and_channel(reco2file_and_channel)
    lines: list[str] = []
    keyed: list[tuple[tuple[str, str, float], int, str]] = []
    for utterance, spans in items:
        scores = confidences.get(utterance) if confidences is not None else None
        relative = ctm_lines(utterance, spans, words, frame_shift=frame_shift, confidences=scores)
        if segments is None:
            lines.extend(relative)
            continue
        if utterance not in segments:
            raise ValueError(f"utterance {utterance!r} is not in the segments file")
        recording, begin, _ = segments[utterance]
        file, channel = file_and_channel(recording, reco2file_and_channel)
        for line in relative:
            _, _, start, duration, *rest = line.split(" ")
            absolute = float(start) + begin  # convert_ctm.pl: the printed start plus the segment's begin
            text = " ".join([file, channel, f"{absolute:.2f}", f"{float(duration):.2f}", *rest])
            keyed.append(((file, channel, absolute), len(keyed), text))
    if segments is not None:
        lines = [text for _, _, text in sorted(keyed)]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def read_ctm(path: str | os.PathLike) -> list[CtmLine]:
    """A CTM file's lines (``;;`` comments and blank lines skipped); channels ``1``/``2``/``a``/``b`` become
    ``A``/``B`` as the stm reader makes them. A malformed line is an error naming the file and line."""
    path = Path(path)
    lines = []
    for number, raw in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not raw.strip() or raw.lstrip().startswith(";;"):
            continue
        fields = raw.split()
        if len(fields) not in (5, 6):
            raise ValueError(f"{path}:{number}: expected 'file channel start duration word [confidence]', "
                             f"got {raw!r}")
        try:
            start, duration = float(fields[2]), float(fields[3])
            confidence = float(fields[5]) if len(fields) == 6 and fields[5].upper() != "NA" else None
        except ValueError:
            raise ValueError(f"{path}:{number}: bad number in {raw!r}") from None
        channel = CHANNELS.get(fields[1].lower(), fields[1])
        lines.append(CtmLine(fields[0], channel, start, duration, fields[4], confidence))
    return lines
