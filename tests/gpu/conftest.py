"""The `gpu` tier: tests that need CUDA, run by `make gpu-check` (`pytest -m gpu tests/gpu`) on a GPU machine.

Every test here is marked `gpu` (pyproject's markers) and is skipped, with the reason, where
torch.cuda.is_available() is False: at collection time, so no fixture moves anything to a device
that is not there. What can be checked without CUDA lives in tests/profile/test_profile_gpu.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

HERE = Path(__file__).resolve().parent
NO_CUDA = "needs CUDA: torch.cuda.is_available() is False here (make gpu-check runs this tier on a GPU machine)"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason=NO_CUDA)
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def cuda() -> torch.device:
    return torch.device("cuda")
