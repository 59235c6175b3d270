"""``python -m blasr.targets``: pdf-id frame targets for cuts with features (see :mod:`blasr.data.targets`).

    python -m blasr.targets --cuts data/fbank/train/cuts.jsonl.gz --ali-dir exp/tri4_ali_nodup --lang data/lang \\
        --out data/targets/train
"""

from __future__ import annotations

import sys

from blasr.data.perturb import with_clean_alignments
from blasr.data.targets import attach_targets, read_num_pdfs
from blasr.kaldi.formats.ark import archive_path
from blasr.kaldi.formats.experiment import load_kaldi_experiment
from blasr.utils import cli


@cli.program
def main(argv: list[str] | None = None) -> int:
    """``python -m blasr.targets``: attach pdf-id targets to cuts with features.

    From an alignment directory (``--ali-dir``: ``final.mdl`` + ``ali.*.gz``,
    Kaldi's or blasr's; converted with ``ali-to-pdf``) or from pdf-id vectors
    (``--pdf-ali``, a Kaldi rspecifier). ``--clean-alignments``: augmented
    copies of ``python -m blasr.perturb`` get their clean copy's alignment.
    """
    p = cli.parser("blasr.targets", main.__doc__)
    p.add_argument("--cuts", required=True, help="cuts with features (python -m blasr.compute_features)")
    p.add_argument("--out", required=True, help="output directory (targets.ark/scp, cuts.jsonl.gz, num_pdfs, report)")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--ali-dir", help="alignment directory: final.mdl, ali.*.gz (e.g. exp/tri4_ali_nodup)")
    source.add_argument("--pdf-ali", help="pdf-id vectors as a Kaldi rspecifier, e.g. ark:pdf.ark")
    p.add_argument("--num-pdfs", type=int, default=None,
                   help="the class count, with --pdf-ali (default: the num_pdfs file beside its archive, "
                        "as join-kaldi-alignments writes it; with --ali-dir: its final.mdl's)")
    p.add_argument("--lang", help="lang directory of --ali-dir (phones.txt, topo), when it lacks phones.txt "
                   "(default: the alignment directory's)")
    p.add_argument("--max-mismatch", type=int, default=2, help="frame differences fixed rather than rejected")
    p.add_argument("--clean-alignments", action="store_true",
                   help="with --ali-dir: augmented copies (python -m blasr.perturb: noise-, babble-, reverb-, tel-) "
                        "get the alignment of the clean copy they were made from, in place of their own")
    args = p.parse_args(argv)
    cli.setup_logging()

    def write():
        if args.ali_dir:
            experiment = load_kaldi_experiment(args.ali_dir, args.lang, load_gmm=False)
            alignments, num_pdfs = experiment.pdf_alignments, experiment.num_pdfs
            if args.clean_alignments:
                alignments, copied = with_clean_alignments(args.cuts, alignments)
                print(f"{copied} augmented copies get their clean copy's alignment")
            if args.num_pdfs is not None and args.num_pdfs != num_pdfs:
                raise ValueError(f"--num-pdfs {args.num_pdfs}, but {args.ali_dir}/final.mdl has {num_pdfs} pdfs")
        else:
            alignments = args.pdf_ali
            num_pdfs = args.num_pdfs if args.num_pdfs is not None else read_num_pdfs(archive_path(args.pdf_ali))
        return attach_targets(args.cuts, alignments, args.out, args.max_mismatch, num_pdfs=num_pdfs)

    return cli.write_and_report(write)


if __name__ == "__main__":
    sys.exit(main())
