import gzip
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

TESTS = Path(__file__).parent
sys.path.insert(0, str(TESTS / "school"))
REAL_FMNIST = Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)
    yield


def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def tiny_fmnist(tmp_path, monkeypatch):
    """A 40-train/20-test IDX fixture in $LISQ_DATA with deterministic content."""
    rng = np.random.default_rng(0)
    for split, n in (("train", 40), ("t10k", 20)):
        write_idx(tmp_path / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        write_idx(tmp_path / f"{split}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    monkeypatch.setenv("LISQ_DATA", str(tmp_path))
    return tmp_path


@pytest.fixture
def real_fmnist():
    if not REAL_FMNIST.is_file():
        pytest.fail("real Fashion-MNIST is missing: `make test` installs dataset-fashion-mnist")
    return REAL_FMNIST.parent


@pytest.fixture
def tiny_ref() -> str:
    """A file.py:factory reference prefix for the tiny test models."""
    return str(TESTS / "school" / "tiny_models.py")


@pytest.fixture
def outside_resnet20a(tmp_path, monkeypatch):
    """$LISQ_WEIGHTS holding resnet20a.cifar10 as `lisq zoo import` writes it, from a random checkpoint in the
    published format (no download, no evaluation): for tests that name the outside model without its weights."""
    import torch

    from lisq.models import create_model
    from lisq.zoo.outside import IMAGENET_MEAN, IMAGENET_STD, import_checkpoint

    torch.manual_seed(0)
    th = tmp_path / "resnet20-random.th"
    torch.save({"state_dict": {f"module.{k}": v for k, v in create_model("resnet20a", 10, 3).state_dict().items()}}, th)
    monkeypatch.setenv("LISQ_WEIGHTS", str(tmp_path / "weights"))
    import_checkpoint("resnet20a", "cifar10", weights=str(th), overrides={"mean": IMAGENET_MEAN, "std": IMAGENET_STD},
                      out=tmp_path / "weights", evaluate_top1=False)
