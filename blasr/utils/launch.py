"""Kaldi's job launchers: ``CMD [options] JOB=1:N LOGFILE command ...`` (``run.pl``, ``queue.pl``, ``slurm.pl``).

A launcher runs ``command`` once for each job index ``1..N``, every ``JOB``
in the command and in ``LOGFILE`` replaced by the index, through bash, each
job's output into its own log file; it waits and exits 0 iff every job
exited 0. :func:`run_jobs` is what a program calls: through a user's launcher
string (``--cmd "queue.pl --mem 4G"``, ``blasr-slurm``) or, with none, blasr's
local launcher in this process (:func:`run_local`, what ``blasr-run`` runs).
Each log begins with ``# command`` and ``# Started at`` and ends with
``# Accounting: time=S threads=T`` and ``# Ended (code C) at ...`` as
``run.pl`` writes them (Kaldi's log tools read those lines; so does
:func:`ended_code` to tell which jobs of another launcher failed).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from blasr.utils.errors import BlasrError

logger = logging.getLogger("blasr.launch")

JOB_RANGE = re.compile(r"([A-Za-z_]\w*)=(\d+):(\d+)")  # JOB=1:4
JOB_ONE = re.compile(r"([A-Za-z_]\w*)=(\d+)")  # JOB=3
ENDED = re.compile(r"^# Ended \(code (\d+)")
TWO_VALUES = {"-pe"}  # GridEngine's -pe smp 4
NO_VALUE = {"-V"}


class LauncherError(BlasrError, ValueError):
    """A launcher's command line is wrong (no log file, a parallel job with one log, a bad job range)."""


class JobsFailed(BlasrError):
    """Jobs exited non-zero: the message names how many, which, and the log file of the first."""

    def __init__(self, message: str, failed: Sequence[int] = (), log: Path | None = None) -> None:
        super().__init__(message)
        self.failed, self.log = list(failed), log


@dataclass
class JobArray:
    """``name=first:last log command...``: the jobs a launcher runs (``name`` None: one job, no substitution)."""

    name: str | None
    first: int
    last: int
    log: str
    command: list[str]

    @property
    def jobs(self) -> range:
        return range(self.first, self.last + 1)

    def substituted(self, text: str, job: int) -> str:
        return text.replace(self.name, str(job)) if self.name else text

    def log_of(self, job: int) -> Path:
        return Path(self.substituted(self.log, job))

    def line_of(self, job: int) -> str:
        """Job ``job``'s bash command line, quoted as ``run.pl`` does (so ``\\|`` and redirections still work)."""
        return self.substituted(bash_line(self.command), job)


def bash_line(words: Sequence[str]) -> str:
    """``run.pl``'s quoting: a word without blanks as it is (``|`` and ``>`` stay operators), one with a
    double quote in single quotes, any other in double quotes."""
    return " ".join(w if re.fullmatch(r"\S+", w) else f"'{w}'" if '"' in w else f'"{w}"' for w in words)


def shell_word(word: str) -> str:
    """An argv word as it must stand in a launcher's bash line: shell-quoted (``<unk>`` is no redirection,
    ``[noise]`` no glob) unless it holds blanks, which ``run.pl``'s own double quotes keep together."""
    return word if re.search(r"\s", word) else shlex.quote(word)


def split_launcher_words(words: Sequence[str], launcher: str) -> tuple[list[str], JobArray]:
    """``[options] [JOB=1:N] [options] LOGFILE command...`` as ``run.pl`` reads it: the option words (each
    option takes one value; ``-V`` none, ``-pe`` two) and the :class:`JobArray`."""
    words, options, array = list(words), [], None
    for _ in range(2):  # options may come before and after JOB=1:N
        while len(words) >= 2 and words[0].startswith("-"):
            switch = words.pop(0)
            count = 0 if switch in NO_VALUE else 2 if switch in TWO_VALUES else 0 if "=" in switch else 1
            options += [switch, *words[:count]]
            del words[:count]
        if array is None and words and (match := JOB_RANGE.fullmatch(words[0]) or JOB_ONE.fullmatch(words[0])):
            name, first, last = match.group(1), int(match.group(2)), int(match.groups()[-1])
            if first < 1 or first > last:
                raise LauncherError(f"{launcher}: invalid job range {words[0]}: write {name}=1:N with N >= 1")
            array = (name, first, last)
            words.pop(0)
    if len(words) < 2:
        raise LauncherError(f"{launcher}: no log file and command: write {launcher} [options] [JOB=1:N] LOGFILE "
                            "command ...")
    name, first, last = array or (None, 1, 1)
    log, command = words[0], words[1:]
    if name is not None and name not in log and last > first:
        raise LauncherError(f"{launcher}: {last - first + 1} jobs would all write one log file {log}: "
                            f"put {name} in its name")
    return options, JobArray(name, first, last, log, command)


