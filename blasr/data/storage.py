"""Frame targets stored as a Kaldi int32-vector archive, registered as lhotse storage ``kaldi_ark``.

A cut's targets are a lhotse :class:`~lhotse.array.TemporalArray` (custom
field ``targets``) whose ``storage_path`` is a Kaldi binary archive and whose
``storage_key`` is the byte offset of the utterance's vector in it: the ark is
exactly what ``ali-to-pdf`` writes (``BasicVectorHolder<int32>``), the ``.scp``
written beside it (``utt path:offset``) lets Kaldi tools read it back
(``copy-int-vector scp:targets.scp ark,t:-``), and lhotse reads one vector with
one seek.

Importing :mod:`blasr.data` registers the reader, so ``cut.targets.load()``
works in any process that imported blasr.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from lhotse.array import Array, TemporalArray
from lhotse.features.io import FeaturesReader, FeaturesWriter, register_reader, register_writer

STORAGE_TYPE = "kaldi_ark"


@register_reader
class KaldiArkReader(FeaturesReader):
    """Reads one vector or matrix at ``storage_key`` (a byte offset) of a Kaldi binary ark."""

    name = STORAGE_TYPE

    def __init__(self, storage_path: str | os.PathLike, *args, **kwargs) -> None:
        super().__init__()
        self.storage_path = str(storage_path)

    def read(self, key: str, left_offset_frames: int = 0, right_offset_frames: int | None = None) -> np.ndarray:
        import kaldiio

        return kaldiio.load_mat(f"{self.storage_path}:{int(key)}")[left_offset_frames:right_offset_frames]


@register_writer
class KaldiArkWriter(FeaturesWriter):
    """Writes Kaldi binary ``<path>.ark`` and the index ``<path>.scp``; keys are byte offsets."""

    name = STORAGE_TYPE

    def __init__(self, storage_path: str | os.PathLike, mode: str = "wb", *args, **kwargs) -> None:
        super().__init__()
        path = Path(storage_path)
        self.ark_path = path.with_suffix(".ark").resolve()
        self.scp_path = path.with_suffix(".scp")
        self.ark_path.parent.mkdir(parents=True, exist_ok=True)
        mode = mode if "b" in mode else mode + "b"
        self.ark = open(self.ark_path, mode)
        self.scp = open(self.scp_path, mode.replace("b", ""))

    @property
    def storage_path(self) -> str:
        return str(self.ark_path)

    def write(self, key: str, value: np.ndarray) -> str:
        from kaldiio.matio import write_array

        if any(ch.isspace() for ch in key) or not key:
            raise ValueError(f"Kaldi keys cannot be empty or contain whitespace: {key!r}")
        self.ark.write(f"{key} ".encode())
        offset = self.ark.tell()  # Kaldi's scp offset points just past "key "
        write_array(self.ark, np.ascontiguousarray(value))  # "\0B" + Kaldi binary object
        self.scp.write(f"{key} {self.ark_path}:{offset}\n")
        return str(offset)

    def store_targets(self, key: str, targets: np.ndarray, frame_shift: float, start: float) -> TemporalArray:
        """Write an int32 frame vector; return the :class:`TemporalArray` to attach to the cut."""
        offset = self.write(key, np.asarray(targets, dtype=np.int32))
        array = Array(storage_type=self.name, storage_path=self.storage_path, storage_key=offset, shape=[len(targets)])
        return TemporalArray(array=array, temporal_dim=0, frame_shift=frame_shift, start=start)

    def close(self) -> None:
        self.ark.close()
        self.scp.close()

    def __exit__(self, *args) -> None:
        self.close()

