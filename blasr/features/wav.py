"""WAV headers read with the standard library: is a file shorter than its header says?

libsndfile (and so lhotse) quietly reads the samples a cut-short WAV file holds;
Kaldi's ``WaveData::Read`` reads them too but warns that the file is
truncated. :func:`wav_shortfall` tells the features stage, which does the same.
"""

from __future__ import annotations

import os
import struct

# a data chunk of this size was written by a stream that could not seek back (Kaldi reads to the end)
_UNKNOWN_SIZES = (0, 0xFFFFFFFF)


def wav_shortfall(path: str | os.PathLike) -> tuple[int, int] | None:
    """``(promised, held)`` sample frames of a RIFF/WAVE file whose data chunk is cut short, else None.

    None for a complete file, a file that is not WAV, a header without a ``fmt ``
    chunk before ``data``, or a data size a stream left unknown (0 or 0xFFFFFFFF).
    """
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RF64") or head[8:12] != b"WAVE":
            return None
        block_align = 0
        while True:
            chunk = f.read(8)
            if len(chunk) < 8:
                return None
            name, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if name == b"data":
                if not block_align or size in _UNKNOWN_SIZES:
                    return None
                held = os.fstat(f.fileno()).st_size - f.tell()
                return (size // block_align, held // block_align) if held < size else None
            if name == b"fmt ":
                fmt = f.read(size)
                if len(fmt) < 14:
                    return None
                block_align = struct.unpack("<H", fmt[12:14])[0]  # bytes per sample frame (all channels)
                f.seek(size & 1, os.SEEK_CUR)
            else:
                f.seek(size + (size & 1), os.SEEK_CUR)  # chunks are padded to an even size
