"""A tiny fake Switchboard / Hub5'00 / RT-03 in the LDC layouts, and a fake Kaldi alignment directory, for tests.

Everything is generated in a temporary directory (no binary files in git):

* ``LDC97S62/swb1/sw0NNNN.sph``: two-channel 8 kHz u-law SPHERE conversations
  (uncompressed: the LDC's are shorten-compressed, which only sph2pipe reads),
  side A and B taking turns, each turn synthesized with espeak-ng (a different
  voice per side) or, where espeak-ng is missing, with one tone per phone;
  ``[noise]`` / ``[laughter]`` turns get a burst of noise.
* ``swb_ms98_transcriptions/NN/NNNN/swNNNN{A,B}-ms98-a-trans.text``: every
  side's timeline, speech turns in ms98 markup (partial words, ``[laughter-x]``,
  ``[it'n/isn't]``, ``{word}``, ``them_1``, asides) and ``[silence]`` between them;
  ``sw-ms98-dict.text``: the lexicon in ms98 notation (``#`` header lines).
* ``LDC2002S09/hub5e_00/english/{sw,en}_NNNN.sph`` (+ ``hub5e_00.pem``) and
  ``LDC2002T43/2000_hub5_eng_eval_tr/reference/``: the upper-case stm with
  ``(%HESITATION)``, an alternation and an ``IGNORE_TIME_SEGMENT_IN_SCORING``
  segment, a small glm, and ``english/*.txt`` in the LDC transcript format.
* ``LDC2007S10/data/audio/eval03/english/cts/*.sph``, ``data/references/...*.stm``
  (channels 1/2, ``inter_segment_gap`` lines), ``data/trans_rules/en20030506.glm``.
* ``lm.arpa``: a back-off bigram of the training transcripts.

:func:`make_kaldi_alignments` turns alignment directories written by blasr into
a Kaldi-style ``tri4_ali_nodup`` whose utterance ids differ from ours the way
Kaldi's rounding can (an end time one centisecond off), split over two jobs,
with utterances of a call the corpus does not have.
"""

from __future__ import annotations

import io
import math
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile

from blasr.features.resample import resample_poly

RATE = 8000

# ms98 notation -> pronunciation (lower-case ARPAbet, as the ms98 dictionary)
MS98_DICT = {
    "a": "ax", "about": "ax b aw t", "-[a]bout": "b aw t", "and": "ae n d", "at&t": "ey t iy ae n d t iy",
    "cats": "k ae t s", "do": "d uw", "dog": "d ao g", "have": "hh ae v", "here": "hh ih r", "hot": "hh aa t",
    "i": "ay", "is": "ih z", "isn't": "ih z ax n t", "it": "ih t", "it'n": "ih t n", "kids": "k ih d z",
    "know": "n ow", "like": "l ay k", "my": "m ay", "okay": "ow k ey", "play": "p l ey", "really": "r ih l iy",
    "right": "r ay t", "so": "s ow", "soccer": "s aa k er", "th[e]-": "dh", "that": "dh ae t",
    "the": "dh ax", "them": "dh ax m", "them_1": "dh eh m", "think": "th ih ng k", "today": "t ax d ey",
    "two": "t uw", "uh": "ah", "uh-huh": "ah hh ah", "um": "ah m", "was": "w ah z", "we": "w iy",
    "weather": "w eh dh er", "well": "w eh l", "yeah": "y ae", "you": "y uw", "{yuppies}": "y ah p iy z",
}

