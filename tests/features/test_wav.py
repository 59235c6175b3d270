import struct

import numpy as np
import soundfile

from blasr.features.wav import wav_shortfall
from tests.features.synthetic import write_wav


def test_a_cut_short_wav_file_is_found(tmp_path):
    # 1000 stereo int16 frames (4 bytes each); 1000 bytes cut off the end: 750 frames held
    path = write_wav(tmp_path / "a.wav", np.zeros((1000, 2), np.int16), 8000)
    assert wav_shortfall(path) is None
    path.write_bytes(path.read_bytes()[:-1000])
    assert wav_shortfall(path) == (1000, 750)
    assert soundfile.info(path).frames == 750  # what libsndfile (and lhotse) quietly read


def test_chunks_before_the_data_are_skipped_and_unknown_sizes_are_not_truncation(tmp_path):
    fmt = struct.pack("<HHIIHH", 1, 1, 16000, 32000, 2, 16)
    def wav(data_size, data, extra=b""):
        body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + extra + b"data" + struct.pack("<I", data_size)
        return b"RIFF" + struct.pack("<I", len(body) + len(data)) + body + data
    path = tmp_path / "b.wav"
    odd = b"LIST" + struct.pack("<I", 3) + b"abc\x00"  # an odd-sized chunk, padded to an even size
    path.write_bytes(wav(200, bytes(120), odd))
    assert wav_shortfall(path) == (100, 60)
    for size in (0, 0xFFFFFFFF):  # written by a stream that could not seek back: read to the end, as Kaldi
        path.write_bytes(wav(size, bytes(120)))
        assert wav_shortfall(path) is None
    path.write_bytes(b"NIST_1A\n" + bytes(100))
    assert wav_shortfall(path) is None
