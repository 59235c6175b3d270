"""Kaldi basic-type I/O and integer-vector archives (alignments), against hand-built bytes."""

import gzip
import struct

import kaldiio
import numpy as np
import pytest

from blasr.kaldi.formats.io import (
    KaldiFormatError,
    KaldiReader,
    KaldiWriter,
    int_vectors_to_bytes,
    iter_int_vectors,
    read_int_vectors,
    write_int_vectors,
)


def i32(value: int) -> bytes:
    return b"\x04" + struct.pack("<i", value)


def test_binary_primitives_by_hand():
    data = (
        b"\0B<Tok> "
        + i32(-7)
        + b"\xfc" + struct.pack("<I", 3_000_000_000)
        + b"\x04" + struct.pack("<f", 0.25)
        + b"\x08" + struct.pack("<d", 1.5)  # a double where a float is read: Kaldi narrows it
        + b"FV " + i32(3) + struct.pack("<3f", 1.0, -2.0, 0.5)
        + b"DV " + i32(2) + struct.pack("<2d", 0.1, 0.2)
        + b"FM " + i32(2) + i32(3) + struct.pack("<6f", *range(6))
        + b"\x04" + struct.pack("<i", 3) + struct.pack("<3i", 1, -1, 5)
    )
    reader = KaldiReader(data, "x.bin")
    assert reader.binary and reader.pos == 2
    reader.expect_token("<Tok>")
    assert reader.read_int32() == -7
    assert reader.read_uint32() == 3_000_000_000
    assert reader.read_float() == 0.25
    assert reader.read_float() == 1.5
    v = reader.read_vector()
    assert v.dtype == np.float32 and v.tolist() == [1.0, -2.0, 0.5]
    d = reader.read_vector()
    assert d.dtype == np.float64 and d.tolist() == [0.1, 0.2]
    m = reader.read_matrix()
    assert m.shape == (2, 3) and m.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert reader.read_int_vector().tolist() == [1, -1, 5]
    assert reader.at_end()

    writer = KaldiWriter(binary=True)
    writer.token("<Tok>")
    writer.int32(-7)
    writer.uint32(3_000_000_000)
    writer.float(0.25)
    assert writer.getvalue() == data[: len(writer.getvalue())]
    for method, value in [("vector", v), ("vector", d), ("matrix", m)]:
        getattr(writer, method)(value)
    writer.int_vector([1, -1, 5])
    # everything but the double-as-float, which a writer never produces
    assert writer.getvalue() == data.replace(b"\x08" + struct.pack("<d", 1.5), b"")


def test_text_primitives_by_hand():
    text = b"<Tok> -7 3000000000 0.25 [ 1 -2 0.5 ]\n [\n  0 1 2 \n  3 4 5 ]\n[ 1 -1 5 ]\n [ ]\n"
    reader = KaldiReader(text, "x.txt")
    assert not reader.binary
    reader.expect_token("<Tok>")
    assert (reader.read_int32(), reader.read_uint32(), reader.read_float()) == (-7, 3_000_000_000, 0.25)
    assert reader.read_vector().tolist() == [1, -2, 0.5]
    assert reader.read_matrix().tolist() == [[0, 1, 2], [3, 4, 5]]
    assert reader.read_int_vector().tolist() == [1, -1, 5]
    assert reader.read_matrix().shape == (0, 0)
    assert reader.at_end()

    writer = KaldiWriter(binary=False)
    writer.vector(np.array([1, -2, 0.5], dtype=np.float32))
    writer.matrix(np.arange(6, dtype=np.float32).reshape(2, 3))
    writer.int_vector([1, -1, 5])
    assert writer.getvalue() == b" [ 1 -2 0.5 ]\n [\n  0 1 2 \n  3 4 5 ]\n[ 1 -1 5 ]\n"


def test_text_floats_have_kaldis_seven_digits():
    writer = KaldiWriter(binary=False)
    writer.vector(np.array([np.log(0.5), 1e-5, 123456789.0, -np.inf], dtype=np.float32))
    assert writer.getvalue() == b" [ -0.6931472 1e-05 1.234568e+08 -inf ]\n"
    six = KaldiWriter(binary=False, precision=6)
    six.float(np.log(0.5))
    assert six.getvalue() == b"-0.693147 "


