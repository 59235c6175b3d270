import logging
import re

from tqdm import std as tqdm_std

from blasr.utils.progress import ScalarWriter, draws_bar, progress_bar


def test_a_disabled_bar_is_silent(capsys, caplog):
    bar = progress_bar(range(3), total=3, desc="epoch 1", enabled=False, interval=0)
    assert list(bar) == [0, 1, 2] and bar.disable
    bar.set_postfix(loss="1.0")
    bar.close()
    assert capsys.readouterr().err == "" and not caplog.records


def test_off_a_terminal_progress_is_log_lines_with_rate_and_eta(capsys, caplog, monkeypatch):
    clock = iter(range(1000))
    monkeypatch.setattr(tqdm_std, "time", lambda: float(next(clock)))  # 1 s a step
    with caplog.at_level(logging.INFO, logger="blasr.progress"):
        assert list(progress_bar(range(10), desc="export", interval=3)) == list(range(10))
    lines = [r.getMessage() for r in caplog.records if r.name == "blasr.progress"]
    assert capsys.readouterr().err == ""  # pytest's stderr is not a tty: no bar drawn
    assert 2 <= len(lines) <= 4, lines  # one every 3 s of 10
    done, total = lines[0].split(": ")[1].split(",")[0].split(" ")[0].split("/")
    assert lines[0].startswith("export: ") and total == "10" and 0 < int(done) < 10
    assert re.search(r"\ds/it, ETA 00:\d\d$", lines[0]), lines[0]  # the rate and the time left


def test_scalar_writer_writes_only_when_enabled(tmp_path):
    silent = ScalarWriter(tmp_path / "off", enabled=False)
    silent.add_scalars(1, {"train/loss": 2.0})
    silent.close()
    assert not (tmp_path / "off").exists()

    writer = ScalarWriter(tmp_path / "tb")
    writer.add_scalars(5, {"train/loss": 2.5, "val/top1": 40.0})
    writer.close()
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    assert [(e.step, e.value) for e in events.Scalars("train/loss")] == [(5, 2.5)]
    assert [(e.step, e.value) for e in events.Scalars("val/top1")] == [(5, 40.0)]


def test_off_a_terminal_a_postfix_joins_the_next_line_and_writes_none_of_its_own(caplog, monkeypatch):
    clock = iter(range(1000))
    monkeypatch.setattr(tqdm_std, "time", lambda: float(next(clock)))
    with caplog.at_level(logging.INFO, logger="blasr.progress"):
        bar = progress_bar(None, total=10, desc="log-mel", interval=3)
        for _ in range(10):
            bar.update(1)
            bar.set_postfix(xRT="250")  # every step, as the features loop does
            bar.set_postfix_str("xRT=250")  # and the training loop's spelling
        assert not draws_bar(bar)
        bar.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "blasr.progress"]
    assert 1 <= len(lines) <= 4, lines  # a line every 3 s of the clock, not one per set_postfix
    assert all(line.startswith("log-mel: ") and line.endswith(", xRT=250") for line in lines), lines
