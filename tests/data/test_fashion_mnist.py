import numpy as np
import pytest
import torch
from tests.conftest import write_idx

from lisq.data import FASHION_MNIST_NORM, TensorBatches, load_fashion_mnist
from lisq.data import fashion_mnist as fm
from lisq.errors import LisqError


def test_reads_fixture_from_lisq_data(tiny_fmnist):
    x, y = load_fashion_mnist("train", allow_download=False)
    assert x.shape == (40, 1, 28, 28) and x.dtype == torch.uint8
    assert y.tolist() == [i % 10 for i in range(40)]
    xt, _ = load_fashion_mnist("test", allow_download=False)
    assert xt.shape == (20, 1, 28, 28)


def test_real_files_full_size(real_fmnist, monkeypatch):
    monkeypatch.delenv("LISQ_DATA", raising=False)
    x, y = load_fashion_mnist("test")
    assert x.shape == (10000, 1, 28, 28)
    assert torch.bincount(y).tolist() == [1000] * 10
    mean = x.float().div(255).mean().item()
    assert abs(mean - 0.2860) < 0.002


def test_truncated_file_is_one_clear_error(tmp_path, monkeypatch):
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((5, 28, 28)))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(5))
    raw = (tmp_path / "t10k-images-idx3-ubyte.gz")
    import gzip

    data = gzip.decompress(raw.read_bytes())[:-100]
    raw.write_bytes(gzip.compress(data))
    monkeypatch.setenv("LISQ_DATA", str(tmp_path))
    with pytest.raises(LisqError, match="truncated"):
        load_fashion_mnist("test", allow_download=False)


def test_missing_data_names_debian_package(tmp_path, monkeypatch):
    monkeypatch.setenv("LISQ_DATA", str(tmp_path))
    monkeypatch.setattr(fm, "SYSTEM_DIR", tmp_path / "none")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(LisqError, match="dataset-fashion-mnist"):
        load_fashion_mnist("test", allow_download=False)


def test_download_from_local_mirror(tiny_fmnist, tmp_path, monkeypatch):
    """The download path, exercised against a file:// mirror (no network here)."""
    dest = tmp_path / "dl"
    fm.download(dest, base_url=tiny_fmnist.as_uri() + "/")
    assert sorted(p.name for p in dest.iterdir()) == sorted(f"{s}.gz" for pair in fm.FILES.values() for s in pair)
    monkeypatch.setenv("LISQ_DATA", str(dest))
    x, _ = load_fashion_mnist("train", allow_download=False)
    assert x.shape[0] == 40


def test_download_failure_is_clear(tmp_path):
    with pytest.raises(LisqError, match="apt-get install dataset-fashion-mnist"):
        fm.download(tmp_path / "dl", base_url=(tmp_path / "nowhere").as_uri() + "/")
    assert not any((tmp_path / "dl").glob("*.part"))


def test_unknown_split():
    with pytest.raises(LisqError, match="unknown split"):
        load_fashion_mnist("val")


def test_tensor_batches_normalise_and_augment(tiny_fmnist):
    x, y = load_fashion_mnist("train", allow_download=False)
    plain = list(TensorBatches(x, y, FASHION_MNIST_NORM, batch_size=16))
    assert [len(b[1]) for b in plain] == [16, 16, 8]
    expected = (x[:16].float() / 255 - 0.2860) / 0.3530
    assert torch.allclose(plain[0][0], expected, atol=1e-6)
    a = next(iter(TensorBatches(x, y, FASHION_MNIST_NORM, 16, shuffle=True, augment_pad=2, augment_flip=True, seed=3)))
    b = next(iter(TensorBatches(x, y, FASHION_MNIST_NORM, 16, shuffle=True, augment_pad=2, augment_flip=True, seed=3)))
    assert torch.equal(a[0], b[0]) and not torch.equal(a[0], plain[0][0])
