"""NIST SPHERE audio (the LDC's ``.sph``): how lhotse recordings read it, with or without ``sph2pipe``.

lhotse reads every ``*.sph`` path with the ``sph2pipe`` program (its
``Sph2pipeSubprocessBackend``, chosen by the file name): needed for the LDC's
shorten-compressed files (``sample_coding -s26 pcm,embedded-shorten-v2.00``),
which nothing else decodes. ``lhotse install-sph2pipe`` or Kaldi's
``tools/sph2pipe_v2.5`` provide it.

Without ``sph2pipe``, uncompressed SPHERE (``pcm``, ``ulaw``, ``alaw``: what
``soundfile.write(..., format="NIST")`` writes, and some LDC releases) is still
readable by libsndfile. Then :func:`sphere_source` gives the recording a
*command* source that runs :func:`write_wav` on the file (all channels as a
WAV on stdout, like ``sph2pipe -f wav -p FILE``): ``python -I -c`` running this
module's file by path, so that it starts in a fraction of a second, without
importing blasr and torch (this module imports only the standard library and
soundfile at the top); lhotse runs it once per recording read, and
``blasr.features`` decodes each recording once per task.
A compressed file without ``sph2pipe`` is an error saying what to install.

    python -m blasr.sphere FILE.sph > FILE.wav      # the same by hand (blasr/sphere.py)
"""

from __future__ import annotations

import contextlib
import io
import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import BinaryIO

import soundfile

SPH2PIPE = "sph2pipe"
# run write_wav from this file alone (no blasr import: fast to start); the file is argv[1]
WAV_COMMAND = (f"import runpy, sys; runpy.run_path({str(Path(__file__).resolve())!r})"
               "['write_wav'](sys.argv[1], sys.stdout.buffer)")


class SphereError(OSError):
    """A SPHERE file that cannot be read here (compressed without sph2pipe, not SPHERE, truncated header).

    An ``OSError``, not a :class:`~blasr.utils.errors.BlasrError`: this file runs without blasr, and
    programs report an ``OSError`` as the user's error all the same."""


def read_header(path: str | os.PathLike) -> dict[str, str | int | float]:
    """The fields of a SPHERE header (``NIST_1A``, its size, ``name -type value`` lines up to ``end_head``)."""
    path = Path(path)
    with open(path, "rb") as f:
        start = f.read(16)
        if not start.startswith(b"NIST_1A"):
            raise SphereError(f"{path}: not a NIST SPHERE file (no NIST_1A header)")
        try:
            size = int(start[8:16].strip())
        except ValueError:
            raise SphereError(f"{path}: bad SPHERE header size {start[8:16]!r}") from None
        block = start + f.read(max(0, size - 16))
    fields: dict[str, str | int | float] = {}
    for line in block.decode("latin-1").splitlines()[2:]:
        parts = line.split(None, 2)
        if not parts or parts[0] == "end_head":
            break
        if len(parts) == 3:
            name, kind, value = parts
            fields[name] = int(value) if kind == "-i" else float(value) if kind == "-r" else value
    return fields


def is_compressed(header: dict) -> bool:
    """True for embedded compression (shorten, wavpack, shortpack): only sph2pipe decodes those."""
    coding = str(header.get("sample_coding", "pcm")).lower()
    return any(name in coding for name in ("shorten", "wavpack", "shortpack"))


def have_sph2pipe() -> bool:
    return shutil.which(SPH2PIPE) is not None


def sphere_source(path: str | os.PathLike, channels: list[int]):
    """A lhotse ``AudioSource`` for a SPHERE file: the file itself with sph2pipe, else the module's command."""
    from lhotse.audio import AudioSource

    path = Path(path).resolve()
    if have_sph2pipe():
        return AudioSource(type="file", channels=channels, source=str(path))
    if is_compressed(read_header(path)):
        raise SphereError(
            f"{path}: compressed SPHERE ({read_header(path).get('sample_coding')}) needs sph2pipe on PATH: "
            "run 'lhotse install-sph2pipe' (or use Kaldi's tools/sph2pipe_v2.5) and prepare again"
        )
    command = f"{shlex.quote(sys.executable)} -I -c {shlex.quote(WAV_COMMAND)} {shlex.quote(str(path))}"
    return AudioSource(type="command", channels=channels, source=command)


@contextlib.contextmanager
def sphere_info_backend():
    """Let lhotse's ``Recording.from_file`` read SPHERE headers with libsndfile when sph2pipe is missing.

    Set for this process and for worker processes (``LHOTSE_AUDIO_BACKEND``);
    restored on exit. With sph2pipe present nothing changes.
    """
    if have_sph2pipe():
        yield
        return
    from lhotse.audio.backend import audio_backend

    previous = os.environ.get("LHOTSE_AUDIO_BACKEND")
    os.environ["LHOTSE_AUDIO_BACKEND"] = "LibsndfileBackend"
    try:
        with audio_backend("LibsndfileBackend"):
            yield
    finally:
        if previous is None:
            os.environ.pop("LHOTSE_AUDIO_BACKEND", None)
        else:
            os.environ["LHOTSE_AUDIO_BACKEND"] = previous


def write_wav(path: str | os.PathLike, out: BinaryIO) -> None:
    """Write an uncompressed SPHERE file to ``out`` as 16-bit WAV, all channels (``sph2pipe -f wav -p``)."""
    path = Path(path)
    if is_compressed(read_header(path)):
        raise SphereError(f"{path}: compressed SPHERE; decode it with sph2pipe -f wav -p")
    samples, rate = soundfile.read(path, dtype="int16", always_2d=True)
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format="WAV", subtype="PCM_16")
    out.write(buffer.getvalue())
