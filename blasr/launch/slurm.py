"""``blasr-slurm`` (``python -m blasr.launch.slurm``): Kaldi's launcher interface over a Slurm job array.

    blasr-slurm --mem 4G --num-threads 2 JOB=1:8 exp/tri/log/align.JOB.log python -m blasr.gmm align ...
    blasr-slurm --config conf/slurm.conf --gpu 1 --time 4:00:00 JOB=1:4 exp/log/x.JOB.log ...
    blasr-slurm --num-nodes 2 --gpu 8 exp/bl22/log/train.log bash local/slurm_torchrun.sh --nproc-per-node 8 ...

Submits the N jobs as one job array (``sbatch --wait --array=1-N``) that
runs each job's command through bash in this directory, its output in its
log file (``JOB`` replaced by the index, with ``run.pl``'s header and
``# Ended (code C)`` lines); waits, reads each job's exit status from its
log, and exits 0 iff every job exited 0, else 1 naming the failed jobs and
the first one's log. The batch script and Slurm's own output of each task
are kept in ``q/`` beside the logs. A Ctrl-C cancels the array. The work is
:mod:`blasr.utils.slurm`.
"""

from __future__ import annotations

import sys

from blasr.utils import cli
from blasr.utils.launch import LauncherError, split_launcher_words
from blasr.utils.slurm import run_slurm, slurm_failure


@cli.program
def main(argv: list[str] | None = None) -> int:
    p = cli.parser("blasr.launch.slurm", __doc__, usage="%(prog)s [options] [JOB=1:N] LOGFILE command ...")
    p.add_argument("--mem", help="memory per job, sbatch --mem (e.g. 4G; default: the partition's)")
    p.add_argument("--num-threads", help="CPUs per job, sbatch --cpus-per-task (default: 1)")
    p.add_argument("--gpu", help="GPUs per job, sbatch --gres=gpu:N (default: 0)")
    p.add_argument("--time", help="time limit per job, sbatch --time (default: the partition's)")
    p.add_argument("--num-nodes", help="nodes per job, sbatch --nodes=N --ntasks-per-node=1: a job running "
                                       "local/slurm_torchrun.sh trains on all of them (default: 1)")
    p.add_argument("--max-jobs-run", "-tc", type=int, default=None,
                   help="jobs running at once at most, the array's %%M (default: as many as Slurm allows)")
    p.add_argument("--config", metavar="FILE",
                   help="slurm.pl's configuration file (conf/slurm.conf: 'command sbatch ...', 'option mem=* "
                        "--mem-per-cpu $0', 'default gpu=0' ...); its options are accepted too (default: "
                        "the mapping above)")
    words = sys.argv[1:] if argv is None else argv
    if len(words) < 2 or words[0] in ("-h", "--help"):
        p.parse_args(words)  # --help; else the usage error below
    cli.setup_logging()
    options, array = split_launcher_words(words, "blasr-slurm")
    args, _ = p.parse_known_args(options)  # options the configuration defines are mapped by it
    if args.max_jobs_run is not None and args.max_jobs_run < 1:
        raise LauncherError(f"blasr-slurm: --max-jobs-run must be at least 1, not {args.max_jobs_run}")
    failure = slurm_failure(array, run_slurm(array, options, args.config, args.max_jobs_run))
    if failure is not None:
        raise failure
    return 0


if __name__ == "__main__":
    sys.exit(main())