def _date() -> str:
    return time.strftime("%a %b %d %H:%M:%S %Z %Y")


def _start(array: JobArray, job: int) -> tuple[subprocess.Popen, float]:
    log = array.log_of(job)
    log.parent.mkdir(parents=True, exist_ok=True)
    line = array.line_of(job)
    with open(log, "w") as out:
        out.write(f"# {line}\n# Started at {_date()}\n#\n")
    with open(log, "a") as out:
        process = subprocess.Popen(["bash", "-c", f"( {line} )"], stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT)
    return process, time.monotonic()


def _finish(array: JobArray, job: int, returncode: int, start: float) -> int:
    """Writes the job's accounting lines; its status as ``run.pl`` reports it (a signal as ``code 0; signal S``)."""
    elapsed = round(time.monotonic() - start)
    code = f"code {returncode}" if returncode >= 0 else f"code 0; signal {-returncode}"
    with open(array.log_of(job), "a") as out:
        out.write(f"# Accounting: time={elapsed} threads=1\n# Ended ({code}) at {_date()}, elapsed time "
                  f"{elapsed} seconds\n")
    return 1 if returncode else 0


def run_local(array: JobArray, max_jobs_run: int | None = None) -> dict[int, int]:
    """Runs the jobs on this machine, at most ``max_jobs_run`` at once (default: all), each through bash with
    its output in its log; waits for all of them. Returns each job's status (0 or 1). On an exception
    (Ctrl-C) the running jobs are killed."""
    pending, running, status = list(array.jobs), {}, {}
    limit = max_jobs_run or len(pending)
    try:
        while pending or running:
            while pending and len(running) < limit:
                job = pending.pop(0)
                running[job] = _start(array, job)
            for job, (process, start) in list(running.items()):
                if process.poll() is not None:
                    status[job] = _finish(array, job, process.returncode, start)
                    del running[job]
            if running:
                time.sleep(0.02)
    finally:
        for process, _ in running.values():
            process.kill()
            process.wait()
    return status


