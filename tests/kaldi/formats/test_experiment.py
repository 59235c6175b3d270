"""Importing a Kaldi experiment (ali dir + lang dir) built in tmp_path with our Kaldi-format writers."""

import kaldi_hmm_gmm  # noqa: F401,I001
import numpy as np
import pytest

from blasr.kaldi.formats.experiment import alignment_files, load_kaldi_experiment
from blasr.kaldi.formats.gmm import AmDiagGmm, DiagGmm
from blasr.kaldi.formats.io import KaldiFormatError, write_int_vectors
from blasr.kaldi.formats.model import TransitionModel, model_to_bytes, write_model
from blasr.kaldi.formats.tree import ContextDependency, write_tree
from tests.kaldi.formats.test_model import SILENCE_AND_SPEECH_TOPOLOGY, _kaldi_transition_model

PHONES = "<eps> 0\nSIL 1\nA 2\nB 3\nC 4\n#0 5\n"
WORDS = "<eps> 0\n<unk> 1\nab 2\nca 3\n#0 4\n"


def build_experiment(root, binary=True, num_jobs=2):
    """exp/tri_ali (final.mdl, tree, num_jobs, ali.N.gz) and data/lang (phones.txt, words.txt, topo)."""
    kaldi_model = _kaldi_transition_model(SILENCE_AND_SPEECH_TOPOLOGY, [0, 5, 3, 3, 3])
    transition_model = TransitionModel.from_kaldi_hmm_gmm(kaldi_model)
    gen = np.random.default_rng(7)
    gmms = AmDiagGmm(
        [
            DiagGmm.from_means_and_variances(np.full(2, 0.5), gen.normal(size=(2, 3)), gen.uniform(0.5, 2, (2, 3)))
            for _ in range(transition_model.num_pdfs)
        ]
    )
    ali_dir, lang_dir = root / "exp" / "tri_ali", root / "data" / "lang"
    ali_dir.mkdir(parents=True)
    lang_dir.mkdir(parents=True)
    write_model(transition_model, gmms, ali_dir / "final.mdl", binary=binary)
    tree = kaldi_hmm_gmm.monophone_context_dependency([1, 2, 3, 4], [0, 5, 3, 3, 3])
    write_tree(ContextDependency.from_kaldi_hmm_gmm(tree), ali_dir / "tree", binary=binary)
    (ali_dir / "num_jobs").write_text(f"{num_jobs}\n")
    alignments = {}
    for job in range(1, num_jobs + 1):
        job_alignments = {
            f"spk{job}_utt{u}": gen.integers(1, transition_model.num_transition_ids + 1, size=gen.integers(5, 40))
            for u in range(3)
        }
        write_int_vectors(job_alignments, ali_dir / f"ali.{job}.gz")
        alignments.update(job_alignments)
    (lang_dir / "phones.txt").write_text(PHONES)
    (lang_dir / "words.txt").write_text(WORDS)
    (lang_dir / "topo").write_text(SILENCE_AND_SPEECH_TOPOLOGY)
    return ali_dir, lang_dir, kaldi_model, gmms, alignments


@pytest.mark.parametrize("binary", [True, False])
def test_load_experiment(tmp_path, binary):
    ali_dir, lang_dir, kaldi_model, gmms, alignments = build_experiment(tmp_path, binary)
    exp = load_kaldi_experiment(ali_dir, lang_dir, keep_transition_ids=True)
    assert exp.num_pdfs == kaldi_model.num_pdfs == 14 and exp.num_jobs == 2 and exp.notes == []
    assert exp.tree.num_pdfs == 14 and exp.acoustic_model.num_pdfs == 14 and exp.acoustic_model.dim == 3
    assert exp.phones.id("SIL") == 1 and exp.words.symbol(3) == "ca"
    assert list(exp.pdf_alignments) == list(alignments)
    for utt, transition_ids in alignments.items():
        expected = [kaldi_model.transition_id_to_pdf(int(t)) for t in transition_ids]
        assert exp.pdf_alignments[utt].dtype == np.int32 and exp.pdf_alignments[utt].tolist() == expected
        assert exp.transition_alignments[utt].tolist() == transition_ids.tolist()
    counts = exp.pdf_counts()
    assert counts.sum() == exp.num_frames == sum(len(a) for a in alignments.values())
    assert counts.tolist() == np.bincount(np.concatenate(list(exp.pdf_alignments.values())), minlength=14).tolist()
    if binary:
        np.testing.assert_array_equal(exp.acoustic_model.pdfs[3].means_invvars, gmms.pdfs[3].means_invvars)


