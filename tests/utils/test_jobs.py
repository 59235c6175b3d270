import os

import pytest

from blasr.utils.jobs import contiguous_shares, run_spawned


def test_contiguous_shares_keep_order_and_cover_everything():
    assert contiguous_shares(list(range(7)), 3) == [[0, 1], [2, 3, 4], [5, 6]]
    assert contiguous_shares("abcd", 1) == ["abcd"]
    assert contiguous_shares([1, 2], 4) == [[], [1], [2], []]  # bounds 0, 0.5, 1, 1.5, 2 rounded half to even
    with pytest.raises(ValueError, match="num_jobs must be at least 1"):
        contiguous_shares([1], 0)


def _exit(code):
    os._exit(code)


def test_run_spawned_returns_results_in_call_order_and_names_a_death():
    assert run_spawned(divmod, [(7, 2), (9, 4), (1, 1)], RuntimeError) == [(3, 1), (2, 1), (1, 0)]
    with pytest.raises(LookupError, match="died"):
        run_spawned(_exit, [(3,)], lambda error: LookupError(f"a job died ({error})"))
