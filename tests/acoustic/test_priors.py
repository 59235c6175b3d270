import numpy as np
import pytest
from lhotse import CutSet

from blasr.acoustic.priors import (
    FLT_MAX,
    analyze_counts,
    count_targets,
    format_counts,
    log_priors,
    parse_counts,
    read_counts,
    write_counts,
)
from blasr.data import load_targets
from tests.acoustic.conftest import NUM_CLASSES


def test_counts_of_the_training_targets(corpus):
    targets = np.concatenate([load_targets(cut) for cut in CutSet.from_file(corpus["train"])])
    counts = count_targets(corpus["train"])
    assert counts.tolist() == np.bincount(targets, minlength=NUM_CLASSES).tolist() and counts.sum() == 1250
    assert count_targets(corpus["train"], num_classes=6).tolist() == counts.tolist() + [0, 0]
    with pytest.raises(ValueError, match=r"cut utt1_\d has target 3 at frame \d+ \(targets in .*targets.ark\); "
                                         r"pdf-ids must lie in \[0, 3\)"):
        count_targets(corpus["train"], num_classes=3)


def test_kaldi_text_vector_as_analyze_counts_writes_it(tmp_path):
    counts = analyze_counts(np.array([10, 0, 3, 123456789]))  # a half-frame added to every class
    assert counts.dtype == np.float64 and counts.tolist() == [10.5, 0.5, 3.5, 123456789.5]
    # Vector<double>::Write in text mode at precision 7 (InitKaldiOutputStream)
    assert format_counts(counts) == " [ 10.5 0.5 3.5 1.234568e+08 ]\n"
    path = write_counts(counts, tmp_path / "priors.counts")
    assert read_counts(path).tolist() == [10.5, 0.5, 3.5, 123456800.0]
    assert parse_counts("[ 1 2\n 3 ]").tolist() == [1.0, 2.0, 3.0]
    with pytest.raises(ValueError, match="bad.counts: expected a Kaldi text vector"):
        parse_counts("1 2 3", "bad.counts")
    with pytest.raises(ValueError, match="non-negative"):
        parse_counts("[ 1 -2 ]")


def test_log_priors_follow_nnet1_pdf_prior():
    counts = np.array([1e12, 3.0, 50.0, 0.0, 2.5e3])
    got = log_priors(counts, prior_floor=1e-10)
    # PdfPrior: rel = counts / sum; log(rel + 1e-20); rel < floor -> sqrt(FLT_MAX); then float
    relative = counts / counts.sum()
    expected = np.where(relative < 1e-10, np.sqrt(np.float64(3.4028234663852886e38)), np.log(relative + 1e-20))
    assert got.dtype == np.float32 and np.array_equal(got, expected.astype(np.float32))
    assert got[1] == got[3] == np.float32(np.sqrt(FLT_MAX))  # 3 / 1e12 is below the floor: disabled
    assert log_priors(counts, prior_floor=0.0)[1] == np.float32(np.log(3.0 / counts.sum() + 1e-20))
