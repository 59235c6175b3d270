"""Word times of a GMM forced alignment (lattice-align-words, lattice-align-words-lexicon + nbest-to-ctm) and CTM
files; against Kaldi if built."""

import kaldi_hmm_gmm  # noqa: F401,I001  (before kaldifst)
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from blasr.kaldi.formats.model import write_model
from blasr.kaldi.gmm.align import TrainingGraphCompiler, align_with_gmm
from blasr.kaldi.lang.lang_dir import load_lang, read_align_lexicon, read_word_boundary
from blasr.kaldi.lang.lexicon import LangError
from blasr.kaldi.lang.prepare import prepare_lang
from blasr.kaldi.scoring.ctm import (
    WordAlignmentError,
    WordSpan,
    ctm_lines,
    file_and_channel,
    lexicon_word_alignment,
    read_ctm,
    word_alignment,
    write_ctm,
)
from tests.kaldi.tiny_asr import LEXICON, PRONUNCIATIONS, SILENCE, monophone_model, separated_gmms

# "!SIL" is a one-phone word (SIL_S: a singleton); silence between words is the optional SIL (nonword)
SENTENCES = {"u1": ["yes", "no", "yeah", "know"], "u2": ["no"], "u3": ["yeah", "!SIL", "yes", "no"]}
PAUSE_AFTER = {"u1": 1, "u3": 2}  # an optional silence after this word
DIM = 10


def positional(word: str) -> list[str]:
    phones = PRONUNCIATIONS[word]
    if len(phones) == 1:
        return [phones[0] + "_S"]
    return [phones[0] + "_B"] + [p + "_I" for p in phones[1:-1]] + [phones[-1] + "_E"]


def make_world(root: Path, position_dependent: bool):
    """A lang, monophone GMMs, frames synthesized along known phones, their forced alignments; and the true word
    spans (first frame, frame count) of every utterance."""
    lang = prepare_lang(LEXICON, root / "lang", silence_phones=SILENCE, oov="<unk>",
                        position_dependent_phones=position_dependent)
    tree, model = monophone_model(lang)
    rng = np.random.default_rng(3)
    gmms = separated_gmms(model.num_pdfs, DIM, rng)
    features, truth, transcripts = {}, {}, {}
    for utt, words in SENTENCES.items():
        units = [("SIL", None)]
        for k, word in enumerate(words):
            units += [(p, k) for p in (positional(word) if position_dependent else PRONUNCIATIONS[word])]
            if PAUSE_AFTER.get(utt) == k:
                units.append(("SIL", None))
        units.append(("SIL", None))
        pdfs, owner = [], []
        for phone, k in units:
            phone_id = lang.phones.id(phone)
            for pdf_class in range(lang.topology.num_pdf_classes(phone_id)):
                n = int(rng.integers(3, 6))
                pdfs += [tree.compute([phone_id], pdf_class)] * n
                owner += [k] * n
        means = np.stack([gmms.pdfs[p].means[0] for p in pdfs])
        features[utt] = (means + rng.normal(size=means.shape)).astype(np.float32)
        owner = np.array([-1 if k is None else k for k in owner])
        truth[utt] = [(int(np.flatnonzero(owner == k)[0]), int((owner == k).sum())) for k in range(len(words))]
        transcripts[utt] = lang.word_ids(words)
    compiler = TrainingGraphCompiler(model, tree, lang.read_fst("L.fst"), lang.disambig)
    result = align_with_gmm(compiler, transcripts, features, gmms)
    assert not result.failed
    return root, lang, model, result.alignments, transcripts, truth


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The position-dependent lang's (:func:`make_world`)."""
    return make_world(tmp_path_factory.mktemp("ctm"), True)


@pytest.fixture(scope="module")
def plain_world(tmp_path_factory):
    """A lang without position-dependent phones (no word_boundary.int), as the digits recipe's."""
    return make_world(tmp_path_factory.mktemp("ctm_plain"), False)


