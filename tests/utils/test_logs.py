import logging
import re
import subprocess
import sys

from blasr.utils.logs import job_log

LINE = r"\d\d\d\d-\d\d-\d\d \d\d:\d\d:\d\d {level} {text}"

BOTH_SETUPS = """
import logging
from blasr.utils import cli
from blasr.utils.distributed import setup_logging
with setup_logging(0):
    logging.getLogger("blasr.train").info("from a training")
with setup_logging(1):
    logging.getLogger("blasr.train").warning("from rank 1")
cli.setup_logging()
logging.getLogger("blasr.gmm").info("from a program")
"""


def test_programs_and_trainings_log_in_one_format():
    done = subprocess.run([sys.executable, "-c", BOTH_SETUPS], capture_output=True, text=True, timeout=300)
    lines = done.stderr.splitlines()
    assert len(lines) == 3, done.stderr
    assert re.fullmatch(LINE.format(level="INFO", text="from a training"), lines[0]), lines
    assert re.fullmatch(LINE.format(level="WARNING", text=r"\[rank 1\] from rank 1"), lines[1]), lines
    assert re.fullmatch(LINE.format(level="INFO", text="from a program"), lines[2]), lines


def test_a_job_log_gets_every_line_and_stderr_only_warnings(tmp_path, capsys):
    log = logging.getLogger("blasr.gmm")
    before = logging.getLogger("blasr").handlers[:], logging.getLogger("blasr").propagate
    with job_log(tmp_path / "log" / "align.2.log", prefix="[align job 2] ") as path:
        log.info("aligned 5 utterances")
        log.warning("utterance u3: retried with a wider beam")
    text = path.read_text().splitlines()
    assert [re.fullmatch(LINE.format(level=r"\w+", text=".*"), line) is not None for line in text] == [True, True]
    assert text[0].endswith("INFO aligned 5 utterances") and text[1].endswith("retried with a wider beam")
    err = capsys.readouterr().err
    assert "aligned 5" not in err and "WARNING [align job 2] utterance u3: retried" in err
    assert (logging.getLogger("blasr").handlers[:], logging.getLogger("blasr").propagate) == before
