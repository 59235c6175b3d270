"""``python -m blasr.prepare_lang DICT_DIR LANG_DIR``: Kaldi's ``utils/prepare_lang.sh`` (a dict directory to a lang directory).

    python -m blasr.prepare_lang data/local/dict data/lang --oov '<unk>' [--arpa lm.arpa | --word-loop]

Writes ``phones.txt``, ``words.txt``, ``topo``, ``L.fst``, ``L_disambig.fst``,
``phones/`` (and ``G.fst`` with ``--arpa`` or ``--word-loop``); the same inputs
again reuse the finished directory. The work is
:func:`blasr.kaldi.lang.prepare.prepare_lang`.
"""

from __future__ import annotations

import sys

from blasr.kaldi.lang.prepare import prepare_lang
from blasr.utils import cli


@cli.program
def main(argv: list[str] | None = None) -> int:
    p = cli.parser("blasr.prepare_lang", __doc__)
    p.add_argument("dict_dir", help="Kaldi dict directory (lexicon.txt, silence_phones.txt, ...)")
    p.add_argument("lang_dir", help="output lang directory")
    p.add_argument("--oov", default=None, help="the OOV word, e.g. '<unk>' (must be in the lexicon; default: none)")
    p.add_argument("--sil-prob", type=float, default=0.5, help="probability of the optional silence between words")
    p.add_argument("--position-dependent-phones", choices=("true", "false"), default="false",
                   help="word-position phones _B, _I, _E, _S, as Kaldi's prepare_lang.sh uses by default")
    p.add_argument("--arpa", default=None, help="ARPA language model for G.fst (default: no G.fst)")
    p.add_argument("--word-loop", action="store_true", help="G.fst: a loop over every word")
    p.add_argument("--unknown-lm-words", choices=("error", "skip"), default="error",
                   help="n-grams with words not in the lexicon: an error, or left out and counted")
    p.add_argument("--overwrite", action="store_true", help="rebuild even a directory complete with these inputs")
    args = p.parse_args(argv)
    cli.setup_logging()
    prepare_lang(
        args.dict_dir,
        args.lang_dir,
        oov=args.oov,
        sil_prob=args.sil_prob,
        position_dependent_phones=args.position_dependent_phones == "true",
        arpa=args.arpa,
        word_loop=args.word_loop,
        unknown_lm_words=args.unknown_lm_words,
        overwrite=args.overwrite,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
