"""Kaldi lattice archives: a corrupt state count is a named error before anything is allocated per state."""

import struct

import numpy as np
import pytest

from blasr.kaldi.formats.fst import parse_fst_header
from blasr.kaldi.formats.io import KaldiFormatError
from blasr.kaldi.formats.lattice import CompactLattice, compact_lattice_bytes, parse_compact_lattice, read_lattices


def small_lattice() -> CompactLattice:
    return CompactLattice(0, np.array([0], np.int32), np.array([1], np.int32), np.array([5], np.int32),
                          np.array([[1.0, 2.0]], np.float32), [(3, 4)], np.array([[np.inf, np.inf], [0, 0]],
                                                                                   np.float32), [(), ()])


def test_hostile_state_counts(tmp_path):
    data = compact_lattice_bytes(small_lattice())
    back, end = parse_compact_lattice(data)
    assert end == len(data) and back.word.tolist() == [5] and back.tids == [(3, 4)]
    at = parse_fst_header(data).size - 16  # int64 number of states
    hostile = data[:at] + struct.pack("<q", 2**40) + data[at + 8:]
    with pytest.raises(KaldiFormatError, match=r"<lattice>: the header promises 1099511627776 states, more than"):
        parse_compact_lattice(hostile)
    (tmp_path / "lat.1").write_bytes(b"utt1 " + hostile)
    with pytest.raises(KaldiFormatError, match=r"lat\.1: lattice 'utt1': the header promises 1099511627776 states"):
        list(read_lattices(tmp_path / "lat.1"))
