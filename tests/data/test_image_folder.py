import json

import numpy as np
import pytest
import torch
from PIL import Image

from lisq.data import ImageFolderDataset, Normalization
from lisq.errors import LisqError


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    for cls in ("cat", "ant", "bee"):
        (tmp_path / cls).mkdir()
        for i in range(2):
            arr = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
            Image.fromarray(arr).save(tmp_path / cls / f"{i}.{'png' if i else 'jpg'}")
    return tmp_path


def test_sorted_class_indices_and_shapes(folder):
    ds = ImageFolderDataset(folder, 32, 3, Normalization((0.5, 0.5, 0.5), (0.25, 0.25, 0.25)))
    assert ds.class_to_idx == {"ant": 0, "bee": 1, "cat": 2}
    assert len(ds) == 6
    x, y = ds[0]
    assert x.shape == (3, 32, 32) and y == 0
    assert x.min() >= -2.0 - 1e-6 and x.max() <= 2.0 + 1e-6


def test_grey_and_custom_size(folder):
    ds = ImageFolderDataset(folder, 17, 1, Normalization((0.2,), (0.4,)), resize=20)
    x, _ = ds[3]
    assert x.shape == (1, 17, 17)


def test_center_crop_keeps_the_middle(tmp_path):
    (tmp_path / "a").mkdir()
    arr = np.zeros((10, 30), dtype=np.uint8)
    arr[:, 10:20] = 255  # bright vertical band in the middle third
    Image.fromarray(arr).save(tmp_path / "a" / "x.png")
    ds = ImageFolderDataset(tmp_path, 10, 1, Normalization((0.0,), (1.0,)))
    x, _ = ds[0]
    assert torch.allclose(x, torch.ones(1, 10, 10))


def test_explicit_class_index(folder, tmp_path):
    index = tmp_path / "idx.json"
    index.write_text(json.dumps({"cat": 7, "ant": 1, "bee": 3}))
    ds = ImageFolderDataset(folder, 8, 3, Normalization((0, 0, 0), (1, 1, 1)), class_index=index)
    assert sorted({y for _, y in ds.samples}) == [1, 3, 7]


@pytest.mark.parametrize(
    "make, msg",
    [
        (lambda p: p / "missing", "does not exist"),
        (lambda p: p, "no images"),
    ],
)
def test_errors(tmp_path, make, msg):
    with pytest.raises(LisqError, match=msg):
        ImageFolderDataset(make(tmp_path), 8, 1, Normalization((0.0,), (1.0,)))


def test_channel_mismatch(folder):
    with pytest.raises(LisqError, match="normalisation has 1 channels"):
        ImageFolderDataset(folder, 8, 3, Normalization((0.0,), (1.0,)))
