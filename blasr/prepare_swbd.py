"""``python -m blasr.prepare_swbd``: Switchboard (+ Fisher), Hub5'00, RT-02/03 and the dict, the Kaldi way.

    python -m blasr.prepare_swbd prepare --out data/corpus --swbd-dir /LDC97S62 --swbd-transcripts \\
        data/swb_ms98_transcriptions --eval2000-dir /LDC2002S09 --eval2000-transcripts /LDC2002T43 \\
        [--rt03-dir /LDC2007S10] [--rt02-dir DIR] [--fisher-dir D --fisher-transcripts D]
    python -m blasr.prepare_swbd join-kaldi-alignments --cuts data/fbank/train_nodup/cuts.jsonl.gz \\
        --ali-dir exp/tri4_ali_nodup --lang data/lang --out exp/kaldi_ali/train_nodup

``prepare`` writes lhotse manifests and Kaldi data directories (``train``,
``train_dev``, ``train_nodup``, ``eval2000``, ``rt03``, ``rt02``) and ``dict/``
(:func:`blasr.data.swbd.prepare`; the module doc lists the expected inputs).
``join-kaldi-alignments`` keys a Kaldi alignment directory's pdf-ids by cut id
(:func:`blasr.data.kaldi_ids.join_kaldi_alignments`).
"""

from __future__ import annotations

import argparse
import sys

from blasr.data.kaldi_ids import join_kaldi_alignments
from blasr.data.swbd import MAX_DUPLICATES, TRAIN_DEV_SIZE, CorpusError, part_lines, prepare
from blasr.utils import cli


def _prepare(args: argparse.Namespace) -> None:
    parts = prepare(args.out, args.swbd_dir, args.swbd_transcripts, args.eval2000_dir, args.eval2000_transcripts,
                    args.rt03_dir, args.rt02_dir, args.fisher_dir, args.fisher_transcripts, args.train_dev_size,
                    args.max_duplicates, args.overwrite)
    if not parts:
        raise CorpusError("nothing to prepare: give --swbd-dir/--swbd-transcripts and/or test sets")
    print("\n".join(part_lines(parts)))


def _join(args: argparse.Namespace) -> None:
    scp, result = join_kaldi_alignments(args.cuts, args.ali_dir, args.out, args.lang, args.tolerance,
                                        args.allow_empty)
    print(f"{result.summary()}; wrote {scp}")


@cli.program
def main(argv: list[str] | None = None) -> int:
    p = cli.parser("blasr.prepare_swbd", __doc__)
    sub = p.add_subparsers(dest="command", required=True)
    prep = cli.subparser(sub, "prepare", "manifests, Kaldi data directories and the dict directory")
    prep.add_argument("--out", required=True, help="output directory (train_nodup/, train_dev/, eval2000/, dict/ ...)")
    for name, text in (("swbd-dir", "LDC97S62"), ("swbd-transcripts", "swb_ms98_transcriptions (ms98 + lexicon)"),
                       ("fisher-dir", "holds LDC2004S13 / LDC2005S13 (optional)"),
                       ("fisher-transcripts", "holds LDC2004T19 / LDC2005T19 (optional)"),
                       ("eval2000-dir", "LDC2002S09"), ("eval2000-transcripts", "LDC2002T43"),
                       ("rt03-dir", "LDC2007S10 (see blasr.data.rt)"), ("rt02-dir", "RT-02 (see blasr.data.rt)")):
        prep.add_argument(f"--{name}", default=None, help=f"{text}; default: left out")
    prep.add_argument("--train-dev-size", type=int, default=TRAIN_DEV_SIZE, help="first utterances held out")
    prep.add_argument("--max-duplicates", type=int, default=MAX_DUPLICATES, help="remove_dup_utts.sh's max-count")
    prep.add_argument("--overwrite", action="store_true", help="rebuild even completed sets")
    prep.set_defaults(run=_prepare)
    join = cli.subparser(sub, "join-kaldi-alignments", "a Kaldi alignment directory joined to cuts by call, side "
                         "and time: pdf-ids keyed by cut id")
    join.add_argument("--cuts", required=True, help="cut manifest (e.g. with features)")
    join.add_argument("--ali-dir", required=True, help="Kaldi alignment directory (final.mdl, ali.*.gz)")
    join.add_argument("--lang", default=None,
                      help="its lang directory (phones.txt), for the checks (default: the alignment directory's)")
    join.add_argument("--out", required=True, help="output directory (pdf.ark/scp, num_pdfs, join.report.json)")
    join.add_argument("--tolerance", type=int, default=1, help="centiseconds (frames) start and end may differ")
    join.add_argument("--allow-empty", action="store_true", help="no error when nothing joins (a dev set)")
    join.set_defaults(run=_join)
    args = p.parse_args(argv)
    cli.setup_logging()
    args.run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
