"""SPHERE audio without sph2pipe: header parsing, compressed files refused, the WAV command round trip."""

import io
import subprocess

import numpy as np
import pytest
import soundfile

from blasr.data import sphere
from blasr.sphere import main


def write_sphere(path, samples, subtype="ULAW"):
    soundfile.write(path, samples, 8000, format="NIST", subtype=subtype)
    return path


def test_header_fields(tmp_path):
    path = write_sphere(tmp_path / "a.sph", np.zeros((800, 2), dtype=np.int16))
    header = sphere.read_header(path)
    assert (header["channel_count"], header["sample_rate"], header["sample_count"]) == (2, 8000, 800)
    assert header["sample_coding"] == "ulaw" and not sphere.is_compressed(header)
    assert sphere.is_compressed({"sample_coding": "ulaw,embedded-shorten-v2.00"})
    (tmp_path / "b.sph").write_bytes(b"RIFF....")
    with pytest.raises(sphere.SphereError, match="not a NIST SPHERE file"):
        sphere.read_header(tmp_path / "b.sph")


def test_command_source_decodes_all_channels(tmp_path, monkeypatch, capsysbinary):
    rng = np.random.default_rng(0)
    samples = (rng.normal(0, 3000, size=(4000, 2))).astype(np.int16)
    path = write_sphere(tmp_path / "pcm.sph", samples, "PCM_16")
    monkeypatch.setattr(sphere, "have_sph2pipe", lambda: False)
    source = sphere.sphere_source(path, [0, 1])
    assert source.type == "command" and "sphere.py" in source.source
    wav = subprocess.run(source.source, shell=True, capture_output=True, check=True).stdout
    decoded, rate = soundfile.read(io.BytesIO(wav), dtype="int16")
    assert rate == 8000 and np.array_equal(decoded, samples)
    capsysbinary.readouterr()
    assert main([str(path)]) == 0  # python -m blasr.sphere FILE: the same WAV
    assert capsysbinary.readouterr().out == wav
    monkeypatch.setattr(sphere, "have_sph2pipe", lambda: True)
    assert sphere.sphere_source(path, [0, 1]).type == "file"  # lhotse's own sph2pipe reading


def test_compressed_sphere_without_sph2pipe_says_what_to_install(tmp_path, monkeypatch):
    # an LDC-style header: u-law, shorten-compressed (the body is never read)
    fields = ["NIST_1A", "   1024", "channel_count -i 2", "sample_rate -i 8000", "sample_n_bytes -i 1",
              "sample_coding -s26 ulaw,embedded-shorten-v2.00", "end_head"]
    header = "\n".join(fields).encode() + b"\n"
    path = tmp_path / "c.sph"
    path.write_bytes(header + b" " * (1024 - len(header)) + bytes(100))
    assert sphere.read_header(path)["sample_coding"] == "ulaw,embedded-shorten-v2.00"
    monkeypatch.setattr(sphere, "have_sph2pipe", lambda: False)
    with pytest.raises(sphere.SphereError, match="needs sph2pipe on PATH: run 'lhotse install-sph2pipe'"):
        sphere.sphere_source(path, [0, 1])
    assert main([str(path)]) == 1