def ended_code(log: Path) -> int | None:
    """The code of the last ``# Ended (code C)`` line of a launcher's log (None: no such line, or no file)."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return None
    codes = [int(m.group(1)) for line in lines if (m := ENDED.match(line))]
    return codes[-1] if codes else None


def _last_words(log: Path) -> str:
    try:
        lines = [line for line in log.read_text(errors="replace").splitlines() if line and not line.startswith("#")]
    except OSError:
        return ""
    return f"; it ends: {lines[-1][:300]}" if lines else ""


def jobs_failed(array: JobArray, failed: Sequence[int], how: str = "", unwritten: str = "") -> JobsFailed:
    """The error for ``failed`` jobs of ``array``: how many of how many, which, the first's log and its last
    line (``unwritten``: what to read instead when that log was never written)."""
    log = array.log_of(failed[0])
    listed = ", ".join(map(str, failed[:20])) + (" ..." if len(failed) > 20 else "")
    ends = _last_words(log) if log.exists() else f" (not written{unwritten})"
    return JobsFailed(f"{len(failed)} of {len(array.jobs)} jobs failed{how} (jobs {listed}); the log of job "
                      f"{failed[0]}: {log}{ends}", failed, log)


def resolve_launcher(cmd: str) -> list[str]:
    """``cmd`` split as a shell would; its program found on PATH, else beside this Python (a virtual
    environment's ``bin``, where ``blasr-run`` and ``blasr-slurm`` are installed)."""
    words = shlex.split(cmd)
    if not words:
        raise LauncherError("--cmd is empty: give a launcher such as blasr-run, 'queue.pl --mem 4G' or blasr-slurm")
    found = shutil.which(words[0]) or shutil.which(words[0], path=str(Path(sys.executable).parent))
    if found is None:
        raise LauncherError(f"launcher {words[0]!r} (from --cmd {cmd!r}) is not a program on PATH: install it, "
                            "give its path, or use blasr-run")
    return [found, *words[1:]]


def add_cmd(parser) -> None:
    """``--cmd CMD``: the launcher a program's jobs run through (default: none, local jobs in-process)."""
    parser.add_argument("--cmd", default=None, metavar="CMD",
                        help="run the jobs through this Kaldi-style launcher, as a recipe's cmd.sh: blasr-run "
                             "(this machine), blasr-slurm [--mem 4G ...] (a Slurm job array), or Kaldi's own "
                             "run.pl / queue.pl / slurm.pl with their options; each job logs to OUT/log/ "
                             "(default: none, the jobs run as local processes of this program)")


def add_job(parser) -> None:
    """``--job J`` (hidden): run only job J of ``--nj`` N, as a program started with ``--cmd`` starts its jobs."""
    parser.add_argument("--job", type=int, default=None, help=argparse.SUPPRESS)


def job_command(module: str, argv: Sequence[str], num_jobs: int) -> list[str]:
    """``python -m MODULE ARGV --job JOB --nj N``, ``--cmd`` and its value left out of ``argv``: the command
    line of the jobs a program started with ``--cmd`` runs itself as."""
    words, kept = list(argv), []
    while words:
        word = words.pop(0)
        if word == "--cmd":
            words.pop(0)
        elif not word.startswith("--cmd="):
            kept.append(word)
    return [sys.executable, "-m", module, *kept, "--job", "JOB", "--nj", str(num_jobs)]


def run_jobs(command: Sequence[str], num_jobs: int, log: str | os.PathLike, *, cmd: str | None = None) -> None:
    """Run argv ``command`` (every "JOB" inside an argument replaced by the job index; each word without blanks
    shell-quoted, :func:`shell_word`, so the job gets it as given) as jobs 1..num_jobs
    through the Kaldi-style launcher string ``cmd`` (split with shlex; e.g. "blasr-run", "queue.pl --mem 4G",
    "blasr-slurm --mem 4G"); None = blasr's local launcher called in-process. ``log`` contains "JOB". Waits;
    raises :class:`JobsFailed` naming the failed jobs and the first one's log."""
    array = JobArray("JOB", 1, num_jobs, os.fspath(log), [shell_word(str(word)) for word in command])
    if num_jobs < 1:
        raise LauncherError(f"num_jobs must be at least 1, not {num_jobs}")
    if "JOB" not in array.log and num_jobs > 1:
        raise LauncherError(f"{num_jobs} jobs would all write one log file {array.log}: put JOB in its name")
    logger.info("%d jobs through %s, their logs in %s", num_jobs, cmd or "the local launcher", array.log)
    if cmd is None:
        status = run_local(array)
        failed = [job for job in array.jobs if status[job]]
        if failed:
            raise jobs_failed(array, failed)
        return
    launcher = resolve_launcher(cmd)
    done = subprocess.run([*launcher, f"JOB=1:{num_jobs}", array.log, *array.command], stdin=subprocess.DEVNULL,
                          check=False)
    if done.returncode == 0:
        return
    failed = [job for job in array.jobs if ended_code(array.log_of(job)) != 0]
    if not any(array.log_of(job).exists() for job in array.jobs):
        raise JobsFailed(f"the launcher {cmd!r} exited with status {done.returncode} before any job wrote its log "
                         f"({array.log}): its message is above", failed, array.log_of(1))
    if not failed:
        raise JobsFailed(f"the launcher {cmd!r} exited with status {done.returncode} though every job's log ends "
                         f"with code 0; the logs: {array.log}")
    raise jobs_failed(array, failed, f" (through {cmd!r}, status {done.returncode})")
