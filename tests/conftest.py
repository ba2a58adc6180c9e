import sys
from pathlib import Path

import pytest
import torch

TESTS = Path(__file__).parent
sys.path.insert(0, str(TESTS / "school"))


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)
    yield


@pytest.fixture
def tiny_ref() -> str:
    """A file.py:factory reference prefix for the tiny test models."""
    return str(TESTS / "school" / "tiny_models.py")
