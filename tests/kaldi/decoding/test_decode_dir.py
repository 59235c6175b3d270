"""python -m blasr.decode: exported matrices on an HCLG graph, scored against references."""

import gzip
import subprocess
import sys

import kaldi_hmm_gmm  # noqa: F401,I001  (before kaldifst: the other order deadlocks at import)
import kaldiio
import numpy as np
import pytest

from blasr.decode import main
from blasr.kaldi.decoding.decode_dir import decode_and_score
from blasr.kaldi.formats.lattice import read_lattices
from blasr.kaldi.scoring.ctm import read_ctm
from blasr.kaldi.decoding.graph import make_graph
from blasr.kaldi.lang.prepare import prepare_lang
from blasr.kaldi.formats.model import write_model
from blasr.kaldi.scoring.wer import write_text

from tests.kaldi.tiny_asr import (
    ARPA,
    LEXICON,
    PRONUNCIATIONS,
    SILENCE,
    gmm_loglikes,
    monophone_model,
    separated_gmms,
    synthesize,
)

SENTENCES = {"utt0": ["yes", "no"], "utt1": ["yeah", "yes", "no"], "utt2": ["no", "yes"]}


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    root = tmp_path_factory.mktemp("decode_dir")
    (root / "lm.arpa").write_text(ARPA)
    lang = prepare_lang(LEXICON, root / "lang", silence_phones=SILENCE, oov="<unk>", arpa=root / "lm.arpa")
    tree, model = monophone_model(lang)
    graph = make_graph(lang, tree, model, root / "graph")
    rng = np.random.default_rng(3)
    gmms = separated_gmms(model.num_pdfs, 10, rng)
    matrices = {utt: gmm_loglikes(gmms, synthesize(words, lang, tree, gmms, rng)[0])
                for utt, words in SENTENCES.items()}
    kaldiio.save_ark(str(root / "loglikes.ark"), matrices, scp=str(root / "loglikes.scp"))
    write_model(model, gmms, root / "final.mdl")
    return root, graph


def test_decode_and_score(experiment, capsys, caplog):
    root, graph = experiment
    refs = dict(SENTENCES, utt2=["no", "yes", "yes"])  # one word the audio does not have
    write_text(refs, root / "text")
    out = root / "decode"
    argv = ["--graph", str(graph.graph_dir), "--model", str(root / "final.mdl"),
            "--loglikes", f"scp:{root / 'loglikes.scp'}", "--text", str(root / "text"), "--out", str(out)]
    with caplog.at_level("INFO", logger="blasr"):
        assert main(argv) == 0
    printed = capsys.readouterr().out
    (summary,) = [r.getMessage() for r in caplog.records if "decoded" in r.getMessage()]  # logged once
    assert "decoded 3 utterances" in summary and "RTF" in summary
    assert printed == f"%WER 12.50 [ 1 / 8, 0 ins, 1 del, 0 sub ] {out}\n", printed  # and not printed
    # 8 reference words, the hypothesis of utt2 misses one: 1 deletion
    assert (out / "wer").read_text().strip() == "%WER 12.50 [ 1 / 8, 0 ins, 1 del, 0 sub ]"
    assert (out / "text").read_text().splitlines() == ["utt0 yes no", "utt1 yeah yes no", "utt2 no yes"]
    assert "utt2 #csid 2 0 0 1" in (out / "per_utt").read_text()
    assert (out / "failed").read_text() == ""
    two_jobs = root / "decode_nj2"
    assert main(argv[:-1] + [str(two_jobs), "--nj", "2"]) == 0  # two processes, the same words and score
    logs = sorted((two_jobs / "log").iterdir())
    assert [p.name for p in logs] == ["decode.1.log", "decode.2.log"]  # Kaldi's log/decode.JOB.log
    assert all("finished in" in p.read_text() for p in logs)
    assert not (out / "log").exists()  # one job: its lines on stderr only
    assert (two_jobs / "text").read_text() == (out / "text").read_text()
    assert (two_jobs / "wer").read_text() == (out / "wer").read_text()

    assert main(argv + ["--sweep", "9:10"]) == 0
    assert sorted(p.name for p in out.glob("wer_*")) == [f"wer_{w}_{p}" for w in (10, 9) for p in ("0", "0.5", "1")]
    assert (out / "best_wer").read_text().startswith("%WER 12.50 [ 1 / 8")


def test_errors_are_reported(experiment, tmp_path, capsys):
    root, graph = experiment
    argv = ["--graph", str(graph.graph_dir), "--model", str(tmp_path / "missing.mdl"),
            "--loglikes", f"scp:{root / 'loglikes.scp'}", "--out", str(tmp_path / "d")]
    assert main(argv) == 1
    assert "missing.mdl" in capsys.readouterr().err


