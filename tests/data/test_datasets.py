"""The dataset registry and each built-in dataset's loader, on fixtures the tests make and on the real files."""

import hashlib
import io
import os
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lisq.data import FASHION_MNIST_SPEC, IMAGENET_SPEC, get_dataset, list_datasets
from lisq.data.cifar10 import CLASSES, download, load_cifar10
from lisq.data.imagenet import WNIDS
from lisq.errors import LisqError

SHARED = Path(os.environ.get("LISQ_SHARED") or Path(__file__).resolve().parents[3] / "shared") / "data"  # make test sets LISQ_SHARED


@pytest.fixture
def data_home(tmp_path, monkeypatch):
    monkeypatch.setenv("LISQ_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    from lisq.data import cifar10

    cifar10._read.cache_clear()
    return tmp_path / "data"


def write_cifar_folder(root: Path, per_class: int = 2, ext: str = "png") -> np.ndarray:
    rng = np.random.default_rng(0)
    images = []
    for split in ("train", "test"):
        for c, name in enumerate(CLASSES):
            (root / split / name).mkdir(parents=True)
            for i in range(per_class):
                img = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                img[0, 0] = (c, i, 7)
                Image.fromarray(img).save(root / split / name / f"{i:04d}.{ext}")
                images.append(img)
    return np.stack(images)


def binary_records(labels, seed=0) -> tuple[bytes, np.ndarray]:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (len(labels), 3, 32, 32), dtype=np.uint8)
    raw = b"".join(bytes([lab]) + pixels[i].tobytes() for i, lab in enumerate(labels))
    return raw, pixels


def test_registry_lists_builtins_and_refuses_unknown_names():
    assert {"fmnist", "cifar10", "imagenet"} <= set(list_datasets())
    assert get_dataset(None).name == "fmnist" and get_dataset("fmnist").input == FASHION_MNIST_SPEC
    c10 = get_dataset("cifar10")
    assert c10.classes == CLASSES and c10.input.shape == (3, 32, 32) and c10.input.mean == (0.4914, 0.4822, 0.4465)
    assert get_dataset("imagenet").num_classes == 1000 and list(WNIDS) == sorted(WNIDS)
    with pytest.raises(LisqError, match="unknown dataset 'mnist'.*folder:PATH") as info:
        get_dataset("mnist")
    assert "\n" not in str(info.value)


def test_cifar10_image_folder(data_home):
    write_cifar_folder(data_home / "cifar10")
    split = get_dataset("cifar10").split("train")
    assert split.images.shape == (20, 3, 32, 32) and split.images.dtype == torch.uint8
    assert split.labels.tolist() == [c for c in range(10) for _ in range(2)]
    # the marker pixel: R = class, G = index, B = 7 (PNG is lossless)
    assert split.images[5, :, 0, 0].tolist() == [2, 1, 7]
    x = split.inputs([5], get_dataset("cifar10").input)
    assert torch.allclose(x[0, :, 0, 0], (torch.tensor([2, 1, 7]) / 255 - torch.tensor(CIFAR_MEAN)) / torch.tensor(CIFAR_STD))


CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


def test_cifar10_decoded_cache_is_reused_and_invalidated(data_home):
    from lisq.data import cifar10

    write_cifar_folder(data_home / "cifar10", per_class=1)
    first = load_cifar10("test")[0].clone()
    cached = list((data_home.parent / "cache" / "lisq" / "cifar10" / ".decoded").glob("test-*.npz"))
    assert len(cached) == 1
    cifar10._read.cache_clear()
    assert torch.equal(load_cifar10("test")[0], first)
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(data_home / "cifar10" / "test" / "cat" / "9999.png")
    cifar10._read.cache_clear()
    assert len(load_cifar10("test")[1]) == 11  # a changed folder is decoded again


def test_cifar10_upstream_binary(data_home):
    base = data_home / "cifar10" / "cifar-10-batches-bin"
    base.mkdir(parents=True)
    all_pixels = []
    for i in range(1, 6):
        raw, px = binary_records([i % 10, (i + 3) % 10], seed=i)
        (base / f"data_batch_{i}.bin").write_bytes(raw)
        all_pixels.append(px)
    raw, test_px = binary_records([9, 0, 4], seed=9)
    (base / "test_batch.bin").write_bytes(raw)
    images, labels = load_cifar10("train", allow_download=False)
    assert images.shape == (10, 3, 32, 32) and labels.tolist()[:4] == [1, 4, 2, 5]
    assert torch.equal(images, torch.from_numpy(np.concatenate(all_pixels)))  # R, G, B planes in that order
    images, labels = load_cifar10("test", allow_download=False)
    assert labels.tolist() == [9, 0, 4] and torch.equal(images, torch.from_numpy(test_px))


def test_cifar10_corrupt_or_missing_is_one_line(data_home):
    with pytest.raises(LisqError, match="CIFAR-10 test not found; put") as info:
        load_cifar10("test", allow_download=False)
    assert "\n" not in str(info.value)
    base = data_home / "cifar10"
    base.mkdir(parents=True)
    (base / "test_batch.bin").write_bytes(b"\x01" * 100)
    with pytest.raises(LisqError, match="not a CIFAR-10 binary batch"):
        load_cifar10("test", allow_download=False)
    with pytest.raises(LisqError, match="no 'val' split"):
        get_dataset("cifar10").split("val")


