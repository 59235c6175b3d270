"""The Kaldi ``tree`` file: a hand-written triphone tree, round trips, and kaldi-hmm-gmm reading our bytes."""

import itertools
import struct

import kaldi_hmm_gmm  # noqa: I001
import pytest

from blasr.kaldi.formats.io import KaldiFormatError
from blasr.kaldi.formats.tree import (
    ConstantEventMap,
    ContextDependency,
    SplitEventMap,
    TableEventMap,
    read_tree,
    write_tree,
)

# A triphone tree (N=3, P=1) over phones 1 (silence), 2, 3, written as Kaldi writes text:
# the central phone (key 1) picks a table entry; phone 1 has 3 pdfs whatever its context;
# phone 2 asks "pdf class 0?" then, for class 0, "is the left phone silence?" and, for the
# other classes, "is the right phone 1 or 3?"; phone 3 shares one pdf between classes 1 and 2.
TEXT_TREE = (
    b"ContextDependency 3 1 ToPdf TE 1 4 ( NULL TE -1 3 ( CE 0 CE 1 CE 2 ) \n"
    b"SE -1 [ 0 ]\n{ SE 0 [ 1 ]\n{ CE 3 CE 4 } \nSE 2 [ 1 3 ]\n{ CE 5 CE 6 } \n} \n"
    b"TE -1 3 ( CE 7 CE 8 CE 8 ) \n) \nEndContextDependency "
)


def i32(v):
    return b"\x04" + struct.pack("<i", v)


def u32(v):
    return b"\xfc" + struct.pack("<I", v)


def ivec(values):
    return b"\x04" + struct.pack("<i", len(values)) + struct.pack(f"<{len(values)}i", *values)


# The same tree in binary, by hand from event-map.cc (TE's size is a uint32: size byte -4).
BINARY_TREE = (
    b"\0BContextDependency " + i32(3) + i32(1) + b"ToPdf "
    + b"TE " + i32(1) + u32(4) + b"( NULL "
    + b"TE " + i32(-1) + u32(3) + b"( CE " + i32(0) + b"CE " + i32(1) + b"CE " + i32(2) + b") "
    + b"SE " + i32(-1) + ivec([0]) + b"{ "
    + b"SE " + i32(0) + ivec([1]) + b"{ CE " + i32(3) + b"CE " + i32(4) + b"} "
    + b"SE " + i32(2) + ivec([1, 3]) + b"{ CE " + i32(5) + b"CE " + i32(6) + b"} "
    + b"} "
    + b"TE " + i32(-1) + u32(3) + b"( CE " + i32(7) + b"CE " + i32(8) + b"CE " + i32(8) + b") "
    + b") EndContextDependency "
)


def expected_pdf(left, phone, right, pdf_class):
    if phone == 1:
        return pdf_class
    if phone == 2:
        if pdf_class == 0:
            return 3 if left == 1 else 4
        return 5 if right in (1, 3) else 6
    return 7 if pdf_class == 0 else 8


WINDOWS = [w for w in itertools.product(range(4), range(1, 4), range(4))]


@pytest.fixture
def tree_files(tmp_path):
    (tmp_path / "tree.txt").write_bytes(TEXT_TREE)
    (tmp_path / "tree").write_bytes(BINARY_TREE)
    return tmp_path / "tree.txt", tmp_path / "tree"


def test_hand_written_tree_values(tree_files):
    text_path, binary_path = tree_files
    tree = read_tree(text_path)
    assert (tree.context_width, tree.central_position, tree.num_pdfs) == (3, 1, 9)
    assert isinstance(tree.to_pdf, TableEventMap) and tree.to_pdf.key == 1 and tree.to_pdf.table[0] is None
    question = tree.to_pdf.table[2]
    assert isinstance(question, SplitEventMap) and question.key == -1 and question.yes_set == (0,)
    assert question.no.yes_set == (1, 3) and question.no.no == ConstantEventMap(6)
    for left, phone, right in WINDOWS:
        for pdf_class in range(3):
            assert tree.compute([left, phone, right], pdf_class) == expected_pdf(left, phone, right, pdf_class)
    assert tree.compute([1, 0, 1], 0) is None  # no central phone: NULL entry
    assert tree.compute([1, 3, 1], 5) is None  # no such pdf class
    assert read_tree(binary_path) == tree


def test_canonical_bytes_both_ways(tree_files, tmp_path):
    text_path, binary_path = tree_files
    tree = read_tree(binary_path)
    assert tree.to_bytes(binary=True) == BINARY_TREE
    assert tree.to_bytes(binary=False) == TEXT_TREE
    for binary in (True, False):
        path = write_tree(tree, tmp_path / f"out{binary}", binary=binary)
        assert read_tree(path) == tree


def test_kaldi_hmm_gmm_reads_our_bytes_and_agrees(tree_files, tmp_path):
    tree = read_tree(tree_files[0])
    kaldi = tree.to_kaldi_hmm_gmm()
    assert (kaldi.context_width, kaldi.central_position, kaldi.num_pdfs) == (3, 1, 9)
    for window in WINDOWS:
        for pdf_class in range(3):
            assert kaldi.compute(list(window), pdf_class) == (True, tree.compute(window, pdf_class))
    # kaldi-hmm-gmm's own writer gives back exactly our bytes, in both modes
    kaldi.write(True, str(tmp_path / "k.bin"))
    kaldi.write(False, str(tmp_path / "k.txt"))
    assert (tmp_path / "k.bin").read_bytes() == BINARY_TREE
    assert (tmp_path / "k.txt").read_bytes() == TEXT_TREE
    assert ContextDependency.from_kaldi_hmm_gmm(kaldi) == tree


def test_monophone_tree_from_kaldi_hmm_gmm(tmp_path):
    kaldi = kaldi_hmm_gmm.monophone_context_dependency([1, 2, 3], [0, 3, 3, 5])
    kaldi.write(True, str(tmp_path / "tree"))
    tree = read_tree(tmp_path / "tree")
    assert (tree.context_width, tree.central_position, tree.num_pdfs) == (1, 0, 11)
    assert [tree.compute([3], c) for c in range(5)] == [6, 7, 8, 9, 10]
    assert tree.to_bytes(binary=True) == (tmp_path / "tree").read_bytes()


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d.replace(b"ContextDependency 3 1", b"ContextDependency 3 3"), r"central position 3 is outside"),
        (lambda d: d.replace(b"CE 7", b"XE 7"), r"expected an event map \(CE, TE, SE or NULL\), found 'X' at byte \d+"),
        (lambda d: d.replace(b"{ CE 3 CE 4 }", b"{ CE 3 NULL }"), r"a split \(SE\) needs both a yes and a no map"),
        (lambda d: d.replace(b"TE 1 4 (", b"TE 1 5 ("), r"expected an event map .*found '\)'"),
        (lambda d: d.replace(b"ToPdf", b"ToFoo"), r"expected ToPdf, found ToFoo"),
        (lambda d: d + b"junk", r"unexpected data after EndContextDependency"),
        (lambda d: d[:100], r"at byte \d+"),
    ],
)
def test_bad_trees_get_clear_errors(tmp_path, edit, message):
    path = tmp_path / "tree"
    path.write_bytes(edit(TEXT_TREE))
    with pytest.raises(KaldiFormatError, match=r"tree: .*" + message):
        read_tree(path)
