"""Fixtures for the quantization tests."""

import pytest
import torch
from quant_fixtures import make_tiny_net


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def tiny_net():
    return make_tiny_net()


@pytest.fixture
def calib():
    return torch.randn(64, 1, 16, 16, generator=torch.Generator().manual_seed(1))
