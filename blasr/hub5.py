"""``python -m blasr.hub5``: Hub5'00 / RT scoring as NIST's ``hubscr.pl`` (per subset), and Table 3's layout.

    python -m blasr.hub5 score --hyp exp/bl/decode_eval2000/text --stm data/eval2000/stm \\
        --glm data/eval2000/glm --subset swbd=sw_ --subset callhome=en_ --out exp/bl/decode_eval2000
    python -m blasr.hub5 score --ctm exp/bl/decode_eval2000/ctm --stm data/eval2000/stm \\
        --glm data/eval2000/glm --subset swbd=sw_ --subset callhome=en_ --out exp/bl/decode_eval2000
    python -m blasr.hub5 table --system "ResNet-22=exp/resnet22" --set eval2000 --tune-set rt02

``score`` writes ``wer``, ``wer_<subset>``, ``wer_avg`` and ``hub5.json`` and
prints the ``%WER`` lines. With ``--ctm`` (a NIST CTM, e.g. from
:func:`blasr.kaldi.scoring.ctm.write_ctm`) the words are grouped into the stm's
segments by their times (:func:`~blasr.kaldi.scoring.hub5.ctm_hypotheses`)
and scored the same way. The work is :mod:`blasr.kaldi.scoring.hub5`
(:func:`~blasr.kaldi.scoring.hub5.score_hub5`) and
:func:`blasr.kaldi.scoring.results.hub5_table`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from blasr.kaldi.scoring.hub5 import (
    ctm_hypotheses,
    parse_subsets,
    read_glm,
    score_hub5,
    stm_references,
    text_references,
    write_score,
)
from blasr.kaldi.scoring.results import hub5_table, parse_systems
from blasr.kaldi.scoring.wer import read_text
from blasr.utils import cli


def _score(args: argparse.Namespace) -> None:
    subsets = parse_subsets(args.subset)
    glm = read_glm(args.glm) if args.glm else None
    notes = []
    if args.ctm:
        if not args.stm:
            raise ValueError("--ctm needs --stm (the words are grouped by the stm's segment times)")
        assignment = ctm_hypotheses(args.ctm, args.stm)
        references, hypotheses, notes = assignment.references, assignment.hypotheses, assignment.notes()
    else:
        references = stm_references(args.stm) if args.stm else text_references(args.text)
        hypotheses = read_text(args.hyp)
    score = score_hub5(references, hypotheses, glm, subsets)
    write_score(score, args.out)
    print("\n".join(score.lines() + score.notes() + notes))


def _table(args: argparse.Namespace) -> None:
    table = hub5_table(parse_systems(args.system), args.set, args.tune_set)
    print(table)
    if args.out:
        Path(args.out).write_text(table + "\n")


@cli.program
def main(argv: list[str] | None = None) -> int:
    p = cli.parser("blasr.hub5", __doc__)
    sub = p.add_subparsers(dest="command", required=True)
    s = cli.subparser(sub, "score", "score a decode directory's text hub5-style, in total and per subset")
    hyps = s.add_mutually_exclusive_group(required=True)
    hyps.add_argument("--hyp", help="hypotheses, a Kaldi text file (DECODE_DIR/text)")
    hyps.add_argument("--ctm", help="hypotheses, a NIST ctm (file channel start duration word [conf]); needs --stm")
    refs = s.add_mutually_exclusive_group(required=True)
    refs.add_argument("--stm", help="NIST stm references (ids as the data preparation made them)")
    refs.add_argument("--text", help="Kaldi text references (no stm)")
    s.add_argument("--glm", help="NIST glm word-mapping rules (default: none)")
    s.add_argument("--subset", action="append", default=[], metavar="NAME=PREFIX",
                   help="an utterance-id prefix to score separately, e.g. swbd=sw_ callhome=en_ (repeatable)")
    s.add_argument("--out", required=True, help="output directory (wer, wer_<subset>, wer_avg, hub5.json)")
    s.set_defaults(run=_score)
    t = cli.subparser(sub, "table", "Table 3's layout from system directories")
    t.add_argument("--system", action="append", required=True, metavar="NAME=DIR",
                   help="a system: its name and its directory (repeatable, in table order)")
    t.add_argument("--set", default="eval2000", help="the decode_<set> scored by 'score'")
    t.add_argument("--tune-set", default=None, help="also show decode_<set>/wer (the LM weight sweep's; default: none)")
    t.add_argument("--out", help="also write the table to this file")
    t.set_defaults(run=_table)
    args = p.parse_args(argv)
    cli.setup_logging()
    args.run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
