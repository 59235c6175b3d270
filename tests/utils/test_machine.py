import os

import pytest

from blasr.utils.machine import cpu_model, load_average


def test_cpu_model_names_something():
    assert cpu_model().strip() not in ("", "?")


@pytest.mark.skipif(not os.path.exists("/proc/loadavg"), reason="no /proc/loadavg on this system")
def test_load_average_is_three_non_negative_numbers():
    values = load_average()
    assert len(values) == 3 and all(isinstance(v, float) and v >= 0 for v in values)
