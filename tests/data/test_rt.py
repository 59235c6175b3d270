"""RT-02 / RT-03 preparation: the NIST layout, stm channels 1/2, inter-segment gaps, clear errors."""

import pytest

from blasr.data.conversations import read_stm
from blasr.data.rt import RtLayoutError, find_rt_files, prepare_rt
from tests.data.fake_swbd import make_fake_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_fake_corpus(tmp_path_factory.mktemp("fake_rt"))


def test_layout_of_ldc2007s10(corpus):
    audio, stms, glm = find_rt_files(corpus.rt03_dir)
    assert [p.name for p in audio] == ["sw_46001.sph"]
    assert [p.relative_to(corpus.rt03_dir).as_posix() for p in stms] == [
        "data/references/eval03/english/cts/eval03_cts.stm"]
    assert glm.name == "en20030506.glm"


def test_rt03_cuts_and_references(corpus, tmp_path):
    part = prepare_rt(corpus.rt03_dir, tmp_path / "rt03", "rt03")
    source = [line.split() for line in (corpus.rt03_dir / "data/references/eval03/english/cts/eval03_cts.stm")
              .read_text().splitlines() if not line.startswith(";;") and "inter_segment_gap" not in line]
    # channel 1 = side A, 2 = side B; ids from the stm times, truncated as rt03_data_prep.sh
    expected = sorted(f"{f[0]}-{'AB'[int(f[1]) - 1]}_{int(float(f[3]) * 100):06d}-{int(float(f[4]) * 100):06d}"
                      for f in source)
    assert [c.id for c in part.cuts] == expected and len(expected) == 4
    assert {c.channel for c in part.cuts} == {0, 1} and all(c.sampling_rate == 8000 for c in part.cuts)
    texts = dict(line.split(" ", 1) for line in (tmp_path / "rt03" / "text").read_text().splitlines())
    assert "i think that is right" in texts.values()  # (%HESITATION) left out of the plain text
    stm = read_stm(tmp_path / "rt03" / "stm")
    assert len(stm) == 4 and {s.side for s in stm} == {"A", "B"}  # gaps dropped, channels as sides
    assert (tmp_path / "rt03" / "glm").is_file()


def test_missing_parts_are_named(tmp_path, corpus):
    with pytest.raises(RtLayoutError, match="not a directory"):
        find_rt_files(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RtLayoutError, match=r"no \.sph audio \(expected data/audio/eval03/english/cts"):
        find_rt_files(tmp_path / "empty")
    (tmp_path / "only_audio").mkdir()
    (tmp_path / "only_audio" / "x.sph").write_bytes((corpus.rt03_dir / "data/audio/eval03/english/cts/sw_46001.sph")
                                                     .read_bytes())
    with pytest.raises(RtLayoutError, match=r"no \.stm references"):
        find_rt_files(tmp_path / "only_audio")


def test_stm_errors_name_the_line(tmp_path):
    path = tmp_path / "bad.stm"
    path.write_text(";; comment\nsw_1 A sw_1_A 0.0 1.0 <o> HI\nsw_1 C sw_1_C 1.0 2.0 HI\n")
    with pytest.raises(ValueError, match=r"bad.stm:3: channel 'C'"):
        read_stm(path)
    path.write_text("sw_1 1 sw_1_A 0.0\n")
    with pytest.raises(ValueError, match=r"bad.stm:1: expected 'file channel speaker begin end"):
        read_stm(path)
