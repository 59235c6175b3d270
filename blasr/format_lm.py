"""``python -m blasr.format_lm LANG ARPA OUT``: Kaldi's ``utils/format_lm.sh`` (a lang directory plus G.fst).

    python -m blasr.format_lm data/lang lm.arpa.gz data/lang_test --unknown-words skip

Copies the lang directory ``LANG`` (ours or Kaldi's, left untouched) to
``OUT`` and writes ``OUT/G.fst`` from the ARPA file; the same call again does
nothing. The work is :func:`blasr.kaldi.lang.format_lm.format_lm_dir`.
"""

from __future__ import annotations

import sys

from blasr.kaldi.lang.format_lm import format_lm_dir
from blasr.utils import cli


@cli.program
def main(argv: list[str] | None = None) -> int:
    p = cli.parser("blasr.format_lm", __doc__)
    p.add_argument("lang_dir", help="lang directory (phones.txt, words.txt, L_disambig.fst, ...)")
    p.add_argument("arpa", help="ARPA language model (may be gzipped)")
    p.add_argument("out_dir", help="output lang directory with G.fst")
    p.add_argument("--unknown-words", choices=("error", "skip"), default="error",
                   help="n-grams with words not in words.txt: an error, or left out and counted (arpa2fst)")
    args = p.parse_args(argv)
    cli.setup_logging()
    out = format_lm_dir(args.lang_dir, args.arpa, args.out_dir, args.unknown_words)
    print(f"wrote {out / 'G.fst'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