# (ms98 transcript, what is said); the transcripts exercise every rule of swbd1_map_words.pl
TRAIN_TURNS = [
    ("yeah i think that is right", "yeah i think that is right"),
    ("uh-huh", "uh huh"),
    ("we have a dog and two cats [laughter]", "we have a dog and two cats"),
    ("do you like the weather here", "do you like the weather here"),
    ("it was really hot today", "it was really hot today"),
    ("okay well my kids play soccer", "okay well my kids play soccer"),
    ("[noise] you know um i think so", "you know um i think so"),
    ("th[e]- the weather [laughter-is] really hot", "the the weather is really hot"),
    ("[it'n/isn't] it hot", "isn't it hot"),
    ("i like them_1 and -[a]bout two cats", "i like them and about two cats"),
    ("{yuppies} like at&t [vocalized-noise]", "yuppies like a t and t"),
    ("<b_aside> we have two kids <e_aside>", "we have two kids"),
    ("yeah", "yeah"),
    ("uh-huh", "uh huh"),
    ("uh-huh", "uh huh"),
    ("so do you play soccer", "so do you play soccer"),
]
# call -> turns (indices into TRAIN_TURNS), sides alternate A, B, A, ...
TRAIN_CALLS = {
    "sw02001": [0, 1, 2, 3, 4, 5, 13, 6],
    "sw02005": [7, 12, 8, 9, 15, 14, 10, 0],
    "sw03012": [11, 1, 3, 12, 5, 14, 2, 4],
    "sw04140": [6, 13, 9, 15, 8, 12, 7, 3],
}
# test sets: (stm text as the LDC writes it, what is said)
TEST_TURNS = [
    ("(%HESITATION) I THINK THAT IS RIGHT", "uh i think that is right"),
    ("WE HAVE A DOG AND TWO CATS", "we have a dog and two cats"),
    ("DO YOU LIKE THE WEATHER HERE", "do you like the weather here"),
    ("{ YEAH / YES } IT WAS REALLY HOT TODAY", "yeah it was really hot today"),
    ("OKAY MY KIDS PLAY SOCCER", "okay my kids play soccer"),
    ("(UH) YOU KNOW I THINK SO", "uh you know i think so"),
]
EVAL2000_CALLS = {"sw_4390": [0, 1, 2, 3], "en_4156": [4, 5, 1, 2]}
RT03_CALLS = {"sw_46001": [2, 3, 0, 4]}
GLM = """;;
;; fake en20000405_hub5.glm
* name "fake.glm"
* desc "a few rules in the NIST format"
* format = 'NIST1'
* max_nrules = '100'
* copy_no_hit = 'T'
* case_sensitive = 'F'
;;
UH => %HESITATION / [ ] __ [ ]
UM => %HESITATION / [ ] __ [ ]
OK => OKAY / [ ] __ [ ]
YES => { YES / YEAH } / [ ] __ [ ]
"""


@dataclass
class FakeCorpus:
    root: Path
    swbd_dir: Path
    swbd_transcripts: Path
    eval2000_dir: Path
    eval2000_transcripts: Path
    rt03_dir: Path
    arpa: Path
    synthesizer: str  # "espeak-ng" or "tones"
    train_segments: dict[str, list[tuple[str, float, float, str]]] = field(default_factory=dict)  # side -> segs


# -- audio ------------------------------------------------------------------------------------------


def _espeak(text: str, voice: str) -> np.ndarray:
    result = subprocess.run(["espeak-ng", "--stdout", "-v", voice, "-s", "170", text], capture_output=True, check=True)
    samples, rate = soundfile.read(io.BytesIO(result.stdout), dtype="float64")
    loud = np.flatnonzero(np.abs(samples) > 16 / 32768)
    return resample_poly(samples[loud[0]: loud[-1] + 1], RATE, rate)


_PHONE_TONES: dict[str, float] = {}


def _tones(text: str, voice: str) -> np.ndarray:
    """One 80 ms tone per phone of the words (a fixed frequency per phone): learnable 'speech' without espeak."""
    lexicon = {_spoken(w): p.split() for w, p in MS98_DICT.items()}
    lexicon.update({"huh": ["hh", "ah"], "t": ["t", "iy"]})
    pitch = 1.0 if voice.endswith("m3") else 1.15
    out = []
    t = np.arange(int(0.08 * RATE)) / RATE
    for word in text.split():
        for phone in lexicon.get(word, ["ah"]):
            frequency = _PHONE_TONES.setdefault(phone, 200.0 + 70.0 * (sum(map(ord, phone)) % 40))
            out.append(np.sin(2 * np.pi * frequency * pitch * t) * np.hanning(t.size))
        out.append(np.zeros(int(0.03 * RATE)))
    return np.concatenate(out) * 0.5


def _spoken(ms98_word: str) -> str:
    return ms98_word.replace("[", "").replace("]", "").replace("{", "").replace("}", "").split("_")[0].strip("-")


def _synthesizer():
    if shutil.which("espeak-ng") is not None:
        return "espeak-ng", _espeak
    return "tones", _tones


