import os

import pytest
import torch

# Tests compare runs bit for bit, and the thread count changes floating-point summation order: keep
# torch's count as each process has it (blasr.utils.threads) instead of letting it follow the load.
os.environ.setdefault("BLASR_THREADS", "fixed")

# the `slurm` fixture: a single-node Slurm started for the session where one can run here
pytest_plugins = ["tests.launch.slurm_cluster"]


@pytest.fixture
def rng() -> torch.Generator:
    """A seeded generator: tests draw their data from it, never from global state."""
    return torch.Generator().manual_seed(1234)


def randomize_batchnorm(model: torch.nn.Module, rng: torch.Generator) -> None:
    """Give every batch norm non-trivial statistics and affine parameters (eval-mode tests)."""
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            n = module.num_features
            module.running_mean.copy_(torch.randn(n, generator=rng) * 0.1)
            module.running_var.copy_(torch.rand(n, generator=rng) + 0.5)
            with torch.no_grad():
                module.weight.copy_(torch.rand(n, generator=rng) + 0.5)
                module.bias.copy_(torch.randn(n, generator=rng) * 0.1)
