"""Kaldi archives: writers for wspecifiers (atomic files, streams, pipes), readers that check every size."""

import errno
import fcntl
import gzip
import os
import signal
import struct
import subprocess
import sys

import kaldiio
import numpy as np
import pytest

from blasr.kaldi.formats.ark import (
    ArchiveWriteError,
    ArkWriter,
    ScriptMatrices,
    open_matrices,
    open_writer,
    read_matrices,
    read_object_at,
)
from blasr.kaldi.formats.io import KaldiFormatError

RNG = np.random.default_rng(0)
MATRICES = {"u1": RNG.normal(size=(3, 4)).astype(np.float32), "u2": RNG.normal(size=(2, 4)).astype(np.float32)}


def write_pair(tmp_path, name="a"):
    with ArkWriter(tmp_path / f"{name}.ark", tmp_path / f"{name}.scp") as writer:
        for key, matrix in MATRICES.items():
            writer.write(key, matrix)
    return tmp_path / f"{name}.ark", tmp_path / f"{name}.scp"


def assert_same(read, expected=MATRICES):
    assert list(read) == list(expected)
    for key in expected:
        np.testing.assert_array_equal(read[key], expected[key])


def test_round_trips_through_every_reader(tmp_path):
    ark, scp = write_pair(tmp_path)
    assert_same(dict(read_matrices(f"ark:{ark}")))
    assert_same(dict(read_matrices(scp)))
    assert_same(open_matrices(f"scp:{scp}"))
    assert_same(dict(kaldiio.load_scp(str(scp))))  # Kaldi's layout: kaldiio agrees
    offset = int(scp.read_text().split()[1].rsplit(":", 1)[1])
    np.testing.assert_array_equal(read_object_at(ark, offset), MATRICES["u1"])
    # text, double, vectors, int32 vectors and compressed matrices as kaldiio (Kaldi's layouts) writes them
    others = {"d": RNG.normal(size=(2, 3)), "v": np.arange(5, dtype=np.float32), "i": np.array([3, -1, 7], np.int32)}
    kaldiio.save_ark(str(tmp_path / "o.ark"), others)
    read = dict(read_matrices(f"ark:{tmp_path / 'o.ark'}"))
    assert read["d"].dtype == np.float64 and read["i"].dtype == np.int32
    assert_same(read, others)
    kaldiio.save_ark(str(tmp_path / "t.ark"), MATRICES, text=True)
    text = dict(read_matrices(f"ark,t:{tmp_path / 't.ark'}"))
    assert all(np.allclose(text[k], MATRICES[k], atol=1e-6) for k in MATRICES)
    for method in (1, 2):  # kaldiio's CM2 and CM
        kaldiio.save_ark(str(tmp_path / "c.ark"), MATRICES, compression_method=method)
        compressed = dict(read_matrices(f"ark:{tmp_path / 'c.ark'}"))
        assert all(np.allclose(compressed[k], MATRICES[k], atol=0.05) for k in MATRICES)


def hostile(data: bytes, token: bytes, value: int, field: int = 0) -> bytes:
    """``data`` with the ``field``-th int32 after ``token``'s header set to ``value``."""
    at = data.index(token) + len(token) + 5 * field
    return data[:at + 1] + struct.pack("<i", value) + data[at + 5:]