def test_without_lang_dir_and_without_gmm(tmp_path):
    ali_dir, lang_dir, kaldi_model, _, _ = build_experiment(tmp_path)
    (ali_dir / "phones.txt").write_text(PHONES)  # Kaldi's align scripts copy it into the ali dir
    # a final.mdl whose transition model is followed by something other than GMMs (e.g. a neural network)
    model = TransitionModel.from_kaldi_hmm_gmm(kaldi_model)
    (ali_dir / "final.mdl").write_bytes(model_to_bytes(model, None) + b"<Nnet3> ")
    exp = load_kaldi_experiment(ali_dir)
    assert exp.acoustic_model is None and exp.words is None and exp.phones.id("C") == 4
    assert len(exp.notes) == 1 and "not a GMM model (found <Nnet3>" in exp.notes[0]
    assert exp.transition_alignments is None
    assert load_kaldi_experiment(ali_dir, load_gmm=False).notes == []


def test_differences_kaldi_tolerates_are_noted(tmp_path):
    ali_dir, lang_dir, *_ = build_experiment(tmp_path)
    other_topology = SILENCE_AND_SPEECH_TOPOLOGY.replace("0 0.75 <Transition> 1 0.25", "0 0.5 <Transition> 1 0.5", 1)
    (lang_dir / "topo").write_text(other_topology)
    (ali_dir / "tree").unlink()
    exp = load_kaldi_experiment(ali_dir, lang_dir)
    assert exp.tree is None
    notes = [n.split(": ", 1)[1] for n in exp.notes]
    assert notes == ["no tree file", f"differs from the topology in {ali_dir / 'final.mdl'}"]


def test_alignment_files_and_num_jobs(tmp_path):
    ali_dir, *_ = build_experiment(tmp_path, num_jobs=3)
    files, num_jobs = alignment_files(ali_dir)
    assert num_jobs == 3 and [f.name for f in files] == ["ali.1.gz", "ali.2.gz", "ali.3.gz"]
    (ali_dir / "num_jobs").unlink()
    assert alignment_files(ali_dir)[1] == 3
    (ali_dir / "num_jobs").write_text("4\n")
    with pytest.raises(FileNotFoundError, match=r"tri_ali: num_jobs is 4 but ali\.4\.gz missing"):
        alignment_files(ali_dir)
    (ali_dir / "num_jobs").write_text("2\n")
    with pytest.raises(KaldiFormatError, match=r"ali\.3\.gz is beyond num_jobs=2"):
        alignment_files(ali_dir)


def test_bad_experiments_get_clear_errors(tmp_path):
    ali_dir, lang_dir, kaldi_model, *_ = build_experiment(tmp_path)
    write_int_vectors({"spk2_utt9": [1, 2, kaldi_model.num_transition_ids + 1]}, ali_dir / "ali.2.gz")
    message = r"ali\.2\.gz: utterance 'spk2_utt9': transition-id 37 is out of range 1\.\.36"
    with pytest.raises(KaldiFormatError, match=message):
        load_kaldi_experiment(ali_dir, lang_dir)
    write_int_vectors({"spk1_utt0": [1, 2]}, ali_dir / "ali.2.gz")
    message = r"ali\.2\.gz: utterance 'spk1_utt0' appears again \(first in .*ali\.1\.gz\)"
    with pytest.raises(KaldiFormatError, match=message):
        load_kaldi_experiment(ali_dir, lang_dir)
    (lang_dir / "phones.txt").write_text("<eps> 0\nSIL 1\nA 2\n")
    with pytest.raises(KaldiFormatError, match=r"phones\.txt: phone ids \[3, 4\] of .*final\.mdl are missing"):
        load_kaldi_experiment(ali_dir, lang_dir)
    (lang_dir / "phones.txt").write_text(PHONES)
    small_tree = kaldi_hmm_gmm.monophone_context_dependency([1, 2, 3, 4], [0, 3, 3, 3, 3])
    write_tree(ContextDependency.from_kaldi_hmm_gmm(small_tree), ali_dir / "tree")
    with pytest.raises(KaldiFormatError, match=r"tree: the tree has 12 pdfs, .*final\.mdl has 14"):
        load_kaldi_experiment(ali_dir, lang_dir)
    (ali_dir / "final.mdl").unlink()
    with pytest.raises(FileNotFoundError, match=r"final\.mdl: no such file"):
        load_kaldi_experiment(ali_dir, lang_dir)
    with pytest.raises(FileNotFoundError, match="not a directory"):
        load_kaldi_experiment(tmp_path / "nowhere", lang_dir)
