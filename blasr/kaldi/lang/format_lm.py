"""``python -m blasr.kaldi.lang.format_lm LANG ARPA OUT``: Kaldi's ``utils/format_lm.sh`` (a lang directory plus G.fst).

Copies the lang directory ``LANG`` (ours or Kaldi's, e.g. an imported
``data/lang`` that must stay untouched) to ``OUT`` and writes ``OUT/G.fst``
from the ARPA file (:func:`blasr.kaldi.lang.grammar.format_lm`). N-grams with words
missing from ``words.txt`` are an error, or with ``--unknown-words skip``
left out and counted, as Kaldi's ``arpa2fst`` does. A ``.format_lm`` marker
holds the inputs' digest: the same call again does nothing.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import sys
from pathlib import Path
from typing import Sequence

from blasr.kaldi.lang.grammar import format_lm

logger = logging.getLogger("blasr")

MARKER = ".format_lm"


def format_lm_dir(lang_dir: str | Path, arpa: str | Path, out_dir: str | Path, unknown_words: str = "error") -> Path:
    """``OUT`` = a copy of ``lang_dir`` with ``G.fst`` made from ``arpa``; returns ``OUT``."""

    lang_dir, arpa, out_dir = Path(lang_dir), Path(arpa), Path(out_dir)
    for required in (lang_dir / "words.txt", lang_dir / "phones.txt", arpa):
        if not required.is_file():
            raise FileNotFoundError(f"{required}: no such file")
    digest = hashlib.sha256()
    for path in (lang_dir / "words.txt", lang_dir / "phones.txt", lang_dir / "L_disambig.fst", arpa):
        digest.update(path.read_bytes() if path.is_file() else b"")
    digest.update(unknown_words.encode())
    marker = out_dir / MARKER
    if marker.is_file() and marker.read_text().strip() == digest.hexdigest():
        logger.info("%s already holds G.fst from %s; not rebuilding", out_dir, arpa)
        return out_dir
    if out_dir.resolve() != lang_dir.resolve():
        shutil.rmtree(out_dir, ignore_errors=True)
        shutil.copytree(lang_dir, out_dir, symlinks=True, ignore=shutil.ignore_patterns("G.fst", MARKER))
    info = format_lm(out_dir, arpa, unknown_words=unknown_words)
    logger.info("G.fst in %s from %s: %s", out_dir, arpa, info)
    marker.write_text(digest.hexdigest() + "\n")
    return out_dir


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m blasr.kaldi.lang.format_lm", description=__doc__.split("\n")[0])
    p.add_argument("lang_dir", help="lang directory (phones.txt, words.txt, L_disambig.fst, ...)")
    p.add_argument("arpa", help="ARPA language model (may be gzipped)")
    p.add_argument("out_dir", help="output lang directory with G.fst")
    p.add_argument("--unknown-words", choices=("error", "skip"), default="error",
                   help="n-grams with words not in words.txt: an error, or left out and counted (arpa2fst)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        out = format_lm_dir(args.lang_dir, args.arpa, args.out_dir, args.unknown_words)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {out / 'G.fst'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