def _conversation(turns: list[tuple[str, str]], rng: np.random.Generator, synth, noise_turns=()) -> tuple:
    """int16 ``(N, 2)`` audio and per side the speech segments ``(start, end, index)``."""
    voices = {"A": "en-us+m3", "B": "en-us+f2"}
    tracks: dict[str, list[tuple[int, np.ndarray]]] = {"A": [], "B": []}
    segments: dict[str, list[tuple[float, float, int]]] = {"A": [], "B": []}
    t = 0.4
    for index, (_, said) in enumerate(turns):
        side = "AB"[index % 2]
        speech = synth(said, voices[side])
        speech = speech / max(np.max(np.abs(speech)), 1e-9) * 10 ** (rng.uniform(-9, -4) / 20)
        if index in noise_turns:  # a [noise] / [laughter] burst before the words
            burst = rng.normal(0, 0.05, int(0.15 * RATE)) * np.hanning(int(0.15 * RATE))
            speech = np.concatenate([burst, np.zeros(int(0.05 * RATE)), speech])
        start = int(t * RATE)
        tracks[side].append((start, speech))
        end = t + speech.size / RATE
        segments[side].append((round(t - 0.05, 6), round(end + 0.05, 6), index))
        t = end + rng.uniform(0.25, 0.5)
    total = int((t + 0.4) * RATE)
    audio = rng.normal(0, 10 ** (-55 / 20), size=(total, 2))
    for channel, side in enumerate("AB"):
        for start, speech in tracks[side]:
            audio[start: start + speech.size, channel] += speech
    return np.clip(np.round(audio * 32768), -32768, 32767).astype(np.int16), segments, total / RATE


def _write_sph(path: Path, audio: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, audio, RATE, format="NIST", subtype="ULAW")


# -- the corpora ------------------------------------------------------------------------------------


def _ms98_side(call: str, side: str, speech: list[tuple[float, float, int]], turns, duration: float) -> list[str]:
    """ms98 lines of one side: its turns, and [silence] over the rest of the conversation."""
    name = call.replace("sw0", "sw", 1) + side
    lines, t = [], 0.0
    items = []
    for start, end, index in speech:
        if start > t:
            items.append((t, start, "[silence]"))
        items.append((start, end, turns[index][0]))
        t = end
    items.append((t, duration, "[silence]"))
    for number, (start, end, text) in enumerate(items, 1):
        lines.append(f"{name}-ms98-a-{number:04d} {start:.6f} {end:.6f} {text}")
    return lines


def make_fake_corpus(root: Path, seed: int = 0) -> FakeCorpus:
    """Write the corpora under ``root`` (see the module doc)."""
    rng = np.random.default_rng(seed)
    name, synth = _synthesizer()
    corpus = FakeCorpus(root, root / "LDC97S62", root / "swb_ms98_transcriptions", root / "LDC2002S09",
                        root / "LDC2002T43", root / "LDC2007S10", root / "lm.arpa", name)
    texts = []
    for call, indices in TRAIN_CALLS.items():
        turns = [TRAIN_TURNS[i] for i in indices]
        noisy = [k for k, (text, _) in enumerate(turns) if text.startswith("[noise]") or "[laughter]" in text]
        audio, segments, duration = _conversation(turns, rng, synth, noisy)
        _write_sph(corpus.swbd_dir / "swb1" / f"{call}.sph", audio)
        number = call[3:]
        for side in "AB":
            lines = _ms98_side(call, side, segments[side], turns, duration)
            name = f"{call.replace('sw0', 'sw', 1)}{side}-ms98-a-trans.text"
            path = corpus.swbd_transcripts / number[:2] / number / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("\n".join(lines) + "\n")
            corpus.train_segments[f"{call}-{side}"] = [(line.split()[0], float(line.split()[1]),
                                                        float(line.split()[2]), " ".join(line.split()[3:]))
                                                       for line in lines]
        texts += [text for text, _ in turns]
    dict_lines = ["#", "# fake sw-ms98-dict.text: word, then its phones", "#"]
    dict_lines += [f"{word}  {phones}" for word, phones in sorted(MS98_DICT.items())]
    (corpus.swbd_transcripts / "sw-ms98-dict.text").write_text("\n".join(dict_lines) + "\n")

    # Hub5'00: audio, pem, stm, glm, LDC .txt transcripts
    english = corpus.eval2000_dir / "hub5e_00" / "english"
    reference = corpus.eval2000_transcripts / "2000_hub5_eng_eval_tr" / "reference"
    (reference / "english").mkdir(parents=True, exist_ok=True)
    stm = [";; fake hub5e00.english.000405.stm", ';; CATEGORY "0" "" ""']
    pem = [";; fake hub5e_00.pem"]
    for call, indices in EVAL2000_CALLS.items():
        turns = [TEST_TURNS[i] for i in indices]
        audio, segments, duration = _conversation(turns, rng, synth)
        _write_sph(english / f"{call}.sph", audio)
        txt = ["#Language: eng", f"#File id: {call[3:]}", "#Starting at 0 Ending at 60", ""]
        rows = sorted((start, end, side, turns[i][0]) for side in "AB" for start, end, i in segments[side])
        for start, end, side, text in rows:
            stm.append(f"{call} {side} {call}_{side} {start:.2f} {end:.2f} <O,en,M,male> {text}")
            pem.append(f"{call} {side} unknown_speaker {start:.2f} {end:.2f}")
            txt += [f"{start:.2f} {end:.2f} {side}: {_ldc_txt(text)}", ""]
        if call.startswith("sw_"):  # a region the evaluation ignores
            stm.append(f"{call} A {call}_A {duration - 0.3:.2f} {duration - 0.1:.2f} <O,en,M,male> "
                       "IGNORE_TIME_SEGMENT_IN_SCORING")
        (reference / "english" / f"{call}.txt").write_text("\n".join(txt) + "\n")
    (reference / "hub5e00.english.000405.stm").write_text("\n".join(stm) + "\n")
    (reference / "en20000405_hub5.glm").write_text(GLM)
    (english / "hub5e_00.pem").write_text("\n".join(pem) + "\n")

    # RT-03
    cts = "data/{}/eval03/english/cts"
    rt_stm = [";; fake RT-03 stm"]
    for call, indices in RT03_CALLS.items():
        turns = [TEST_TURNS[i] for i in indices]
        audio, segments, duration = _conversation(turns, rng, synth)
        _write_sph(corpus.rt03_dir / cts.format("audio") / f"{call}.sph", audio)
        rows = sorted((start, end, side, turns[i][0]) for side in "AB" for start, end, i in segments[side])
        previous = 0.0
        for start, end, side, text in rows:
            rt_stm.append(f"{call} 1 inter_segment_gap {previous:.2f} {start:.2f} <o,f0,male>")
            rt_stm.append(f"{call} {'12'[side == 'B']} {call}_{side} {start:.2f} {end:.2f} <o,f0,male> {text}")
            previous = end
    (corpus.rt03_dir / cts.format("references")).mkdir(parents=True, exist_ok=True)
    (corpus.rt03_dir / cts.format("references") / "eval03_cts.stm").write_text("\n".join(rt_stm) + "\n")
    (corpus.rt03_dir / "data" / "trans_rules").mkdir(parents=True, exist_ok=True)
    (corpus.rt03_dir / "data" / "trans_rules" / "en20030506.glm").write_text(GLM)

    write_bigram_arpa(texts, corpus.arpa)
    return corpus


