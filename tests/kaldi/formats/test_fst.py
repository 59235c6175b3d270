"""HCLG.fst reading: OpenFst const FSTs (as Kaldi's mkgraph.sh writes them) converted to vector FSTs in numpy."""

import struct

import kaldi_hmm_gmm  # noqa: F401,I001  (before kaldifst: the other order deadlocks at import)
import kaldifst
import numpy as np
import pytest

from blasr.kaldi.formats.fst import (
    ARC_DTYPE,
    STATE_DTYPE,
    const_to_vector_bytes,
    convert_fst,
    convert_with_fstconvert,
    fstconvert_available,
    parse_fst_header,
    read_fst,
    read_fst_header,
)
from blasr.kaldi.formats.io import KaldiFormatError

# A small transducer with epsilons, a state without arcs (3) in the middle, a self-loop and final weights.
FST_TEXT = "0 1 1 2 0.5\n0 2 0 0 1.5\n1 2 3 4 0.25\n1 1 5 0 0.125\n2 3 7 7 1\n2 4 6 6 0\n4 0 2 2\n2 0\n3 0.5\n4 1.25\n"
HEADER_SIZE = 65  # magic, "const", "standard", version, flags, properties, start, #states, #arcs


@pytest.fixture
def fsts(tmp_path):
    fst = kaldifst.compile(FST_TEXT, acceptor=False)
    fst.write(str(tmp_path / "vector.fst"))
    kaldifst.StdConstFst(fst).write(str(tmp_path / "HCLG.fst"))
    return fst, tmp_path / "vector.fst", tmp_path / "HCLG.fst"


def test_headers(fsts):
    _, vector_path, const_path = fsts
    const = read_fst_header(const_path)
    assert (const.fst_type, const.arc_type, const.version, const.flags) == ("const", "standard", 2, 0)
    assert (const.start, const.num_states, const.num_arcs, const.size) == (0, 5, 7, HEADER_SIZE)
    assert read_fst_header(vector_path).fst_type == "vector"


def test_const_layout_by_hand(fsts):
    _, _, const_path = fsts
    data = const_path.read_bytes()
    states = np.frombuffer(data, STATE_DTYPE, 5, HEADER_SIZE)
    arcs = np.frombuffer(data, ARC_DTYPE, 7, HEADER_SIZE + 5 * STATE_DTYPE.itemsize)
    assert len(data) == HEADER_SIZE + 5 * 20 + 7 * 16
    assert states["narcs"].tolist() == [2, 2, 2, 0, 1] and states["pos"].tolist() == [0, 2, 4, 6, 6]
    assert states["niepsilons"].tolist() == [1, 0, 0, 0, 0] and states["noepsilons"].tolist() == [1, 1, 0, 0, 0]
    assert states["final"][[2, 3, 4]].tolist() == [0, 0.5, 1.25] and np.isinf(states["final"][0])
    assert arcs[3].tolist() == (5, 0, 0.125, 1)


def test_const_graph_reads_as_the_original(fsts):
    fst, vector_path, const_path = fsts
    read = read_fst(const_path)
    assert isinstance(read, kaldifst.StdVectorFst)
    assert str(read) == str(fst) and read.num_states == 5 and read.start == 0
    assert str(read_fst(vector_path)) == str(fst)
    # same states and arcs as kaldifst's own vector file (the headers differ only in known properties)
    converted = const_to_vector_bytes(const_path.read_bytes(), "HCLG.fst")
    original = vector_path.read_bytes()
    converted_header = parse_fst_header(converted)
    assert converted[converted_header.size :] == original[read_fst_header(vector_path).size :]
    assert converted_header.properties & 0x3 == 0x3  # expanded, mutable


def _aligned(data: bytes) -> bytes:
    """The aligned variant (file version 1): header, states and arcs each padded to 16 bytes."""
    header = bytearray(data[:HEADER_SIZE])
    header[25:29] = struct.pack("<i", 1)  # version comes after magic (4), "const" (9), "standard" (12)
    states = data[HEADER_SIZE : HEADER_SIZE + 5 * 20]
    arcs = data[HEADER_SIZE + 5 * 20 :]

    def pad(n):
        return bytes(-n % 16)

    out = bytes(header) + pad(len(header))
    out += states
    return out + pad(len(out)) + arcs


def test_aligned_and_reordered_const_files(fsts, tmp_path):
    fst, _, const_path = fsts
    data = const_path.read_bytes()
    expected = const_to_vector_bytes(data)
    aligned = _aligned(data)
    assert parse_fst_header(aligned).version == 1
    assert const_to_vector_bytes(aligned) == expected
    # arcs stored out of state order (pos not cumulative) are gathered per state
    states = np.frombuffer(data, STATE_DTYPE, 5, HEADER_SIZE).copy()
    arcs = np.frombuffer(data, ARC_DTYPE, 7, HEADER_SIZE + 100)
    order = [4, 5, 2, 3, 0, 1, 6]  # state 2's arcs first, then state 1's, then state 0's, then state 4's
    states["pos"] = [4, 2, 0, 6, 6]
    shuffled = data[:HEADER_SIZE] + states.tobytes() + arcs[order].tobytes()
    assert const_to_vector_bytes(shuffled) == expected
    (tmp_path / "shuffled.fst").write_bytes(shuffled)
    assert str(read_fst(tmp_path / "shuffled.fst")) == str(fst)


