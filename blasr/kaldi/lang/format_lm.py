"""Kaldi's ``utils/format_lm.sh``: a lang directory plus G.fst (``python -m blasr.format_lm LANG ARPA OUT``).

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
from pathlib import Path

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
