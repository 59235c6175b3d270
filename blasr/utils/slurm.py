"""Kaldi's launcher interface over Slurm: ``JOB=1:N LOGFILE command`` as one job array, ``sbatch --wait``.

The jobs go into one batch script, ``<log dir>/q/<name>.sh``: task J (Slurm's
``SLURM_ARRAY_TASK_ID``) runs job J's command line through bash in the
submitting directory, its output into job J's log between ``run.pl``'s header
and ``# Ended (code C)`` lines; Slurm's own output of task J (a task killed
before it could write its log) goes to ``q/<name>.J.out``. Each task's exit
status is read back from its log; an array ``sbatch`` refuses (no job id) is
:class:`SubmissionRefused` with ``sbatch``'s last error line. Options map to ``sbatch`` options as
``slurm.pl``'s configuration does (:data:`DEFAULT_CONFIG`, or the user's
``conf/slurm.conf`` with the same syntax: ``command``, ``option NAME=VALUE``,
``option NAME=* ... $0``, ``default NAME=VALUE``); ``--max-jobs-run M`` is
the array's ``%M``.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from blasr.utils.errors import BlasrError
from blasr.utils.launch import JobArray, JobsFailed, LauncherError, ended_code, jobs_failed

# slurm.pl's default configuration, less its site-specific partitions; num_nodes (one task per node, for
# local/slurm_torchrun.sh's srun) is blasr's
DEFAULT_CONFIG = """\
command sbatch --export=ALL
option time=* --time=$0
option mem=* --mem=$0
option mem=0
option num_threads=* --cpus-per-task=$0
default gpu=0
option gpu=0
option gpu=* --gres=gpu:$0
option num_nodes=* --nodes=$0 --ntasks-per-node=1
"""
NOT_MAPPED = {"max_jobs_run", "tc", "config"}  # the launcher's own options


class SubmissionRefused(BlasrError):
    """``sbatch`` queued nothing (options the cluster cannot satisfy, no such partition): its last error line."""


@dataclass
class SlurmConfig:
    """``slurm.pl``'s configuration: the submitting command, option templates, default values."""

    command: list[str] = field(default_factory=lambda: ["sbatch"])
    exact: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # (name, value) -> sbatch words
    any_value: dict[str, list[str]] = field(default_factory=dict)  # name -> sbatch words with $0
    defaults: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str, where: str) -> SlurmConfig:
        config = cls()
        for number, line in enumerate(text.splitlines(), 1):
            words = shlex.split(line.split("#", 1)[0])
            if not words:
                continue
            if words[0] == "command" and len(words) > 1:
                config.command = words[1:]
            elif words[0] in ("option", "default") and len(words) > 1 and "=" in words[1]:
                name, value = words[1].split("=", 1)
                if words[0] == "default":
                    config.defaults[name] = value
                elif value == "*":
                    config.any_value[name] = words[2:]
                else:
                    config.exact[name, value] = words[2:]
            else:
                raise LauncherError(f"{where}:{number}: expected 'command ...', 'option NAME=VALUE ...' or "
                                    f"'default NAME=VALUE', not {line.strip()!r}")
        return config

    def sbatch_options(self, options: dict[str, str], where: str) -> list[str]:
        """The ``sbatch`` words for ``options`` (``{"mem": "4G"}``) and the configuration's defaults."""
        words = []
        for name, value in {**self.defaults, **options}.items():
            if (name, value) in self.exact:
                words += self.exact[name, value]
            elif name in self.any_value:
                words += [w.replace("$0", value) for w in self.any_value[name]]
            else:
                raise LauncherError(f"blasr-slurm: option --{name.replace('_', '-')} {value} is not in {where}: "
                                    f"add 'option {name}=* <sbatch options with $0>' to a --config file")
        return words


def option_values(words: Sequence[str]) -> dict[str, str]:
    """``["--mem", "4G", "--num-threads=2", "-V"]`` as ``{"mem": "4G", "num_threads": "2"}`` (``-V`` and other
    single-dash GridEngine switches ignored, as slurm.pl does)."""
    values, words = {}, list(words)
    while words:
        word = words.pop(0)
        if not word.startswith("--"):
            if word not in ("-V",) and words:
                words.pop(0)
            continue
        name, _, value = word[2:].partition("=")
        values[name.replace("-", "_")] = value if "=" in word else words.pop(0)
    return values


def queue_paths(array: JobArray) -> tuple[Path, str]:
    """``(q_dir, name)``: the batch script is ``q_dir/name.sh``, task J's Slurm output ``q_dir/name.J.out``."""
    log = Path(array.log)
    name = log.name.removesuffix(".log")
    if array.name:
        name = re.sub(r"\.+", ".", name.replace(array.name, "")).strip(".") or "job"
    return log.parent / "q", name


