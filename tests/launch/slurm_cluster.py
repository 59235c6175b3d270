"""A single-node Slurm for the tests: munged, slurmctld and slurmd from Debian's packages (local/install_slurm.sh),
configured and started in a temporary directory as this machine's host, stopped and removed afterwards.

The ``slurm`` fixture (registered for every test by tests/conftest.py) starts one cluster per test session and sets
``SLURM_CONF`` for the test, so ``sbatch``/``srun`` and the launchers calling them submit to it. Where Slurm cannot
run here (not root, not installed, a daemon fails to start) the tests that use it are skipped with the reason.

The configuration is the smallest that runs jobs in a container: processes tracked by their parent ids
(proctrack/linuxproc), no task binding and no cgroups (task/none), no accounting; cores and memory are
consumable (select/cons_tres), so ``--cpus-per-task`` and ``--mem`` are honoured and checked against this machine.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

# the daemons live in sbin, which is not on every PATH
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin", "/usr/local/sbin"])
DAEMONS = ("munged", "slurmctld", "slurmd")
START_TIMEOUT_S = 30.0


class SlurmUnavailable(RuntimeError):
    """Slurm cannot run here; the message says why (the tests using it skip with it)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def memory_mb() -> int:
    """RealMemory for slurm.conf: 90 % of MemTotal, so slurmd does not drain the node for having less."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(int(line.split()[1]) / 1024 * 0.9)
    raise SlurmUnavailable("no MemTotal in /proc/meminfo")


def tail(path: Path, lines: int = 3) -> str:
    if not path.exists():
        return f"(no {path.name})"
    return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])


class SlurmCluster:
    """munged + slurmctld + slurmd in ``root``: one partition ``debug`` with one node, ``node`` (this host).

    ``env`` is the environment for Slurm's clients (``SLURM_CONF``); ``stop()`` ends every daemon this object started
    and removes ``root``; it is safe to call twice and after a failed ``start()``.
    """

    def __init__(self, root: Path, node: str | None = None) -> None:
        self.root = root
        self.host = socket.gethostname().split(".")[0]
        self.node = node or self.host
        self.conf = root / "slurm.conf"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf), "PATH": SEARCH_PATH}
        self.processes: dict[str, subprocess.Popen] = {}

    @classmethod
    def start(cls, node: str | None = None) -> SlurmCluster:
        """Start a cluster in a new temporary directory and wait until its node is idle; SlurmUnavailable if not."""
        if os.name != "posix" or os.geteuid() != 0:
            raise SlurmUnavailable("a single-node Slurm needs root (slurmd starts jobs as their user)")
        for daemon in DAEMONS:
            if shutil.which(daemon, path=SEARCH_PATH) is None:
                raise SlurmUnavailable(f"{daemon} is not installed: run local/install_slurm.sh")
        # munged refuses a socket in a directory others cannot traverse (tmp_path is 0700)
        root = Path(tempfile.mkdtemp(prefix="blasr-slurm-"))
        root.chmod(0o755)
        cluster = cls(root, node)
        try:
            cluster.configure()
            cluster.launch()
            cluster.wait_idle()
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def configure(self) -> None:
        for sub in ("state", "spool", "run"):
            (self.root / sub).mkdir()
        key = self.root / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        r, cpus, memory = self.root, os.cpu_count(), memory_mb()
        self.conf.write_text("\n".join([
            "ClusterName=blasrtest",
            f"SlurmctldHost={self.host}(127.0.0.1)",
            f"SlurmctldPort={free_port()}",
            f"SlurmdPort={free_port()}",
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={r}/run/munge.socket",
            f"StateSaveLocation={r}/state",
            f"SlurmdSpoolDir={r}/spool",
            f"SlurmctldPidFile={r}/run/slurmctld.pid",
            f"SlurmdPidFile={r}/run/slurmd.pid",
            f"SlurmctldLogFile={r}/slurmctld.log",
            f"SlurmdLogFile={r}/slurmd.log",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "JobCompType=jobcomp/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core_Memory",
            "MpiDefault=none",
            "MailProg=/bin/true",
            "ReturnToService=2",
            # sbatch --wait polls every 2 s while that is under MinJobAge / 2, else every 8 s, then 32 s (Slurm's
            # default of 300 s costs a short job array 10 s); finished jobs stay queryable for 4 s, two polls
            "MinJobAge=4",
            # a job without --mem gets its share per CPU (Slurm's default is the whole node: one job at a time)
            f"DefMemPerCPU={memory // cpus}",
            f"NodeName={self.node} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory} State=UNKNOWN",
            f"PartitionName=debug Nodes={self.node} Default=YES MaxTime=INFINITE State=UP",
        ]) + "\n")

    def launch(self) -> None:
        """Start the three daemons in the foreground (children of this process, so stop() can wait for them)."""
        r = self.root
        commands = {
            "munged": ["munged", "--foreground", f"--socket={r}/run/munge.socket", f"--key-file={r}/munge.key",
                       f"--log-file={r}/munged.log", f"--pid-file={r}/run/munged.pid", f"--seed-file={r}/munged.seed"],
            "slurmctld": ["slurmctld", "-D", "-f", str(self.conf)],
            "slurmd": ["slurmd", "-D", "-f", str(self.conf)],
        }
        for name, argv in commands.items():
            log = (r / f"{name}.out").open("wb")
            with log:
                self.processes[name] = subprocess.Popen([shutil.which(argv[0], path=SEARCH_PATH), *argv[1:]],
                                                        env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                                        start_new_session=True)
            if name == "munged":
                self.wait_for(lambda: (r / "run" / "munge.socket").exists(), "munged's socket")

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                log = self.root / (f"{name}.log" if name != "munged" else "munged.log")
                raise SlurmUnavailable(f"{name} exited with status {process.returncode}: "
                                       f"{tail(log)} {tail(self.root / f'{name}.out')}")

    def wait_for(self, ready, what: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not ready():
            self.check_alive()
            if time.monotonic() > deadline:
                raise SlurmUnavailable(f"{what} not ready after {START_TIMEOUT_S:.0f} s: "
                                       f"{tail(self.root / 'slurmd.log')} {tail(self.root / 'slurmctld.log')}")
            time.sleep(0.2)

    def node_state(self) -> str:
        done = subprocess.run(["sinfo", "--noheader", "--node", self.node, "--format", "%T"],
                              env=self.env, capture_output=True, text=True, timeout=10)
        return done.stdout.strip()

    def wait_idle(self) -> None:
        self.wait_for(lambda: self.node_state() == "idle", f"node {self.node}")

    def stop(self) -> None:
        """Cancel what is still queued or running, stop the daemons (slurmd first, munged last), remove the root."""
        if self.processes.get("slurmctld") and self.processes["slurmctld"].poll() is None:
            subprocess.run(["scancel", "--user", str(os.getuid())], env=self.env, capture_output=True, timeout=10)
        for name in ("slurmd", "slurmctld", "munged"):
            process = self.processes.pop(name, None)
            if process is None:
                continue
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[SlurmCluster]:
    """One single-node Slurm for the session (skipped with the reason where it cannot run)."""
    try:
        cluster = SlurmCluster.start()
    except (SlurmUnavailable, OSError, subprocess.SubprocessError) as e:
        pytest.skip(f"no single-node Slurm here: {e}")
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def slurm(slurm_cluster: SlurmCluster, monkeypatch: pytest.MonkeyPatch) -> SlurmCluster:
    """The session's Slurm, with SLURM_CONF (and sbin on PATH) set for this test and the programs it runs."""
    monkeypatch.setenv("SLURM_CONF", str(slurm_cluster.conf))
    monkeypatch.setenv("PATH", SEARCH_PATH)
    return slurm_cluster