FISHER_TURNS = [("[laugh] yeah i think so", "yeah i think so"),
                ("so (( do )) you like soccer", "so do you like soccer"),
                ("we have two [mn] cats", "we have two cats")]


def make_fake_fisher(root: Path, seed: int = 1) -> tuple[Path, Path]:
    """Fisher English part 1 in lhotse's layout: ``(audio dir holding LDC2004S13, transcripts dir holding
    LDC2004T19)``, one conversation ``fe_03_00001`` with Fisher's transcript conventions."""
    rng = np.random.default_rng(seed)
    _, synth = _synthesizer()
    audio, segments, _ = _conversation(FISHER_TURNS, rng, synth)
    _write_sph(root / "audio" / "LDC2004S13" / "fe_03_p1_sph1" / "audio" / "000" / "fe_03_00001.sph", audio)
    trans = root / "text" / "LDC2004T19"
    (trans / "data" / "trans" / "000").mkdir(parents=True)
    rows = sorted((start, end, side, FISHER_TURNS[i][0]) for side in "AB" for start, end, i in segments[side])
    lines = ["# fe_03_00001.sph", "# Transcribed at the LDC", ""]
    lines += [f"{start:.2f} {end:.2f} {side}: {text}" for start, end, side, text in rows]
    (trans / "data" / "trans" / "000" / "fe_03_00001.txt").write_text("\n".join(lines) + "\n")
    (trans / "doc").mkdir()
    header = "CALL_ID,DATE,TOPIC,SIG_GRADE,CNV_GRADE,APIN,ASX.DL,APHNUM,APHSET,APHTYP,BPIN,BSX.DL,BPHNUM,BPHSET,BPHTYP"
    (trans / "doc" / "fe_03_p1_calldata.tbl").write_text(
        header + "\n00001,20031223,ENG01,3,3,1234,f.a,x,x,x,5678,m.a,x,x,x\n")
    return root / "audio", root / "text"


