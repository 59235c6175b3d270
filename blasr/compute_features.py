"""``python -m blasr.compute_features --cuts CUTS --out DIR``: Kaldi log-mel filterbanks for a cut manifest.

    python -m blasr.compute_features --cuts data/corpus/train/cuts.jsonl.gz --out data/fbank/train \\
        --sample-rate 8000 --num-mel-bins 64 --nj 4

(``python -m blasr.features`` is the same program.) Writes ``feats.lca`` (the
static log-mel, lilcom), ``cuts.jsonl.gz`` (the cuts with their features; cuts
that failed are left out and listed in ``features.report.json``), the settings
and a completion marker; logs the speed report. With ``--cmd`` the program
runs itself as ``--nj`` jobs through that launcher (each a contiguous share of
the cuts, logged to ``OUT/log/features.JOB.log``) and merges their outputs into
the same archive and manifest. The work is
:func:`blasr.features.extract.compute_features`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from blasr.features.config import FbankConfig
from blasr.features.extract import compute_features, features_complete
from blasr.utils import cli
from blasr.utils.launch import add_cmd, add_job, job_command, run_jobs


@cli.program
def main(argv: list[str] | None = None) -> int:
    p = cli.parser("blasr.compute_features", __doc__)
    p.add_argument("--cuts", required=True, help="cut manifest (cuts.jsonl.gz) with recordings")
    p.add_argument("--out", required=True, help="output directory (feats.lca, cuts.jsonl.gz, report)")
    p.add_argument("--sample-rate", type=int, default=FbankConfig.sample_rate,
                   help="the recordings' sample rate (Hz); cuts at another rate are skipped and reported")
    p.add_argument("--num-mel-bins", type=int, default=FbankConfig.num_mel_bins, help="mel filterbank channels")
    p.add_argument("--dither", type=float, default=FbankConfig.dither, help="Kaldi's --dither (0: none)")
    p.add_argument("--snip-edges", choices=("true", "false"), default="true",
                   help="Kaldi's --snip-edges: frames only where the window fits")
    cli.add_nj(p, 1, "worker processes (1: in this process); with --cmd the launcher's jobs", old=["--num-jobs"])
    p.add_argument("--overwrite", action="store_true", help="recompute even a completed output directory")
    add_cmd(p)
    add_job(p)
    args = p.parse_args(argv)
    cli.setup_logging()
    config = FbankConfig(sample_rate=args.sample_rate, num_mel_bins=args.num_mel_bins, dither=args.dither,
                         snip_edges=args.snip_edges == "true")
    if args.job is not None:  # one job of --cmd's: its share, to OUT/splitN/JOB/
        return cli.write_and_report(lambda: compute_features(args.cuts, args.out, config, num_jobs=args.nj,
                                                             job=args.job))
    if args.cmd is not None and (args.overwrite or not features_complete(args.out, config)):
        run_jobs(job_command("blasr.compute_features", sys.argv[1:] if argv is None else argv, args.nj), args.nj,
                 Path(args.out) / "log" / "features.JOB.log", cmd=args.cmd)
    return cli.write_and_report(lambda: compute_features(args.cuts, args.out, config, num_jobs=args.nj,
                                                         overwrite=args.overwrite, from_jobs=args.cmd is not None))


if __name__ == "__main__":
    sys.exit(main())