def test_hostile_headers_are_refused_before_allocating(tmp_path):
    ark, scp = write_pair(tmp_path)
    data = ark.read_bytes()
    bad = tmp_path / "bad.ark"
    bad.write_bytes(hostile(hostile(data, b"FM ", 2**31 - 1), b"FM ", 40000, 1))  # 343 TB claimed
    (tmp_path / "bad.scp").write_text(scp.read_text().replace(str(ark), str(bad)))
    message = r"bad\.ark: utterance 'u1': a 2147483647 x 40000 FM object needs 343597383520000 bytes, the file has"
    with pytest.raises(KaldiFormatError, match=message):
        list(read_matrices(f"ark:{bad}"))
    with pytest.raises(KaldiFormatError, match=message):
        open_matrices(f"scp:{tmp_path / 'bad.scp'}")["u1"]
    bad.write_bytes(hostile(data, b"FM ", -3))
    with pytest.raises(KaldiFormatError, match=r"bad\.ark: utterance 'u1': FM header has negative size -3 x 4"):
        list(read_matrices(bad))
    bad.write_bytes(b"u \0B\x04" + struct.pack("<i", 2**31 - 1) + b"\x04\x00\x00\x00\x00")
    with pytest.raises(KaldiFormatError, match=r"bad\.ark: utterance 'u': an integer vector of 2147483647 elements"):
        list(read_matrices(bad))
    kaldiio.save_ark(str(bad), {"c": MATRICES["u1"]}, compression_method=2)  # CM: rows, cols after two floats
    cm = bad.read_bytes()
    at = cm.index(b"CM ") + 3 + 8
    bad.write_bytes(cm[:at] + struct.pack("<ii", 2**31 - 1, 2**31 - 1) + cm[at + 8:])
    with pytest.raises(KaldiFormatError, match=r"bad\.ark: utterance 'c': a 2147483647 x 2147483647 CM matrix"):
        list(read_matrices(bad))
    bad.write_bytes(b"u \0BXYZW 1")
    with pytest.raises(KaldiFormatError, match=r"bad\.ark: utterance 'u': unknown Kaldi object type"):
        list(read_matrices(bad))


def test_truncated_archives_name_file_and_utterance(tmp_path):
    ark, scp = write_pair(tmp_path)
    ark.write_bytes(ark.read_bytes()[:-10])
    message = r"a\.ark: utterance 'u2': a 2 x 4 FM object needs 32 bytes, the file has 22 left"
    with pytest.raises(KaldiFormatError, match=message):
        dict(read_matrices(f"ark:{ark}"))
    script = ScriptMatrices(scp)
    np.testing.assert_array_equal(script["u1"], MATRICES["u1"])  # what is there still reads
    with pytest.raises(KaldiFormatError, match=message):
        script["u2"]
    ark.write_bytes(ark.read_bytes()[:20])
    with pytest.raises(KaldiFormatError, match=r"a\.ark: utterance 'u2': offset \d+ \(from .*a\.scp\) is past the end"):
        script["u2"]
    (tmp_path / "x.scp").write_text("u1\n")
    with pytest.raises(KaldiFormatError, match=r"x\.scp, line 1: expected 'utterance file:offset'"):
        ScriptMatrices(tmp_path / "x.scp")
    (tmp_path / "y.scp").write_text(f"u1 {tmp_path}/gone.ark:3\n")
    with pytest.raises(FileNotFoundError, match=r"y\.scp: utterance 'u1' points into .*gone\.ark"):
        ScriptMatrices(tmp_path / "y.scp")["u1"]


