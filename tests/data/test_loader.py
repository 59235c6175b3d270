from collections import Counter

import numpy as np
import pytest
import torch
from lhotse import CutSet

from blasr.data import IGNORE_INDEX, FrameLoader
from blasr.data.schedule import buckets, rank_pieces
from blasr.features import CmvnTable, compute_cmvn_table, load_static, model_input, replicate_edges
from tests.data.conftest import FRAMES, pdf_id

TOTAL_FRAMES = sum(FRAMES)


def reference_inputs(manifest, normalization="utterance", cmvn=None) -> dict:
    """cut id -> (3, 64, T + 48): normalised statics + Δ/ΔΔ, edge frames replicated 24 each side."""
    out = {}
    for cut in CutSet.from_file(manifest):
        stats = cmvn.for_cut(cut) if cmvn is not None else None
        out[cut.id] = replicate_edges(model_input(load_static(cut), normalization, stats))
    return out


def rows(loader):
    """Every valid (cut, frame) -> (49-frame input, target) of an epoch, and the batches."""
    found, batches = {}, []
    for batch in loader:
        batches.append(batch)
        for i, cut_id in enumerate(batch["cut_ids"]):
            for j in range(batch["targets"].shape[1]):
                if batch["targets"][i, j] != IGNORE_INDEX:
                    key = (cut_id, int(batch["frames"][i]) + j)
                    assert key not in found, f"{key} used twice"
                    found[key] = (batch["features"][i, :, :, j : j + 49], int(batch["targets"][i, j]))
    return found, batches


def all_frames():
    return {(f"utt{i}", t) for i, frames in enumerate(FRAMES) for t in range(frames)}


