"""``blasr-run`` (``python -m blasr.launch.run``): Kaldi's ``run.pl`` as a blasr program.

    blasr-run JOB=1:4 exp/tri/log/align.JOB.log python -m blasr.gmm align ... --job JOB --num-jobs 4
    blasr-run --max-jobs-run 2 JOB=1:8 exp/log/x.JOB.log echo JOB

Runs the command once per job index on this machine (``JOB`` replaced by the
index in the command and in the log file's name), through bash, each job's
output into its log (with ``run.pl``'s ``# Started``, ``# Accounting`` and
``# Ended (code C)`` lines). Exits 0 iff every job exited 0, else 1 naming
the failed jobs and the first one's log. Options of ``queue.pl`` that mean
nothing here (``--mem``, ``--num-threads``, ``--gpu``, ``--config``, others)
are accepted and ignored, as ``run.pl`` does, so one ``--cmd`` string can
change launchers.
"""

from __future__ import annotations

import sys

from blasr.utils import cli
from blasr.utils.launch import LauncherError, jobs_failed, run_local, split_launcher_words


@cli.program
def main(argv: list[str] | None = None) -> int:
    p = cli.parser("blasr.launch.run", __doc__, usage="%(prog)s [options] [JOB=1:N] LOGFILE command ...")
    p.add_argument("--max-jobs-run", "-tc", type=int, default=None,
                   help="jobs running at once at most (default: all of them)")
    for option in ("--mem", "--num-threads", "--gpu", "--config"):
        p.add_argument(option, help="accepted and ignored (queue.pl's option; run.pl ignores it too)")
    words = sys.argv[1:] if argv is None else argv
    if len(words) < 2 or words[0] in ("-h", "--help"):
        p.parse_args(words)  # --help; else the usage error below
    cli.setup_logging()
    options, array = split_launcher_words(words, "blasr-run")
    args, _ = p.parse_known_args(options)  # other options are ignored, as run.pl does
    if args.max_jobs_run is not None and args.max_jobs_run < 1:
        raise LauncherError(f"blasr-run: --max-jobs-run must be at least 1, not {args.max_jobs_run}")
    status = run_local(array, args.max_jobs_run)
    failed = [job for job in array.jobs if status[job]]
    if failed:
        raise jobs_failed(array, failed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
