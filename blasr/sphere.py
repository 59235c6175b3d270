"""``python -m blasr.sphere FILE.sph > FILE.wav``: an uncompressed NIST SPHERE file as 16-bit WAV, all channels.

What ``sph2pipe -f wav -p FILE`` does, for the SPHERE codings libsndfile reads
(``pcm``, ``ulaw``, ``alaw``); a shorten-compressed file (the LDC's) is an
error: decode it with sph2pipe. Recordings prepared without sph2pipe read
their audio this way (:func:`blasr.data.sphere.sphere_source`). The work is
:func:`blasr.data.sphere.write_wav`.
"""

from __future__ import annotations

import sys

from blasr.data.sphere import write_wav
from blasr.utils import cli


@cli.program
def main(argv: list[str] | None = None) -> int:
    p = cli.parser("blasr.sphere", __doc__)
    p.add_argument("file", help="SPHERE file (.sph); the WAV goes to stdout")
    args = p.parse_args(argv)
    cli.setup_logging()
    write_wav(args.file, sys.stdout.buffer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
