"""``python -m blasr.train_lm --text TEXT --out DIR``: an ARPA n-gram LM (Kneser-Ney, as SRILM) with kaldingram.

    python -m blasr.train_lm --text data/corpus/lm/text --out data/lm --order 3 \\
        [--prune-threshold 1e-7] [--dev-text data/corpus/dev/text]

Writes ``DIR/lm.arpa`` (then ``python -m blasr.format_lm LANG DIR/lm.arpa
LANG_TEST`` makes G.fst) and ``DIR/report.json`` (n-gram counts, and the
perplexity on the dev sentences when ``--dev-text`` gives a Kaldi ``text``
file: utterance id, then the words). The work is
:func:`blasr.kaldi.lang.ngram.train_arpa`.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

from blasr.kaldi.lang.ngram import perplexity, train_arpa
from blasr.utils import cli


@cli.program
def main(argv: list[str] | None = None) -> int:
    p = cli.parser("blasr.train_lm", __doc__)
    p.add_argument("--text", required=True, help="training text, one sentence a line")
    p.add_argument("--out", required=True, help="output directory (lm.arpa, report.json)")
    p.add_argument("--order", type=int, default=3, help="n-gram order (1..5)")
    p.add_argument("--prune-threshold", type=float, default=0.0,
                   help="entropy pruning threshold, SRILM's -prune (0: no pruning)")
    p.add_argument("--dev-text", default=None, help="Kaldi text file (id words...) to report the perplexity on")
    args = p.parse_args(argv)
    cli.setup_logging()
    out = Path(args.out)
    start = time.perf_counter()
    info = train_arpa(args.text, out / "lm.arpa", args.order, args.prune_threshold or None)
    report = {**asdict(info), "path": str(info.path), "seconds": time.perf_counter() - start}
    if args.dev_text:
        lines = Path(args.dev_text).read_text(encoding="utf-8").splitlines()
        stats = perplexity(out / "lm.arpa", (line.split(maxsplit=1)[1] for line in lines if len(line.split()) > 1))
        report["dev"] = {"text": args.dev_text, **stats}
        print(f"{args.dev_text}: {stats['num_sentences']} sentences, {stats['num_words']} words, "
              f"{stats['num_oov']} OOVs, ppl {stats['ppl']:.1f}, ppl1 {stats['ppl1']:.1f}")
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {out / 'lm.arpa'}: n-grams {info.ngrams}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
