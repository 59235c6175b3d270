import math
from dataclasses import asdict

import pytest

from blasr.acoustic.config import (
    CONF_DIR,
    TrainConfig,
    build_config,
    default_options,
    load_yaml_options,
    resolve,
    to_yaml,
)
from blasr.acoustic.optim import lr_factor
from blasr.train import build_parser

REQUIRED = dict(arch="bl_resnet22_a2b3", data="cuts.jsonl.gz", exp="exp/x")


def test_default_yaml_is_the_dataclass_defaults():
    options = load_yaml_options(CONF_DIR / "default.yaml")
    expected = {k: v for k, v in default_options().items() if k not in {*REQUIRED, "valid_data"}}  # paths
    assert options == expected
    # the paper's recipe (Appendix B.1)
    c = TrainConfig()
    assert (c.epochs, c.momentum, c.nesterov, c.weight_decay, c.grad_clip, c.base_lr, c.base_batch_frames) == (
        16, 0.9, True, 1e-6, 10.0, 0.03, 512)
    assert c.lr_decay == pytest.approx(math.sqrt(0.5)) and c.lr_decay_from_epoch == 10 and c.mode == "window"


def test_files_then_flags_override_in_order(tmp_path):
    mine = tmp_path / "mine.yaml"
    mine.write_text("epochs: 3\nchunk_frames: 32\nsync_bn: true\n")
    config = build_config(["chunk", str(mine)], epochs=5, **REQUIRED)
    assert config.mode == "chunk"          # from the packaged chunk.yaml
    assert config.chunk_frames == 32       # mine.yaml overrides chunk.yaml
    assert config.epochs == 5              # the flag overrides mine.yaml
    assert config.sync_bn and config.weight_decay == 1e-6
    debug = build_config(["debug"], **REQUIRED)
    assert debug.width == 0.0625 and debug.device == "cpu"
    # a resolved config written out reads back as the same options
    written = tmp_path / "config.yaml"
    written.write_text(to_yaml(resolve(config, 1)))
    assert build_config([str(written)]) == resolve(config, 1)


def test_bad_options_are_refused_by_name(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochs: 3\nlearning_rate: 0.1\n")
    with pytest.raises(ValueError, match=r"bad.yaml: unknown option\(s\) \['learning_rate'\]"):
        build_config([str(bad)], **REQUIRED)
    with pytest.raises(FileNotFoundError, match="not one of the packaged configs.*chunk.*debug"):
        build_config(["nonesuch"], **REQUIRED)
    with pytest.raises(ValueError, match="mode 'dense'"):
        build_config(mode="dense", **REQUIRED)
    with pytest.raises(ValueError, match="--cmvn"):
        build_config(normalization="speaker", **REQUIRED)
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\), got 1.0"):
        build_config(label_smoothing=1.0, **REQUIRED)
    with pytest.raises(ValueError, match="--exp is required"):
        build_config(arch="resnet22", data="d")


def test_batch_and_learning_rate_scale_with_target_frames_per_step():
    window = TrainConfig(**REQUIRED)
    one, two = resolve(window, 1), resolve(window, 2)
    assert (one.batch_size, one.chunk_frames, one.lr) == (256, 1, pytest.approx(0.015))
    assert (two.batch_size, two.lr) == (256, pytest.approx(0.03))  # the paper: 2 GPUs x 256, lr 0.03
    assert resolve(TrainConfig(batch_size=128, **REQUIRED), 8).lr == pytest.approx(0.06)
    chunk = resolve(TrainConfig(mode="chunk", chunk_frames=64, **REQUIRED), 2)
    assert (chunk.batch_size, chunk.lr) == (4, pytest.approx(0.03))  # 4 x 64 = 256 frames per process
    assert resolve(TrainConfig(lr=0.5, **REQUIRED), 4).lr == 0.5


def test_lr_is_annealed_by_sqrt_half_from_epoch_10():
    factors = [lr_factor(epoch, math.sqrt(0.5), 10) for epoch in range(16)]  # 0-based epochs
    assert factors[:9] == [1.0] * 9
    assert factors[9:] == pytest.approx([math.sqrt(0.5) ** k for k in range(1, 8)])


def test_command_line_flags():
    parser = build_parser()
    args = vars(parser.parse_args(["--arch", "resnet22", "--data", "d", "--exp", "e", "--mode", "chunk",
                                   "--sync-bn", "--no-amp", "--batch-size", "8", "--config", "debug"]))
    # only the flags given are present, so they override the config files and nothing else does
    assert args == dict(arch="resnet22", data="d", exp="e", mode="chunk", sync_bn=True, amp=False,
                        batch_size=8, config=["debug"])
    config = build_config(args.pop("config"), **args)
    assert config.width == 0.0625 and config.batch_size == 8 and not config.amp
    assert asdict(config).keys() == default_options().keys()
