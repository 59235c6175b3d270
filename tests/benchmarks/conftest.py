import importlib.util
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]


def load_benchmark(name: str):
    """benchmarks/NAME.py as a module (benchmarks/ is not a package), registered in sys.modules (dataclasses
    look their module up there) until the caller removes it."""
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def speech_speed():
    yield load_benchmark("speech_speed")
    sys.modules.pop("speech_speed", None)


@pytest.fixture(scope="module")
def output_layer():
    yield load_benchmark("output_layer")
    sys.modules.pop("output_layer", None)


@pytest.fixture
def keep_threads():
    """The test may set torch's thread count: restored afterwards."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
