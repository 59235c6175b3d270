import struct

import kaldiio
import numpy as np
import pytest
from lhotse import CutSet

from blasr.data import attach_targets, load_targets
from blasr.data.targets import read_num_pdfs
from tests.data.conftest import FRAMES


def alignment(frames: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 500, frames).astype(np.int32)


@pytest.fixture
def mismatched():
    """utt0 exact, utt1/utt2 one/two frames long, utt3/utt5 one/two short, utt6 three long, utt7 missing."""
    change = {0: 0, 1: 1, 2: 2, 3: -1, 4: 0, 5: -2, 6: 3}
    alignments = {f"utt{i}": alignment(FRAMES[i] + d, i) for i, d in change.items()}
    alignments["ghost"] = alignment(10, 9)  # matches no cut
    return alignments


def test_frame_count_check_trims_pads_and_rejects(corpus, mismatched, tmp_path):
    manifest, report = attach_targets(corpus, mismatched, tmp_path / "targets", num_pdfs=500)
    assert report.kept == 6
    skipped = dict(report.skipped)
    assert set(skipped) == {"utt6", "utt7"}
    assert skipped["utt6"].startswith("frame mismatch: utt6 has 8 target frames but 5 feature frames (differ by 3 > 2)")
    assert skipped["utt7"].startswith("no alignment")
    assert dict(report.fixed).keys() == {"utt1", "utt2", "utt3", "utt5"}
    assert report.stats == {"frames_trimmed": 3, "frames_padded": 3, "alignments_without_cut": 1}  # ghost
    assert "skipped 2, fixed 4" in report.summary()

    cuts = {c.id: c for c in CutSet.from_file(manifest)}
    for i in (0, 1, 2, 3, 4, 5):
        targets = load_targets(cuts[f"utt{i}"])
        source = mismatched[f"utt{i}"]
        assert targets.dtype == np.int64 and len(targets) == FRAMES[i] == cuts[f"utt{i}"].features.num_frames
        common = min(len(source), FRAMES[i])
        np.testing.assert_array_equal(targets[:common], source[:common])
        np.testing.assert_array_equal(targets[common:], source[-1])  # padding repeats the last target


def test_targets_archive_is_kaldi_format(corpus, mismatched, tmp_path):
    attach_targets(corpus, mismatched, tmp_path / "out", num_pdfs=500)
    written = kaldiio.load_scp(str(tmp_path / "out" / "targets.scp"))
    assert sorted(written) == ["utt0", "utt1", "utt2", "utt3", "utt4", "utt5"]
    np.testing.assert_array_equal(written["utt0"], mismatched["utt0"])
    # Kaldi's binary int32 vector (BasicVectorHolder): "key \0B", size as <4><int32>, then <4><int32> per element
    raw = (tmp_path / "out" / "targets.ark").read_bytes()
    values = mismatched["utt0"]
    header = b"utt0 \x00B\x04" + struct.pack("<i", len(values))
    body = b"".join(b"\x04" + struct.pack("<i", int(v)) for v in values)
    assert raw.startswith(header + body)


@pytest.mark.parametrize("kind", ["ark", "scp", "ark,t", "pairs"])
def test_alignments_from_kaldi_rspecifiers(corpus, tmp_path, kind):
    alignments = {f"utt{i}": alignment(frames, i) for i, frames in enumerate(FRAMES)}
    if kind == "ark":
        kaldiio.save_ark(str(tmp_path / "pdf.ark"), alignments)
        source = f"ark:{tmp_path / 'pdf.ark'}"
    elif kind == "scp":
        kaldiio.save_ark(str(tmp_path / "pdf.ark"), alignments, scp=str(tmp_path / "pdf.scp"))
        source = f"scp:{tmp_path / 'pdf.scp'}"
    elif kind == "ark,t":  # what ali-to-pdf ... ark,t:- prints
        lines = [f"{key} {' '.join(map(str, value))}" for key, value in reversed(alignments.items())]
        (tmp_path / "pdf.txt").write_text("\n".join(lines) + "\n")
        source = f"ark,t:{tmp_path / 'pdf.txt'}"
    else:
        source = iter(reversed(alignments.items()))
    manifest, report = attach_targets(corpus, source, tmp_path / "out", num_pdfs=500)
    assert report.kept == len(FRAMES) and not report.skipped and not report.fixed
    for cut in CutSet.from_file(manifest):
        np.testing.assert_array_equal(load_targets(cut), alignments[cut.id])


def test_bad_targets_are_rejected(corpus, tmp_path):
    alignments = {f"utt{i}": alignment(frames, i) for i, frames in enumerate(FRAMES)}
    alignments["utt0"][3] = -1
    alignments["utt1"] = alignments["utt1"] + 600
    _, report = attach_targets(corpus, alignments, tmp_path / "out", num_pdfs=500)
    skipped = dict(report.skipped)
    assert skipped["utt0"].startswith("bad targets: utt0 has pdf-ids in [-1,")
    assert skipped["utt1"].endswith("expected [0, 500)")
    with pytest.raises(ValueError, match="no cut got targets"):
        attach_targets(corpus, {}, tmp_path / "none", num_pdfs=500)


def test_the_class_count_is_written_beside_the_targets(corpus, tmp_path):
    alignments = {f"utt{i}": alignment(frames, i) for i, frames in enumerate(FRAMES)}
    manifest, _ = attach_targets(corpus, alignments, tmp_path / "out", num_pdfs=500)
    assert (tmp_path / "out" / "num_pdfs").read_text() == "500\n"
    assert read_num_pdfs(manifest) == 500 == read_num_pdfs(tmp_path / "out")
    with pytest.raises(FileNotFoundError, match="python -m blasr.targets"):
        read_num_pdfs(tmp_path / "elsewhere" / "cuts.jsonl.gz")
    (tmp_path / "out" / "num_pdfs").write_text("many\n")
    with pytest.raises(ValueError, match="one positive integer"):
        read_num_pdfs(manifest)
    with pytest.raises(ValueError, match="positive"):
        attach_targets(corpus, alignments, tmp_path / "zero", num_pdfs=0)


def test_a_failed_rerun_leaves_no_class_count(corpus, tmp_path):
    # num_pdfs marks finished targets (the recipes check it): a rerun that stops halfway must not keep the old one
    alignments = {f"utt{i}": alignment(frames, i) for i, frames in enumerate(FRAMES)}
    attach_targets(corpus, alignments, tmp_path / "out", num_pdfs=500)
    with pytest.raises(ValueError, match="no cut got targets"):
        attach_targets(corpus, {}, tmp_path / "out", num_pdfs=500)
    assert not (tmp_path / "out" / "num_pdfs").exists()
    with pytest.raises(ValueError, match="no targets; run python -m blasr.targets on its manifest"):
        load_targets(next(iter(CutSet.from_file(corpus))).with_custom("targets", None))
