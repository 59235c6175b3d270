from blasr.utils.progress import ScalarWriter, progress_bar


def test_progress_bar_is_silent_off_a_terminal(capsys):
    bar = progress_bar(range(3), total=3, desc="epoch 1")  # pytest's stderr is not a tty
    assert list(bar) == [0, 1, 2] and bar.disable
    bar.set_postfix(loss="1.0")
    bar.close()
    assert capsys.readouterr().err == ""


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
