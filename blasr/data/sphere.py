"""NIST SPHERE audio (the LDC's ``.sph``): how lhotse recordings read it, with or without ``sph2pipe``.

lhotse reads every ``*.sph`` path with the ``sph2pipe`` program (its
``Sph2pipeSubprocessBackend``, chosen by the file name): needed for the LDC's
shorten-compressed files (``sample_coding -s26 pcm,embedded-shorten-v2.00``),
which nothing else decodes. ``lhotse install-sph2pipe`` or Kaldi's
``tools/sph2pipe_v2.5`` provide it.

Without ``sph2pipe``, uncompressed SPHERE (``pcm``, ``ulaw``, ``alaw``: what
``soundfile.write(..., format="NIST")`` writes, and some LDC releases) is still
readable by libsndfile. Then :func:`sphere_source` gives the recording a
*command* source, ``python -I .../blasr/data/sphere.py FILE`` (all channels
as a WAV on stdout, like ``sph2pipe -f wav -p FILE``; run as a script so that
it starts in a fraction of a second, without importing blasr and torch);
lhotse runs it once per recording read, and ``blasr.features`` decodes each
recording once per task.
A compressed file without ``sph2pipe`` is an error saying what to install.

    python -m blasr.data.sphere FILE.sph > FILE.wav
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import sys
from pathlib import Path

SPH2PIPE = "sph2pipe"


class SphereError(RuntimeError):
    """A SPHERE file that cannot be read here (compressed without sph2pipe, not SPHERE, truncated header)."""


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
    script = Path(__file__).resolve()
    command = f"{shlex.quote(sys.executable)} -I {shlex.quote(str(script))} {shlex.quote(str(path))}"
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


def main(argv: list[str] | None = None) -> int:
    """Write an uncompressed SPHERE file as 16-bit WAV (all channels) on stdout."""
    import io

    import soundfile

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m blasr.data.sphere FILE.sph > FILE.wav", file=sys.stderr)
        return 2
    path = Path(args[0])
    try:
        if is_compressed(read_header(path)):
            raise SphereError(f"{path}: compressed SPHERE; decode it with sph2pipe -f wav -p")
        samples, rate = soundfile.read(path, dtype="int16", always_2d=True)
    except (OSError, SphereError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format="WAV", subtype="PCM_16")
    sys.stdout.buffer.write(buffer.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
