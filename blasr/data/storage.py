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

from blasr.kaldi.formats.ark import ArkWriter, read_object_at

STORAGE_TYPE = "kaldi_ark"


@register_reader
class KaldiArkReader(FeaturesReader):
    """Reads one vector or matrix at ``storage_key`` (a byte offset) of a Kaldi binary ark."""

    name = STORAGE_TYPE

    def __init__(self, storage_path: str | os.PathLike, *args, **kwargs) -> None:
        super().__init__()
        self.storage_path = str(storage_path)

    def read(self, key: str, left_offset_frames: int = 0, right_offset_frames: int | None = None) -> np.ndarray:

        return read_object_at(self.storage_path, int(key))[left_offset_frames:right_offset_frames]


@register_writer
class KaldiArkWriter(FeaturesWriter):
    """Writes Kaldi binary ``<path>.ark`` and the index ``<path>.scp`` atomically
    (:class:`~blasr.kaldi.formats.ark.ArkWriter`: renamed into place on close); keys are byte offsets."""

    name = STORAGE_TYPE

    def __init__(self, storage_path: str | os.PathLike, mode: str = "wb", *args, **kwargs) -> None:
        super().__init__()
        if "a" in mode:
            raise ValueError(f"{storage_path}: Kaldi archives are written whole (mode {mode!r} is not supported)")
        path = Path(storage_path)
        self.ark = ArkWriter(path.with_suffix(".ark"), path.with_suffix(".scp"))

    @property
    def storage_path(self) -> str:
        return str(self.ark.ark)

    def write(self, key: str, value: np.ndarray) -> str:
        return str(self.ark.write(key, value))

    def store_targets(self, key: str, targets: np.ndarray, frame_shift: float, start: float) -> TemporalArray:
        """Write an int32 frame vector; return the :class:`TemporalArray` to attach to the cut."""
        offset = self.write(key, np.asarray(targets, dtype=np.int32))
        array = Array(storage_type=self.name, storage_path=self.storage_path, storage_key=offset, shape=[len(targets)])
        return TemporalArray(array=array, temporal_dim=0, frame_shift=frame_shift, start=start)

    def close(self) -> None:
        self.ark.commit()

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.ark.commit()
        else:
            self.ark.abort()

