import logging
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from blasr.utils.distributed import (
    ShardedBatchSampler,
    all_reduce,
    broadcast_buffers,
    cleanup,
    init_distributed,
    reduce_sums,
    setup_logging,
)

TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun_env(rank: int, world_size: int, port: int) -> dict[str, str]:
    """The variables torchrun exports to process ``rank``."""
    return {"RANK": str(rank), "WORLD_SIZE": str(world_size), "LOCAL_RANK": str(rank),
            "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}


def test_single_process_fallback(monkeypatch):
    for name in TORCHRUN_VARS:
        monkeypatch.delenv(name, raising=False)
    context = init_distributed("cpu")
    assert (context.rank, context.world_size, context.is_main, context.is_distributed) == (0, 1, True, False)
    assert not dist.is_initialized() and context.device == torch.device("cpu")
    assert all_reduce(torch.tensor([3.0]), "max").item() == 3.0
    assert reduce_sums({"loss": torch.tensor(2.5), "count": 4}, context.device) == {"loss": 2.5, "count": 4.0}
    cleanup(context)


def test_partial_torchrun_environment_is_refused(monkeypatch):
    for name in TORCHRUN_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(RuntimeError, match="RANK, LOCAL_RANK, MASTER_ADDR, MASTER_PORT unset.*torchrun"):
        init_distributed("cpu")


def test_shards_are_disjoint_and_cover_whole_global_batches():
    n, batch, world = 23, 3, 2  # 3 global batches of 6: positions 18..22 are dropped
    shards = [list(ShardedBatchSampler(n, batch, rank=r, world_size=world, seed=5)) for r in range(world)]
    assert [len(s) for s in shards] == [3, 3] and all(len(b) == batch for s in shards for b in s)
    seen = [i for s in shards for b in s for i in b]
    assert len(seen) == len(set(seen)) == 18
    order = torch.randperm(n, generator=torch.Generator().manual_seed(5)).tolist()
    assert sorted(seen) == sorted(order[:18])
    # step s of all processes together is global batch s of the epoch order
    for step in range(3):
        assert sorted(shards[0][step] + shards[1][step]) == sorted(order[6 * step:6 * step + 6])


def test_epochs_reshuffle_and_resume_position():
    sampler = ShardedBatchSampler(20, 4, seed=1)
    epoch0, epoch0_again = list(sampler), list(sampler)
    sampler.set_epoch(1)
    epoch1 = list(sampler)
    assert epoch0 == epoch0_again and epoch0 != epoch1
    assert sorted(sum(epoch0, [])) == sorted(sum(epoch1, [])) == list(range(20))
    sampler.set_epoch(1, start_batch=3)
    assert len(sampler) == 2 and list(sampler) == epoch1[3:]
    short = ShardedBatchSampler(20, 4, seed=1, max_batches=2)
    assert short.batches_per_epoch() == 2 and list(short) == epoch0[:2]


def test_sample_seeds_do_not_depend_on_the_world_size():
    one = ShardedBatchSampler(16, 4, seed=3, with_seeds=True)
    two = [ShardedBatchSampler(16, 2, rank=r, world_size=2, seed=3, with_seeds=True) for r in range(2)]
    seeds_one = dict(pair for b in one for pair in b)
    seeds_two = dict(pair for s in two for b in s for pair in b)
    assert seeds_one == seeds_two and len(set(seeds_one.values())) == 16


def test_evaluation_shards_cover_every_sample_once():
    shards = [list(ShardedBatchSampler(7, 2, rank=r, world_size=3, shuffle=False, drop_last=False))
              for r in range(3)]
    assert shards == [[[0, 3], [6]], [[1, 4]], [[2, 5]]]
    with pytest.raises(ValueError, match="do not fill one global batch"):
        ShardedBatchSampler(7, 4, world_size=2)


def test_logging_is_rank_zero_only(tmp_path, capsys):
    with setup_logging(rank=1, log_file=tmp_path / "rank1.log") as log:
        log.info("hidden")
        log.warning("shown")
    err = capsys.readouterr().err
    assert "hidden" not in err and "[rank 1] shown" in err and not (tmp_path / "rank1.log").exists()
    before = logging.getLogger("blasr").handlers[:]
    with setup_logging(rank=0, log_file=tmp_path / "train.log") as log:
        logging.getLogger("blasr.image.train").info("epoch 1 done")
    assert "epoch 1 done" in capsys.readouterr().err
    assert "epoch 1 done" in (tmp_path / "train.log").read_text()
    assert logging.getLogger("blasr").handlers == before  # restored on exit


def _collectives_worker(rank: int, world_size: int, port: int, out: str) -> None:
    os.environ.update(torchrun_env(rank, world_size, port))
    context = init_distributed("cpu")
    sums = reduce_sums({"loss": torch.tensor(1.5 * (rank + 1)), "count": rank + 2}, context.device)
    lowest = all_reduce(torch.tensor(10 + rank), "min").item()
    norm = torch.nn.BatchNorm1d(2)
    norm.running_mean.fill_(rank + 1.0)
    broadcast_buffers(norm)
    torch.save({"sums": sums, "min": lowest, "mean": norm.running_mean, "world": context.world_size},
               os.path.join(out, f"rank{rank}.pt"))
    cleanup(context)


def test_two_process_gloo_collectives(tmp_path):
    port = free_port()
    mp.spawn(_collectives_worker, args=(2, port, str(tmp_path)), nprocs=2, join=True)
    for rank in range(2):
        result = torch.load(tmp_path / f"rank{rank}.pt")
        assert result["sums"] == {"loss": 4.5, "count": 5.0} and result["min"] == 10
        assert result["world"] == 2 and result["mean"].tolist() == [1.0, 1.0]