def test_symbol_tables_are_kept(fsts, tmp_path):
    fst, _, const_path = fsts
    data = const_path.read_bytes()

    def string(text):
        return struct.pack("<i", len(text)) + text.encode()

    names = ["<eps>", "a", "b", "c", "d", "e", "f", "g"]  # every input label must have a symbol
    symbols = struct.pack("<i", 2125658996) + string("isyms") + struct.pack("<qq", len(names), len(names))
    symbols += b"".join(string(s) + struct.pack("<q", i) for i, s in enumerate(names))
    with_symbols = bytearray(data[:HEADER_SIZE])
    with_symbols[29:33] = struct.pack("<i", 1)  # flags: input symbols follow the header
    path = tmp_path / "with_symbols.fst"
    path.write_bytes(bytes(with_symbols) + symbols + data[HEADER_SIZE:])
    header = read_fst_header(path)
    assert header.symbols == symbols and header.size == HEADER_SIZE + len(symbols)
    read = read_fst(path)
    assert read.input_symbols is not None and read.input_symbols.find(3) == "c"
    assert str(read).splitlines()[0].split() == ["0", "1", "a", "2", "0.5"]


def test_convert_once_then_load_the_vector_file(fsts, tmp_path):
    fst, vector_path, const_path = fsts
    out = convert_fst(const_path, tmp_path / "HCLG.vector.fst")
    assert read_fst_header(out).fst_type == "vector"
    assert str(kaldifst.StdVectorFst.read(str(out))) == str(fst)
    assert convert_fst(vector_path, tmp_path / "copy.fst").read_bytes() == vector_path.read_bytes()


@pytest.mark.skipif(not fstconvert_available(), reason="OpenFst's fstconvert (libfst-tools) is not installed")
def test_byte_identical_to_fstconvert(fsts, tmp_path):
    _, _, const_path = fsts
    theirs = convert_with_fstconvert(const_path, tmp_path / "theirs.fst").read_bytes()
    assert convert_fst(const_path, tmp_path / "ours.fst").read_bytes() == theirs
    aligned = tmp_path / "aligned.fst"
    aligned.write_bytes(_aligned(const_path.read_bytes()))
    assert convert_with_fstconvert(aligned, tmp_path / "theirs2.fst").read_bytes() == theirs


def test_bad_files(fsts, tmp_path):
    _, _, const_path = fsts
    data = const_path.read_bytes()
    bad = tmp_path / "bad.fst"
    bad.write_bytes(b"\0B" + data)
    with pytest.raises(KaldiFormatError, match=r"bad\.fst: not an OpenFst binary FST \(magic number"):
        read_fst(bad)
    bad.write_bytes(data[:-10])
    with pytest.raises(KaldiFormatError, match=r"bad\.fst: truncated const FST: the header promises 5 states, 7 arcs"):
        read_fst(bad)
    bad.write_bytes(data[:40])
    with pytest.raises(KaldiFormatError, match=r"bad\.fst: unexpected end of file in the FST header"):
        read_fst(bad)
    bad.write_bytes(data.replace(b"\x05\x00\x00\x00const", b"\x05\x00\x00\x00conxt", 1))
    with pytest.raises(KaldiFormatError, match=r"FST type 'conxt' is not supported"):
        read_fst(bad)
    arcs = np.frombuffer(data, ARC_DTYPE, 7, HEADER_SIZE + 100).copy()
    arcs["nextstate"][0] = 9
    bad.write_bytes(data[: HEADER_SIZE + 100] + arcs.tobytes())
    with pytest.raises(KaldiFormatError, match=r"an arc points to a state outside 0\.\.4"):
        read_fst(bad)
    with pytest.raises(FileNotFoundError, match="missing.fst"):
        read_fst(tmp_path / "missing.fst")


def test_corrupt_vector_headers_are_named_before_openfst_allocates(fsts, tmp_path):
    _, vector_path, _ = fsts
    data = vector_path.read_bytes()
    header = parse_fst_header(data)
    at = header.size - 16  # int64 number of states, then int64 number of arcs
    bad = tmp_path / "bad.fst"
    bad.write_bytes(data[:at] + struct.pack("<q", -2) + data[at + 8:])  # OpenFst: "vector::reserve"
    with pytest.raises(KaldiFormatError, match=r"bad\.fst: the FST header gives a negative number of states \(-2\)"):
        read_fst(bad)
    bad.write_bytes(data[:at] + struct.pack("<q", 2**40) + data[at + 8:])  # OpenFst: std::bad_alloc
    with pytest.raises(KaldiFormatError, match=r"bad\.fst: the FST header promises 1099511627776 states, the \d+"):
        read_fst(bad)
    first_state = header.size + 4  # float final weight, then int64 arc count
    bad.write_bytes(data[:first_state] + struct.pack("<q", 2**31) + data[first_state + 8:])
    with pytest.raises(KaldiFormatError, match=r"bad\.fst: state 0 claims 2147483648 arcs, more than the file holds"):
        read_fst(bad)