def test_errors_name_file_and_byte():
    reader = KaldiReader(b"\0B<Foo> ", "final.mdl")
    with pytest.raises(KaldiFormatError, match=r"final\.mdl: expected <TransitionModel>, found <Foo> at byte 2"):
        reader.expect_token("<TransitionModel>")
    with pytest.raises(KaldiFormatError, match=r"m: expected an int32 \(size byte 4\), found size byte 8 at byte 2"):
        KaldiReader(b"\0B\x08" + bytes(8), "m").read_int32()
    with pytest.raises(KaldiFormatError, match=r"m: vector of 5 elements runs past the end of the file at byte 2"):
        KaldiReader(b"\0BFV " + i32(5) + bytes(8), "m").read_vector()
    with pytest.raises(KaldiFormatError, match=r"t: expected an integer, found 1\.5 at byte 1"):
        KaldiReader(b" 1.5", "t").read_int32()
    with pytest.raises(KaldiFormatError, match=r"t: found a line break inside a vector \(is this a matrix\?\)"):
        KaldiReader(b" [ 1 2\n 3 ]", "t").read_vector()
    with pytest.raises(KaldiFormatError, match=r"t: matrix rows have different lengths \[1, 2\]"):
        KaldiReader(b" [\n 1 2\n 3 ]", "t").read_matrix()
    with pytest.raises(KaldiFormatError, match=r"t: vector holds 'x', not a number"):
        KaldiReader(b" [ 1 x ]", "t").read_vector()
    with pytest.raises(KaldiFormatError, match=r"t: expected <A>, found the end of the file"):
        KaldiReader(b"  ", "t").expect_token("<A>")


ALIGNMENTS = {
    "utt_a": np.array([1, 1, 2, 5, 5, 5], dtype=np.int32),
    "utt_empty": np.zeros(0, dtype=np.int32),
    "utt_b": np.array([7, 8], dtype=np.int32),
}


def test_int_vector_archive_layout_by_hand():
    expected = b"utt_b \0B" + i32(2) + i32(7) + i32(8)
    assert int_vectors_to_bytes({"utt_b": [7, 8]}) == expected
    assert int_vectors_to_bytes({"utt_b": [7, 8]}, binary=False) == b"utt_b 7 8 \n"
    # kaldiio writes the same bytes
    import io

    buffer = io.BytesIO()
    kaldiio.save_ark(buffer, {"utt_b": np.array([7, 8], dtype=np.int32)})
    assert buffer.getvalue() == expected


@pytest.mark.parametrize("binary", [True, False])
@pytest.mark.parametrize("name", ["ali.1.gz", "ali.1.ark"])
def test_int_vector_archive_round_trip(tmp_path, binary, name):
    path = write_int_vectors(ALIGNMENTS, tmp_path / name, binary=binary)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")
    back = read_int_vectors(path)
    assert list(back) == list(ALIGNMENTS)
    for utt in ALIGNMENTS:
        assert back[utt].dtype == np.int32 and back[utt].tolist() == ALIGNMENTS[utt].tolist()


def test_hand_written_text_archive_and_kaldiio_agree(tmp_path):
    path = tmp_path / "ali.txt"
    path.write_bytes(b"u1 1 2 3 \nu2\nu3 \n\nu4 -4 2147483647\n")
    read = read_int_vectors(path)
    assert {k: v.tolist() for k, v in read.items()} == {"u1": [1, 2, 3], "u2": [], "u3": [], "u4": [-4, 2**31 - 1]}
    # our numpy reader and kaldiio read the same binary archive alike
    binary = write_int_vectors(ALIGNMENTS, tmp_path / "ali.ark")
    with open(binary, "rb") as f:
        theirs = dict(kaldiio.load_ark(f))
    assert {k: v.tolist() for k, v in theirs.items()} == {k: v.tolist() for k, v in read_int_vectors(binary).items()}


def test_int_vector_archive_errors(tmp_path):
    one = write_int_vectors({"u": [1, 2]}, tmp_path / "ali.1.gz")
    two = write_int_vectors({"u": [3]}, tmp_path / "ali.2.gz")
    with pytest.raises(KaldiFormatError, match=r"ali\.2\.gz: utterance 'u' appears again \(first in .*ali\.1\.gz\)"):
        read_int_vectors([one, two])
    matrices = tmp_path / "feats.ark"
    with open(matrices, "wb") as f:
        kaldiio.save_ark(f, {"u": np.zeros((2, 3), dtype=np.float32)})
    with pytest.raises(KaldiFormatError, match=r"feats\.ark: utterance 'u' holds a Kaldi FM object, not an integer"):
        read_int_vectors(matrices)
    broken = tmp_path / "ali.3.gz"
    broken.write_bytes(gzip.compress(b"u \0B\x04\x05\x00\x00\x00\x04\x01"))
    with pytest.raises(KaldiFormatError, match=r"ali\.3\.gz: utterance 'u': an integer vector of 5 elements needs "
                       r"25 bytes, the archive has 2 left"):
        list(iter_int_vectors(broken))
    hostile = tmp_path / "ali.4.ark"  # a count of 2^31 - 1: refused before anything is allocated
    hostile.write_bytes(b"u \0B\x04" + struct.pack("<i", 2**31 - 1) + b"\x04\x01\x00\x00\x00")
    with pytest.raises(KaldiFormatError, match=r"ali\.4\.ark: utterance 'u': an integer vector of 2147483647 elements"):
        list(iter_int_vectors(hostile))
    with pytest.raises(FileNotFoundError, match="nope.gz"):
        read_int_vectors(tmp_path / "nope.gz")
    with pytest.raises(ValueError, match="holds whitespace"):
        int_vectors_to_bytes({"a b": [1]})