def test_window_mode_rows_are_centred_windows(corpus):
    loader = FrameLoader(corpus, mode="window", batch_size=32, num_workers=0)
    reference = reference_inputs(corpus)
    found, batches = rows(loader)
    assert set(found) == all_frames() and len(batches) == len(loader) == -(-TOTAL_FRAMES // 32)
    first = batches[0]
    assert first["features"].shape == (32, 3, 64, 49) and first["features"].dtype == torch.float32
    assert first["targets"].shape == (32, 1) and first["targets"].dtype == torch.int64
    for (cut_id, t), (window, target) in found.items():
        # input frames t - 24 .. t + 24 of the utterance, edge frames replicated
        np.testing.assert_array_equal(window.numpy(), reference[cut_id][:, :, t : t + 49])
        assert target == pdf_id(int(cut_id[3:]), t)
    # shuffled across utterances (one bucket holds the whole corpus): the first batch mixes them
    assert len(set(first["cut_ids"])) > 4


@pytest.mark.parametrize("chunk_frames", [1, 7, 64])
def test_chunk_mode_gives_the_window_mode_input_of_every_frame(corpus, chunk_frames):
    window, _ = rows(FrameLoader(corpus, mode="window", batch_size=50, num_workers=0))
    chunk, batches = rows(
        FrameLoader(corpus, mode="chunk", chunk_frames=chunk_frames, batch_size=3, num_workers=0, seed=5)
    )
    assert batches[0]["features"].shape[1:] == (3, 64, chunk_frames + 48)
    assert set(chunk) == set(window) == all_frames()
    for key, (inputs, target) in chunk.items():
        assert torch.equal(inputs, window[key][0]) and target == window[key][1]


@pytest.mark.parametrize("mode, chunk_frames, batch_size", [("window", None, 16), ("chunk", 10, 4), ("chunk", 64, 1)])
def test_two_ranks_use_every_frame_exactly_once(corpus, mode, chunk_frames, batch_size):
    found = []
    lengths = []
    for rank in (0, 1):
        loader = FrameLoader(corpus, mode=mode, chunk_frames=chunk_frames, batch_size=batch_size,
                             num_workers=0, rank=rank, world_size=2, seed=3, shuffle_buffer_frames=60)
        frames, batches = rows(loader)
        found.append(set(frames))
        lengths.append((len(loader), len(batches)))
    assert found[0].isdisjoint(found[1])
    assert found[0] | found[1] == all_frames()
    assert lengths[0] == lengths[1] and lengths[0][0] == lengths[0][1]


def test_a_rank_one_unit_short_pads_its_last_batch(corpus):
    # Chunks of 100 frames: 1+1+1+1+1+2+1+1 = 9 units; ranks own 4 and 5; batch 4 -> 2 batches each,
    # rank 0's second one a padding batch.
    per_rank = [list(FrameLoader(corpus, mode="chunk", chunk_frames=100, batch_size=4, num_workers=0,
                                 rank=r, world_size=2)) for r in (0, 1)]
    assert [len(b) for b in per_rank] == [2, 2]
    padding = per_rank[0][-1]
    assert padding["cut_ids"] == [""] and (padding["targets"] == IGNORE_INDEX).all()
    assert padding["features"].shape == (1, 3, 64, 148)
    assert [len(b["cut_ids"]) for b in per_rank[1]] == [4, 1]


def test_same_seed_same_batches_and_epochs_differ(corpus):
    def epoch(seed, number):
        loader = FrameLoader(corpus, mode="window", batch_size=40, num_workers=0, seed=seed)
        loader.set_epoch(number)
        return [(b["cut_ids"], b["frames"].tolist()) for b in loader]

    assert epoch(1, 0) == epoch(1, 0)
    assert epoch(1, 0) != epoch(1, 1) and epoch(1, 0) != epoch(2, 0)
    ordered = FrameLoader(corpus, mode="window", batch_size=40, num_workers=0, shuffle=False)
    first = next(iter(ordered))
    assert first["cut_ids"][:30] == ["utt0"] * 30 and first["frames"][:30].tolist() == list(range(30))


def test_resume_mid_epoch_with_background_workers(corpus):
    options = dict(mode="chunk", chunk_frames=8, batch_size=5, seed=11, shuffle_buffer_frames=100)
    reference = [b for b in FrameLoader(corpus, num_workers=0, **options)]
    loader = FrameLoader(corpus, num_workers=2, **options)
    assert len(reference) == len(loader) > 6
    head = []
    for batch in loader:
        head.append(batch)
        if len(head) == 4:
            break
    state = loader.state_dict()
    assert state["epoch"] == 0 and state["batches_done"] == 4
    resumed = FrameLoader(corpus, num_workers=2, **options)
    resumed.load_state_dict(state)
    resumed.set_epoch(0)  # a training loop re-entering the same epoch keeps the position
    tail = list(resumed)
    assert len(head) + len(tail) == len(reference)
    for got, expected in zip(head + tail, reference):
        assert got["cut_ids"] == expected["cut_ids"]
        assert torch.equal(got["features"], expected["features"]) and torch.equal(got["targets"], expected["targets"])
    assert resumed.state_dict()["batches_done"] == len(reference)
    # the next iteration is the next epoch, from its start
    assert len(list(resumed)) == len(reference) and resumed.state_dict()["epoch"] == 1
    with pytest.raises(ValueError, match="batch_size=5"):
        FrameLoader(corpus, num_workers=0, **{**options, "batch_size": 6}).load_state_dict(state)


def test_prefetched_epochs_give_the_same_batches(corpus):
    options = dict(mode="chunk", chunk_frames=8, batch_size=5, seed=3, shuffle_buffer_frames=100)

    def epochs(loader, prefetch):
        # a training loop that stops every epoch after 3 batches (max_steps_per_epoch) and, with prefetch,
        # starts the next epoch's workers at once, as the trainer does before its validation
        seen = []
        for epoch in range(3):
            loader.set_epoch(epoch)
            for batch in loader:
                seen.append((epoch, batch["cut_ids"], batch["features"], batch["targets"]))
                if len(seen) % 3 == 0:
                    break
            if prefetch:
                loader.prefetch(epoch + 1)
                assert loader._prefetched[0] == (epoch + 1, 0)
        return seen

    reference = epochs(FrameLoader(corpus, num_workers=0, **options), prefetch=False)
    loader = FrameLoader(corpus, num_workers=2, **options)
    got = epochs(loader, prefetch=True)
    assert len(got) == len(reference) == 9 and len({tuple(ids) for _, ids, _, _ in got}) > 3
    for (epoch, ids, features, targets), (epoch_r, ids_r, features_r, targets_r) in zip(got, reference):
        assert (epoch, ids) == (epoch_r, ids_r)
        assert torch.equal(features, features_r) and torch.equal(targets, targets_r)
    # the workers started for epoch 3 are given up when another position is asked for
    loader.set_epoch(0)
    assert loader._prefetched[0] == (3, 0)
    first = next(iter(loader))
    assert loader._prefetched is None and first["cut_ids"] == reference[0][1]
    # an evaluation loader (no shuffle) prefetched while nothing is iterated: whole passes are unchanged
    ordered = FrameLoader(corpus, mode="chunk", chunk_frames=8, batch_size=5, shuffle=False, num_workers=1)
    passes = []
    for _ in range(2):
        ordered.prefetch()
        passes.append([b["cut_ids"] for b in ordered])
    assert passes[0] == passes[1] == [b["cut_ids"] for b in FrameLoader(corpus, mode="chunk", chunk_frames=8,
                                                                          batch_size=5, shuffle=False,
                                                                          num_workers=0)]


def test_a_small_manifest_is_read_once(corpus, tmp_path):
    copy = tmp_path / "cuts.jsonl.gz"
    copy.write_bytes(corpus.read_bytes() if hasattr(corpus, "read_bytes") else open(corpus, "rb").read())
    options = dict(mode="chunk", chunk_frames=8, batch_size=5, num_workers=0)
    kept = FrameLoader(copy, **options)
    streamed = FrameLoader(copy, cache_cuts=len(FRAMES) - 1, **options)  # one cut too many to keep
    before = [b["cut_ids"] for b in kept]
    copy.unlink()
    kept.set_epoch(1)
    assert len([b["cut_ids"] for b in kept]) == len(before)  # planned from memory
    with pytest.raises(FileNotFoundError):
        list(streamed)


def test_shuffle_buffer_is_bounded():
    class Cut:
        def __init__(self, frames):
            self.id, self.frames = f"c{frames}", frames

    cuts = [Cut(n) for n in (40, 10, 70, 5, 300, 20, 20, 20)]
    pieces = list(rank_pieces(cuts, lambda c: c.frames, 1, 0, 10_000))
    sizes = [b.num_units for b in buckets(pieces, 64, True, 0, 0, 0)]
    assert sizes == [120, 305, 60] and sum(sizes) == 485
    # a bucket closes as soon as it reaches 64 frames: at most 64 - 1 + the longest utterance
    assert max(sizes) <= 63 + 300


def test_per_speaker_normalisation(corpus):
    cuts = CutSet.from_file(corpus)
    table = compute_cmvn_table(cuts, "speaker")
    assert isinstance(table, CmvnTable) and sorted(table.stats) == ["spk0", "spk1"]
    loader = FrameLoader(corpus, mode="window", batch_size=64, num_workers=0, normalization="speaker", cmvn=table)
    found, _ = rows(loader)
    reference = reference_inputs(corpus, "speaker", table)
    for (cut_id, t), (window, _) in list(found.items())[:50]:
        np.testing.assert_allclose(window.numpy(), reference[cut_id][:, :, t : t + 49], rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="needs a CmvnTable"):
        FrameLoader(corpus, normalization="side", cmvn=table, num_workers=0)


def test_cuts_without_targets(corpus, tmp_path):
    bare = tmp_path / "bare.jsonl.gz"
    CutSet.from_cuts(c.drop_custom("targets") for c in CutSet.from_file(corpus)).to_file(bare)
    with pytest.raises(ValueError, match="cut utt0 has no targets"):
        FrameLoader(bare, num_workers=0)
    loader = FrameLoader(bare, mode="chunk", chunk_frames=50, batch_size=4, num_workers=0,
                         shuffle=False, require_targets=False)
    batch = next(iter(loader))
    assert (batch["targets"] == IGNORE_INDEX).all() and batch["features"].shape == (4, 3, 64, 98)
    counts = Counter(c for b in loader for c in b["cut_ids"])
    assert counts["utt5"] == 3  # 123 frames -> three 50-frame chunks


@pytest.mark.parametrize(
    "device",
    ["cpu", pytest.param("cuda", marks=[pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(),
                                                                             reason="needs a CUDA device")])],
)
def test_batches_gathered_on_a_device(corpus, device):
    options = dict(mode="chunk", chunk_frames=16, batch_size=4, seed=2, shuffle_buffer_frames=50)
    reference = list(FrameLoader(corpus, num_workers=0, **options))
    gathered = list(FrameLoader(corpus, num_workers=1, device=device, **options))
    assert len(gathered) == len(reference)
    for got, expected in zip(gathered, reference):
        assert got["features"].device.type == device and got["cut_ids"] == expected["cut_ids"]
        assert torch.equal(got["features"].cpu(), expected["features"])
        assert torch.equal(got["targets"].cpu(), expected["targets"])