def batch_script(array: JobArray, cwd: str, threads: str) -> str:
    """The array's bash script: task J runs job J's line (``run.pl``'s quoting) with its log lines."""
    lines = ["#!/bin/bash", f"cd {shlex.quote(cwd)} || exit 1",
             'case "${SLURM_ARRAY_TASK_ID:?not a Slurm array task}" in']
    lines += [f"  {job}) log={shlex.quote(str(array.log_of(job)))}; line={shlex.quote(array.line_of(job))} ;;"
              for job in array.jobs]
    lines += ['  *) echo "no job $SLURM_ARRAY_TASK_ID in $0" >&2; exit 1 ;;', "esac",
              'mkdir -p "$(dirname "$log")"',
              'printf "# %s\\n# Started at %s\\n#\\n" "$line" "$(date)" > "$log"',
              "start=$(date +%s)",
              '( eval "$line" ) >> "$log" 2>&1',
              "ret=$?",
              "end=$(date +%s)",
              f'echo "# Accounting: time=$((end - start)) threads={threads}" >> "$log"',
              'echo "# Ended (code $ret) at $(date), elapsed time $((end - start)) seconds" >> "$log"',
              "exit $ret", ""]
    return "\n".join(lines)


def sbatch_command(array: JobArray, options: dict[str, str], config: SlurmConfig, where: str,
                   max_jobs_run: int | None, script: Path) -> list[str]:
    """``sbatch ... --array=FIRST-LAST[%M] --wait --parsable ... SCRIPT`` for the array."""
    q_dir, name = queue_paths(array)
    limit = f"%{max_jobs_run}" if max_jobs_run else ""
    return [*config.command, *config.sbatch_options(options, where), f"--array={array.first}-{array.last}{limit}",
            "--wait", "--parsable", f"--job-name={name}", f"--output={q_dir}/{name}.%a.out", str(script)]


def run_slurm(array: JobArray, option_words: Sequence[str], config_file: str | None = None,
              max_jobs_run: int | None = None) -> dict[int, int]:
    """Submits the jobs as one array, waits (a Ctrl-C cancels the array with ``scancel``), and returns each
    job's status (0, or 1 where its log has no ``# Ended (code 0)`` line)."""
    where = config_file or "blasr-slurm's default configuration"
    config = SlurmConfig.parse(Path(config_file).read_text() if config_file else DEFAULT_CONFIG, where)
    options = {k: v for k, v in option_values(option_words).items() if k not in NOT_MAPPED}
    q_dir, name = queue_paths(array)
    q_dir.mkdir(parents=True, exist_ok=True)
    script = q_dir / f"{name}.sh"
    script.write_text(batch_script(array, os.getcwd(), options.get("num_threads", "1")))
    command = sbatch_command(array, options, config, where, max_jobs_run, script)
    for job in array.jobs:  # an earlier run's log must not stand for a task killed before it wrote its own
        array.log_of(job).unlink(missing_ok=True)
    try:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
    except FileNotFoundError:
        raise LauncherError(f"blasr-slurm: {command[0]} is not on PATH: run on a Slurm submit host") from None
    job_id = ""
    try:
        job_id = (process.stdout.readline().strip().split(";") or [""])[0]
        errors = process.stderr.read()  # a few lines at most; its end is sbatch's exit
        process.wait()
    except BaseException:
        if job_id:
            subprocess.run(["scancel", job_id], check=False)
        process.kill()
        raise
    if not job_id and process.returncode != 0:  # no job id: nothing was queued, no task will write a log
        said = [line.strip() for line in errors.splitlines() if line.strip()]
        asked = " ".join(config.sbatch_options(options, where))
        raise SubmissionRefused(f"blasr-slurm: {command[0]} refused the array of {len(array.jobs)} jobs "
                                f"({asked or 'no options'}; status {process.returncode}): "
                                f"{said[-1] if said else 'it said nothing'}; ask for what the partition's nodes "
                                "have (sinfo -N -o '%N %P %c %m %G')")
    sys.stderr.write(errors)
    return {job: 0 if ended_code(array.log_of(job)) == 0 else 1 for job in array.jobs}


def slurm_failure(array: JobArray, status: dict[int, int]) -> JobsFailed | None:
    """The error for the failed jobs (None if none failed); a job that wrote no log is pointed to Slurm's
    output of its task."""
    failed = [job for job in array.jobs if status[job]]
    if not failed:
        return None
    q_dir, name = queue_paths(array)
    return jobs_failed(array, failed, unwritten=f"; Slurm's output of the task: {q_dir}/{name}.{failed[0]}.out")