def test_prepare_lang_writes_the_alignment_lexicon(plain_world):
    _, lang, *_ = plain_world
    phones_dir = lang.lang_dir / "phones"
    assert not (phones_dir / "word_boundary.int").exists()
    text = (phones_dir / "align_lexicon.txt").read_text().splitlines()
    assert "<eps> <eps> SIL" in text and "yeah yeah y e" in text and "!SIL !SIL SIL" in text
    lexicon = read_align_lexicon(phones_dir / "align_lexicon.int")
    p = lang.phones.id
    assert lexicon[0] == [(p("SIL"),)]  # the optional silence only
    assert lexicon[lang.words.id("yes")] == [(p("y"), p("e"), p("s"))]
    assert sorted(lexicon) == sorted([0] + [lang.words.id(w) for w, _ in LEXICON])
    bad = phones_dir / "bad.int"
    bad.write_text("3 4 5\n")
    with pytest.raises(LangError, match="bad.int:1"):
        read_align_lexicon(bad)


def test_lexicon_alignment_gives_the_true_times_without_word_boundaries(plain_world):
    _, lang, model, alignments, transcripts, truth = plain_world
    lexicon = read_align_lexicon(lang.lang_dir / "phones" / "align_lexicon.int")
    for utt, alignment in alignments.items():
        spans = lexicon_word_alignment(alignment, transcripts[utt], model, lexicon, utterance=utt)
        assert [s.word for s in spans] == transcripts[utt]
        # u3's "!SIL" is the phone SIL, as the optional silence: the word takes it, the pause after "yes" does not
        assert [(s.start, s.num_frames) for s in spans] == truth[utt], utt
        everything = lexicon_word_alignment(alignment, transcripts[utt], model, lexicon, silence=True)
        assert everything[0].start == 0 and everything[-1].end == len(alignment)
        assert all(a.end == b.start for a, b in zip(everything, everything[1:]))
        assert [s for s in everything if s.word] == spans
    ali, ids = alignments["u1"], transcripts["u1"]
    with pytest.raises(WordAlignmentError, match="do not spell its 4 words"):
        lexicon_word_alignment(ali, [ids[1], ids[0], ids[2], ids[3]], model, lexicon, utterance="u1")
    # a decode that stopped inside the third word: with partial=True it ends the path, as Kaldi forces it out
    start, frames = truth["u1"][2]
    cut = ali[: start + frames // 2]
    with pytest.raises(WordAlignmentError, match="do not spell"):
        lexicon_word_alignment(cut, ids[:3], model, lexicon)
    spans = lexicon_word_alignment(cut, ids[:3], model, lexicon, partial=True)
    assert spans[-1] == WordSpan(ids[2], start, len(cut) - start)


def test_lexicon_alignment_equals_word_boundary_alignment(world):
    """With position-dependent phones both ways apply: the same spans."""
    _, lang, model, alignments, transcripts, _ = world
    lexicon = read_align_lexicon(lang.lang_dir / "phones" / "align_lexicon.int")
    for utt, alignment in alignments.items():
        assert lexicon_word_alignment(alignment, transcripts[utt], model, lexicon, silence=True) == \
            word_alignment(alignment, transcripts[utt], model, lang, silence=True), utt


def test_lang_reads_word_boundary(world):
    _, lang, *_ = world
    kinds = lang.word_boundary
    assert kinds[lang.phones.id("SIL")] == "nonword" and kinds[lang.phones.id("SIL_S")] == "singleton"
    assert kinds[lang.phones.id("y_B")] == "begin" and kinds[lang.phones.id("e_I")] == "internal"
    assert kinds[lang.phones.id("s_E")] == "end"
    assert load_lang(lang.lang_dir).word_boundary == kinds
    bad = lang.lang_dir / "bad_boundary.int"
    bad.write_text("1 nonword\n2 middle\n")
    with pytest.raises(LangError, match="bad_boundary.int:2"):
        read_word_boundary(bad)


def test_forced_alignment_gives_the_transcript_with_its_true_times(world):
    _, lang, model, alignments, transcripts, truth = world
    for utt, alignment in alignments.items():
        spans = word_alignment(alignment, transcripts[utt], model, lang, utterance=utt)
        assert [s.word for s in spans] == transcripts[utt]
        # well-separated GMMs: the aligner finds the synthesized frames, so the word times are the true ones
        assert [(s.start, s.num_frames) for s in spans] == truth[utt], utt
        # with the silences too, the spans tile the utterance: contiguous, in order, every frame once
        everything = word_alignment(alignment, transcripts[utt], model, lang, silence=True)
        assert everything[0].start == 0 and everything[-1].end == len(alignment)
        assert all(a.end == b.start for a, b in zip(everything, everything[1:]))
        assert [s for s in everything if s.word] == spans
        assert everything[0].word == 0 and everything[-1].word == 0  # the leading and trailing SIL
    # the same from the file, and from a mapping
    path = lang.lang_dir / "phones" / "word_boundary.int"
    assert word_alignment(alignments["u1"], transcripts["u1"], model, path) == \
        word_alignment(alignments["u1"], transcripts["u1"], model, lang.word_boundary)


def test_ctm_lines_and_file(world, tmp_path):
    _, lang, model, alignments, transcripts, truth = world
    spans = {utt: word_alignment(ali, transcripts[utt], model, lang) for utt, ali in alignments.items()}
    lines = ctm_lines("u1", spans["u1"], lang.words)
    start, frames = truth["u1"][0]
    assert lines[0] == f"u1 1 {start / 100:.3f} {frames / 100:.3f} yes"  # nbest-to-ctm: 3 decimals at 0.01 s
    assert [line.split()[4] for line in lines] == SENTENCES["u1"]
    assert ctm_lines("u2", spans["u2"])[0].split()[4] == str(lang.words.id("no"))  # ids without words.txt
    assert ctm_lines("u2", spans["u2"], lang.words, confidences=[0.875])[0].endswith(" no 0.88")
    assert ctm_lines("u", [WordSpan(5, 7, 3)], frame_shift=0.03) == ["u 1 0.21 0.09 5"]  # 2 decimals from 0.01 up
    write_ctm(tmp_path / "ctm", spans, lang.words)
    read = read_ctm(tmp_path / "ctm")
    assert [(c.file, c.word) for c in read] == [(u, w) for u in SENTENCES for w in SENTENCES[u]]
    times = [(c.start, c.duration) for c in read if c.file == "u3"]
    assert times == [(pytest.approx(s / 100), pytest.approx(n / 100)) for s, n in truth["u3"]]
    assert all(a[0] + a[1] <= b[0] + 1e-9 for a, b in zip(times, times[1:]))  # in order, not overlapping


def test_ctm_with_segments_is_convert_ctm(tmp_path):
    spans = {"sw1-A_0001": [WordSpan(7, 12, 30)], "sw1-B_0002": [WordSpan(8, 0, 5), WordSpan(9, 40, 20)],
             "sw1-A_0000": [WordSpan(9, 3, 4)]}
    words = {7: "hello", 8: "yes", 9: "ok"}
    (tmp_path / "segments").write_text("sw1-A_0000 sw1-A 0.5 2.0\nsw1-A_0001 sw1-A 10.0 20.0\n"
                                       "sw1-B_0002 sw1-B 1.2345 3.0\n")
    (tmp_path / "reco2file_and_channel").write_text("sw1-A sw1 A\nsw1-B sw1 B\n")
    write_ctm(tmp_path / "ctm", spans, words, segments=tmp_path / "segments",
              reco2file_and_channel=tmp_path / "reco2file_and_channel")
    expected = ["sw1 A 0.53 0.04 ok", "sw1 A 10.12 0.30 hello", "sw1 B 1.23 0.05 yes", "sw1 B 1.63 0.20 ok"]
    assert (tmp_path / "ctm").read_text().splitlines() == expected  # sorted by file, channel, time
    # Kaldi's own example (convert_ctm.pl's test): utt 1 8.0 1.0 in a segment from 10.0 -> 18.00
    write_ctm(tmp_path / "ctm2", {"utt": [WordSpan("word", 800, 100)]}, segments={"utt": ("reco", 10.0, 20.0)},
              reco2file_and_channel={"reco": ("file", "A")}, confidences={"utt": [0.5]})
    assert (tmp_path / "ctm2").read_text() == "file A 18.00 1.00 word 0.50\n"
    # without reco2file_and_channel: blasr's recording names, else channel 1
    assert file_and_channel("sw02001-B") == ("sw02001", "B") and file_and_channel("meeting3") == ("meeting3", "1")
    with pytest.raises(ValueError, match="not in the segments"):
        write_ctm(tmp_path / "ctm3", {"other": []}, segments=tmp_path / "segments")


def test_mismatches_are_errors_and_a_partial_path_is_forced_out(world):
    _, lang, model, alignments, transcripts, truth = world
    ali, ids = alignments["u1"], transcripts["u1"]
    with pytest.raises(WordAlignmentError, match="only 3 word ids"):
        word_alignment(ali, ids[:3], model, lang, utterance="u1")
    with pytest.raises(WordAlignmentError, match="5 word ids, the alignment 4 words"):
        word_alignment(ali, ids + [ids[0]], model, lang, utterance="u1")
    with pytest.raises(WordAlignmentError, match="not in the word-boundary table"):
        word_alignment(ali, ids, model, {}, utterance="u1")
    # a decode that stopped inside the third word ("yeah" at frames start..): Kaldi forces the word out
    start, frames = truth["u1"][2]
    cut = ali[: start + frames // 2]
    spans = word_alignment(cut, ids[:3], model, lang)
    assert spans[-1] == WordSpan(ids[2], start, len(cut) - start)
    with pytest.raises(WordAlignmentError, match="reorder"):  # the layout must be the alignment's
        word_alignment(ali, ids, model, lang, reorder=False)


KALDI = os.environ.get("KALDI_ROOT", "")
LATBIN = Path(KALDI) / "src" / "latbin"


def linear_compact_lattice(utterance: str, alignment, word_ids) -> str:
    """A linear CompactLattice in Kaldi's text form, one arc per word, the words as early as
    ``linear-to-nbest`` puts them: arc ``i`` carries word ``i`` and transition-id ``i``, the last arc
    the rest of the alignment (no epsilon arcs: the aligner wants an input-deterministic lattice)."""
    arcs = [[int(word), [int(alignment[i])]] for i, word in enumerate(word_ids)]
    arcs[-1][1] = [int(t) for t in alignment[len(word_ids) - 1:]]
    lines = [utterance] + [f"{i}\t{i + 1}\t{w}\t0,0,{'_'.join(map(str, t))}" for i, (w, t) in enumerate(arcs)]
    lines.append(f"{len(arcs)}")
    return "\n".join(lines) + "\n\n"


@pytest.mark.skipif(not KALDI or not all((LATBIN / t).is_file() for t in ("lattice-align-words", "nbest-to-ctm")),
                    reason="needs $KALDI_ROOT with src/latbin/lattice-align-words and nbest-to-ctm")
@pytest.mark.parametrize("print_silence", [False, True])
def test_same_ctm_as_kaldi(world, tmp_path, print_silence):
    """Kaldi's steps/get_train_ctm.sh pipeline on the same alignments (linear-to-nbest's lattices, written here):
    lattice-align-words phones/word_boundary.int final.mdl | nbest-to-ctm [--print-silence]."""
    _, lang, model, alignments, transcripts, _ = world
    write_model(model, None, tmp_path / "final.mdl")
    (tmp_path / "lat.txt").write_text("".join(linear_compact_lattice(u, a, transcripts[u])
                                              for u, a in alignments.items()))
    boundary = lang.lang_dir / "phones" / "word_boundary.int"
    pipeline = (f"{LATBIN}/lattice-align-words {boundary} {tmp_path}/final.mdl ark:{tmp_path}/lat.txt ark:- | "
                f"{LATBIN}/nbest-to-ctm --print-silence={str(print_silence).lower()} ark:- -")
    done = subprocess.run(pipeline, shell=True, capture_output=True, text=True, executable=shutil.which("bash"))
    assert done.returncode == 0, done.stderr
    assert "WARN" not in done.stderr and "Successfully aligned 3 lattices; 0 had errors" in done.stderr, done.stderr
    kaldi = done.stdout.splitlines()
    ours = [line for u, a in alignments.items()
            for line in ctm_lines(u, word_alignment(a, transcripts[u], model, lang, silence=print_silence))]
    assert len(kaldi) == sum(len(t) for t in transcripts.values()) + (8 if print_silence else 0)
    assert ours == kaldi