def test_pipes_and_standard_input(tmp_path):
    ark, _ = write_pair(tmp_path)
    (tmp_path / "a.ark.gz").write_bytes(gzip.compress(ark.read_bytes()))
    assert_same(dict(read_matrices(f"ark:gzip -dc {tmp_path / 'a.ark.gz'} |")))
    with pytest.raises(KaldiFormatError, match=r"cat .*missing\.ark \|: the command exited with status 1"):
        list(read_matrices(f"ark:cat {tmp_path / 'missing.ark'} |"))
    code = ("from blasr.kaldi.formats.ark import read_matrices\n"
            "print(sorted((k, m.shape) for k, m in read_matrices('ark:-')))")
    with open(ark, "rb") as stdin:
        done = subprocess.run([sys.executable, "-c", code], stdin=stdin, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[('u1', (3, 4)), ('u2', (2, 4))]", done.stderr
    with pytest.raises(ValueError, match=r"ark;x:y: not a Kaldi rspecifier"):
        list(read_matrices("ark;x:y"))


def test_wspecifiers(tmp_path):
    for wspecifier in (f"ark:{tmp_path / 'w.ark'}", f"ark,t:{tmp_path / 'w.txt'}",
                       f"ark,scp:{tmp_path / 's.ark'},{tmp_path / 's.scp'}", f"ark:| gzip -c > {tmp_path / 'w.gz'}"):
        with open_writer(wspecifier) as writer:
            for key, matrix in MATRICES.items():
                writer.write(key, matrix)
    assert_same(dict(kaldiio.load_ark(str(tmp_path / "w.ark"))))
    assert_same(dict(kaldiio.load_scp(str(tmp_path / "s.scp"))))
    text = (tmp_path / "w.txt").read_text()
    assert text.startswith("u1  [\n") and np.allclose(dict(read_matrices(tmp_path / "w.txt"))["u2"], MATRICES["u2"])
    assert_same(dict(read_matrices(f"ark:gzip -dc {tmp_path / 'w.gz'} |")))
    with pytest.raises(ArchiveWriteError, match=r"exit 3: the command exited with status 3"):
        with open_writer("ark:| cat > /dev/null; exit 3") as writer:
            writer.write("u1", MATRICES["u1"])
    for bad in ("scp:x.scp", "ark,scp:x.ark", "x.ark", "ark,q:x"):
        with pytest.raises(ValueError, match=r"not a Kaldi wspecifier|ark,scp needs two files"):
            open_writer(bad)


class FullDisk:
    """A file on a disk that fills after ``room`` bytes: writes, flushes and closes fail with ENOSPC."""

    def __init__(self, f, room):
        self.f, self.room = f, room

    def write(self, data):
        self.room -= len(data)
        if self.room < 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        return self.f.write(data)

    def tell(self):
        return self.f.tell()

    def fileno(self):
        return self.f.fileno()

    def flush(self):
        if self.room < 0:
            raise OSError(errno.ENOSPC, "No space left on device")

    def close(self):
        self.f.close()
        self.flush()


def test_a_full_disk_is_a_named_error_and_leaves_nothing(tmp_path, monkeypatch):
    real = os.fdopen
    monkeypatch.setattr(os, "fdopen", lambda fd, mode: FullDisk(real(fd, mode), 100))
    writer = ArkWriter(tmp_path / "a.ark", tmp_path / "a.scp")
    with pytest.raises(ArchiveWriteError, match=r"a\.ark: cannot write \(No space left on device\): free space"):
        with writer:
            for key, matrix in MATRICES.items():
                writer.write(key, matrix)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    (tmp_path / "file").write_text("")
    with pytest.raises(ArchiveWriteError, match=r"file/a\.ark: cannot write .*: check the disk and the path"):
        ArkWriter(tmp_path / "file" / "a.ark")


KILLED_WRITER = """
import os, signal, sys
from blasr.kaldi.formats.ark import ArkWriter
writer = ArkWriter(sys.argv[1], sys.argv[2])
writer.write("u1", [[1.0, 2.0]])
writer._files[0][0].flush()
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_leftovers_of_a_killed_writer_are_removed_by_the_next(tmp_path):
    ark, scp = tmp_path / "a.ark", tmp_path / "a.scp"
    done = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(ark), str(scp)], timeout=60)
    assert done.returncode == -signal.SIGKILL
    leftovers = sorted(p.name for p in tmp_path.iterdir())
    assert len(leftovers) == 2 and all(n.startswith((".a.ark.", ".a.scp.")) and n.endswith(".tmp") for n in leftovers)
    others = [".a.ark.keep", "a.ark.tmp", ".a.ark.x.tmp", ".b.ark.abcdefgh.tmp", ".a.ark.abcdefgh.tmp"]
    for name in others:
        (tmp_path / name).write_text("not blasr's, or held")
    held = os.open(tmp_path / ".a.ark.abcdefgh.tmp", os.O_RDONLY)  # a live writer's file: its lock is held
    fcntl.flock(held, fcntl.LOCK_EX)
    try:
        write_pair(tmp_path)
    finally:
        os.close(held)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(others + ["a.ark", "a.scp"])
    assert_same(open_matrices(scp))