def test_setting_from_a_dev_sweep(experiment, tmp_path, caplog):
    root, graph = experiment
    write_text(SENTENCES, tmp_path / "text")
    base = ["--graph", str(graph.graph_dir), "--model", str(root / "final.mdl"),
            "--loglikes", f"scp:{root / 'loglikes.scp'}", "--text", str(tmp_path / "text")]
    dev = tmp_path / "decode_dev"
    assert main(base + ["--out", str(dev), "--sweep", "9:10"]) == 0
    chosen = (dev / "best_wer").read_text().split()[-1].rsplit("/", 1)[-1]  # DIR/wer_LMWT_WIP
    _, lm_weight, penalty = chosen.split("_")
    with caplog.at_level("INFO", logger="blasr"):
        assert main(base + ["--out", str(tmp_path / "decode_test"), "--setting-from", str(dev)]) == 0
    assert f"LM weight {float(lm_weight):g}, penalty {float(penalty):g}" in caplog.text
    assert (tmp_path / "decode_test" / "wer").read_text().startswith("%WER 0.00 [ 0 / 7")  # the true SENTENCES: 7 words
    # a directory without a sweep is refused with its name
    assert main(base + ["--out", str(tmp_path / "x"), "--setting-from", str(tmp_path / "decode_test")]) == 1


def test_lattices_and_ctm_with_position_dependent_phones(tmp_path):
    """Decoding writes lat.N.gz (every utterance once, Kaldi's archive) and, with word-boundary phones, a CTM
    whose words are the 1-best's, in order, at increasing times within the utterance."""
    (tmp_path / "lm.arpa").write_text(ARPA)
    lang = prepare_lang(LEXICON, tmp_path / "lang", silence_phones=SILENCE, oov="<unk>", arpa=tmp_path / "lm.arpa",
                        position_dependent_phones=True)
    tree, model = monophone_model(lang)
    graph = make_graph(lang, tree, model, tmp_path / "graph")
    rng = np.random.default_rng(5)
    gmms = separated_gmms(model.num_pdfs, 10, rng)
    matrices = {}
    for utt, words in SENTENCES.items():
        phones = ["SIL"]
        for word in words:
            p = PRONUNCIATIONS[word]
            phones += [p[0] + "_B"] + [x + "_I" for x in p[1:-1]] + [p[-1] + "_E"]
        phones.append("SIL")
        pdfs = [tree.compute([lang.phones.id(p)], c) for p in phones
                for c in range(lang.topology.num_pdf_classes(lang.phones.id(p))) for _ in range(4)]
        means = np.stack([gmms.pdfs[p].means[0] for p in pdfs])
        matrices[utt] = gmm_loglikes(gmms, (means + rng.normal(size=means.shape)).astype(np.float32))
    write_text(SENTENCES, tmp_path / "text")
    result = decode_and_score(matrices, graph.graph_dir, model, tmp_path / "out", tmp_path / "text", num_jobs=2,
                              sweep_lm_weights=(9, 10), lattices=True)
    assert result.counts.errors == 0
    assert [p.name for p in result.lattices] == ["lat.1.gz", "lat.2.gz"]
    assert [utt for path in result.lattices for utt, _ in read_lattices(path)] == list(SENTENCES)
    lines = read_ctm(result.ctm)
    assert [line.word for line in lines] == [w for words in SENTENCES.values() for w in words]
    for utt in SENTENCES:
        starts = [line.start for line in lines if line.file == utt]
        ends = [line.start + line.duration for line in lines if line.file == utt]
        assert starts == sorted(starts) and all(e <= s + 1e-6 for e, s in zip(ends, starts[1:]))
        assert 0 < starts[0] and ends[-1] < len(matrices[utt]) / 100


def test_decoding_from_pipes(experiment, tmp_path):
    """``... | python -m blasr.decode --loglikes ark:-`` and ``'ark:COMMAND |'``, as Kaldi's programs read them;
    a failing command is one error line naming it."""
    root, graph = experiment
    base = [sys.executable, "-m", "blasr.decode", "--graph", str(graph.graph_dir), "--model", str(root / "final.mdl")]
    with open(root / "loglikes.ark", "rb") as stdin:
        done = subprocess.run(base + ["--loglikes", "ark:-", "--out", str(tmp_path / "stdin")], stdin=stdin,
                              capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "stdin" / "text").read_text().splitlines() == ["utt0 yes no", "utt1 yeah yes no",
                                                                      "utt2 no yes"]
    (tmp_path / "loglikes.ark.gz").write_bytes(gzip.compress((root / "loglikes.ark").read_bytes()))
    done = subprocess.run(base + ["--loglikes", f"ark:gzip -dc {tmp_path / 'loglikes.ark.gz'} |", "--out",
                                  str(tmp_path / "gz")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "gz" / "text").read_text() == (tmp_path / "stdin" / "text").read_text()
    done = subprocess.run(base + ["--loglikes", f"ark:cat {tmp_path / 'missing.ark'} |", "--out",
                                  str(tmp_path / "bad")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"error: cat {tmp_path / 'missing.ark'} |: the command exited with status 1" in done.stderr