def _ldc_txt(stm_text: str) -> str:
    """The LDC .txt form of an stm line: lower case, %hesitations, punctuation, a contraction tag."""
    text = stm_text.lower().replace("(%hesitation)", "%uh,").replace("(uh)", "%uh")
    text = text.replace("{ yeah / yes }", "yeah,")
    return text.replace("that is", '<contraction e_form="[that=>that][\'s=>is]">that\'s') + "."


# -- the language model -----------------------------------------------------------------------------


def write_bigram_arpa(transcripts: list[str], path: Path, discount: float = 0.7) -> Path:
    """A back-off bigram ARPA of Kaldi-normalised transcripts (every lexicon word in the unigrams)."""
    from blasr.data.text_norm import map_swbd_word, normalize_swbd_words

    vocabulary = sorted({map_swbd_word(w) for w in MS98_DICT} | {"[noise]", "[laughter]", "[vocalized-noise]",
                                                                  "<unk>"})
    sentences = [["<s>"] + normalize_swbd_words(t.split()) + ["</s>"] for t in transcripts]
    unigrams = Counter(w for s in sentences for w in s[1:])
    bigrams = Counter((a, b) for s in sentences for a, b in zip(s, s[1:]))
    histories = Counter(a for s in sentences for a in s[:-1])
    words = vocabulary + ["</s>"]
    total = sum(unigrams[w] + 0.5 for w in words)
    p_uni = {w: (unigrams[w] + 0.5) / total for w in words}
    lines = ["\\data\\", f"ngram 1={len(words) + 1}", f"ngram 2={len(bigrams)}", "", "\\1-grams:"]
    backoff = {}
    for history in ["<s>"] + vocabulary:
        seen = [b for (a, b) in bigrams if a == history]
        if not seen:
            backoff[history] = 0.0
            continue
        left = 1 - discount
        denominator = 1 - sum(p_uni[b] for b in seen)
        backoff[history] = math.log10(left / denominator)
    lines.append(f"-99\t<s>\t{backoff['<s>']:.4f}")
    for w in words:
        entry = f"{math.log10(p_uni[w]):.4f}\t{w}"
        lines.append(entry + (f"\t{backoff[w]:.4f}" if w != "</s>" else ""))
    lines += ["", "\\2-grams:"]
    for (a, b), count in sorted(bigrams.items()):
        lines.append(f"{math.log10(discount * count / histories[a]):.4f}\t{a} {b}")
    lines += ["", "\\end\\", ""]
    path.write_text("\n".join(lines))
    return path


# -- a Kaldi alignment directory --------------------------------------------------------------------


@dataclass
class FakeKaldiAlignments:
    ali_dir: Path
    renamed: dict[str, str]  # our cut id -> the Kaldi id written
    unmatched: list[str]  # Kaldi ids of a call the corpus does not have


def make_kaldi_alignments(blasr_ali_dirs: list[Path], out_dir: Path) -> FakeKaldiAlignments:
    """A Kaldi ``tri4_ali_nodup`` from blasr alignment directories (same model): every third utterance's
    end time moved by one centisecond in its id (Kaldi's rounding), two jobs, two foreign utterances."""
    from blasr.data.kaldi_ids import parse_utterance_id
    from blasr.kaldi.formats.io import read_int_vectors, write_int_vectors

    out_dir.mkdir(parents=True, exist_ok=True)
    first = blasr_ali_dirs[0]
    shutil.copyfile(first / "final.mdl", out_dir / "final.mdl")
    shutil.copyfile(first / "tree", out_dir / "tree")
    alignments = {}
    for directory in blasr_ali_dirs:
        alignments.update(read_int_vectors(sorted(directory.glob("ali.*.gz"))))
    renamed = {}
    for index, utterance in enumerate(sorted(alignments)):
        parsed = parse_utterance_id(utterance)
        if index % 3 == 1 and parsed is not None:
            renamed[utterance] = f"{parsed.call}-{parsed.side}_{parsed.start:06d}-{parsed.end + 1:06d}"
        else:
            renamed[utterance] = utterance
    kaldi = {renamed[u]: a for u, a in alignments.items()}
    some = next(iter(alignments.values()))
    unmatched = ["sw09999-A_000012-000140", "sw09999-B_000200-000480"]
    for utterance in unmatched:
        kaldi[utterance] = some
    keys = sorted(kaldi)
    half = len(keys) // 2
    write_int_vectors({k: kaldi[k] for k in keys[:half]}, out_dir / "ali.1.gz")
    write_int_vectors({k: kaldi[k] for k in keys[half:]}, out_dir / "ali.2.gz")
    (out_dir / "num_jobs").write_text("2\n")
    return FakeKaldiAlignments(out_dir, renamed, unmatched)