def test_cifar10_download_checks_the_checksum(tmp_path):
    """The real download code, fed a local archive through a file:// URL (no network here)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        raw, _ = binary_records([3, 1])
        for name in ["test_batch.bin"] + [f"data_batch_{i}.bin" for i in range(1, 6)]:
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    archive = tmp_path / "archive.tar.gz"
    archive.write_bytes(buf.getvalue())
    md5 = hashlib.md5(buf.getvalue()).hexdigest()
    with pytest.raises(LisqError, match="MD5"):
        download(tmp_path / "bad", url=archive.as_uri(), md5="0" * 32)
    dest = download(tmp_path / "good", url=archive.as_uri(), md5=md5)
    assert (dest / "cifar-10-batches-bin" / "test_batch.bin").read_bytes() == raw
    with pytest.raises(LisqError, match="download failed"):
        download(tmp_path / "none", url=(tmp_path / "missing.tar.gz").as_uri())


def test_imagenet_flat_and_wnid_folders(tmp_path, data_home):
    rng = np.random.default_rng(0)
    flat = tmp_path / "flat"
    flat.mkdir()
    picks = [WNIDS[0], WNIDS[417], WNIDS[999]]
    for w in picks:
        Image.fromarray(rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)).save(flat / f"{w}_thing.JPEG")
    ds = get_dataset("imagenet")
    split = ds.folder_split(flat)
    assert split.labels.tolist() == [0, 417, 999]
    spec = IMAGENET_SPEC.replace(size=32)
    assert split.pixels([1], spec).shape == (1, 3, 32, 32)
    nested = tmp_path / "val"
    (nested / WNIDS[5]).mkdir(parents=True)
    Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(nested / WNIDS[5] / "a.JPEG")
    assert ds.folder_split(nested).labels.tolist() == [5]  # a subset of the classes keeps ImageNet's indices
    (flat / "n99999999_x.JPEG").write_bytes((flat / f"{picks[0]}_thing.JPEG").read_bytes())
    with pytest.raises(LisqError, match="does not start with a class of imagenet"):
        ds.folder_split(flat)
    with pytest.raises(LisqError, match="no ImageNet val folder found; pass --val DIR"):
        ds.split("val")
    (data_home / "imagenet").mkdir(parents=True)
    (nested).rename(data_home / "imagenet" / "val")
    assert ds.split("val").labels.tolist() == [5]  # found in $LISQ_DATA/imagenet/val


def test_imagenet_calibration_and_evaluation_parts_are_disjoint(tmp_path, data_home):
    """One image in four (class, then file-name order) calibrates; the rest evaluate; none is in both."""
    rng = np.random.default_rng(0)
    val = data_home / "imagenet" / "val"
    val.mkdir(parents=True)
    for w in WNIDS[:8]:
        for i in range(2):
            Image.fromarray(rng.integers(0, 256, (36, 36, 3), dtype=np.uint8)).save(val / f"{w}_{i}.JPEG")
    ds = get_dataset("imagenet")
    assert (ds.calibration_split, ds.evaluation_split) == ("val-calib", "val-eval")
    whole, calib, evaluate = ds.split("val"), ds.split("val-calib"), ds.split("val-eval")
    names = lambda split: {p.name for p, _ in split.samples}  # noqa: E731
    assert len(calib) == 4 and len(evaluate) == 12 and names(calib) | names(evaluate) == names(whole)
    assert not names(calib) & names(evaluate)
    assert names(calib) == {f"{WNIDS[c]}_0.JPEG" for c in (0, 2, 4, 6)}
    with pytest.raises(LisqError, match="unknown part"):
        whole.part("test")


def test_folder_dataset(tmp_path):
    for split in ("train", "test"):
        for c in ("b_dog", "a_cat"):
            (tmp_path / split / c).mkdir(parents=True)
            Image.fromarray(np.full((10, 12), 99, np.uint8)).save(tmp_path / split / c / "0.png")
    ds = get_dataset(f"folder:{tmp_path}")
    assert ds.classes == ("a_cat", "b_dog") and ds.splits == ("train", "test") and ds.input is None
    assert ds.split("test").labels.tolist() == [0, 1]
    with pytest.raises(LisqError, match="does not exist"):
        get_dataset(f"folder:{tmp_path / 'nope'}")


@pytest.mark.skipif(not (SHARED / "imagenet-sample").is_dir(), reason="the shared ImageNet sample is not on this machine")
def test_real_imagenet_sample_one_image_per_class():
    split = get_dataset("imagenet").folder_split(SHARED / "imagenet-sample")
    assert len(split) == 1000 and split.labels.tolist() == list(range(1000))
    assert split.pixels([0], IMAGENET_SPEC).shape == (1, 3, 224, 224)
    calib, evaluate = split.part("calib"), split.part("eval")
    assert len(calib) == 250 and len(evaluate) == 750 and calib.labels.tolist() == list(range(0, 1000, 4))


def real_cifar10_present() -> bool:
    from lisq.data.cifar10 import locate

    return locate("test") is not None


@pytest.mark.skipif(not real_cifar10_present(), reason="CIFAR-10 is not unpacked here (make test does it from ../shared)")
def test_real_cifar10_splits():
    ds = get_dataset("cifar10")
    test = ds.split("test")
    assert test.images.shape == (10000, 3, 32, 32) and test.labels.bincount().tolist() == [1000] * 10
    assert len(ds.split("train")) == 50000
