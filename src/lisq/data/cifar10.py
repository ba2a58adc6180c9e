"""CIFAR-10 (Krizhevsky 2009): 32x32 RGB, 10 classes, 50k train / 10k test.

Two layouts are read, in each of $LISQ_DATA/cifar10 and ~/.cache/lisq/cifar10:
- an ImageFolder tree `train/<class>/*.jpg|png`, `test/<class>/*` (e.g. a JPEG copy);
- the upstream binary version `data_batch_{1..5}.bin`, `test_batch.bin` (directly or in
  `cifar-10-batches-bin/`): per record 1 label byte + 3072 bytes, the R, G and B planes.
When neither is found, the upstream binary archive is downloaded into the cache and checked
against its published MD5; offline, one line says where to put the files.
"""

from __future__ import annotations

import functools
import hashlib
import os
import tarfile
import urllib.request
from pathlib import Path

import numpy as np
import torch

from lisq.errors import LisqError

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)
UPSTREAM = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
UPSTREAM_MD5 = "c32a1d4ab5d03f1284b67883e8d87530"
BINARY_FILES = {"train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)), "test": ("test_batch.bin",)}
RECORD = 1 + 3 * 32 * 32


def search_dirs() -> list[Path]:
    from lisq.data.registry import search_dirs as dirs

    return dirs("cifar10")


def read_binary(paths: list[Path]) -> tuple[torch.Tensor, torch.Tensor]:
    """Records of the upstream binary files -> (uint8 [N, 3, 32, 32], int64 [N])."""
    chunks = []
    for path in paths:
        raw = np.fromfile(path, dtype=np.uint8)
        if raw.size == 0 or raw.size % RECORD:
            raise LisqError(f"{path} is not a CIFAR-10 binary batch ({raw.size} bytes, not a multiple of {RECORD}); delete it and reinstall")
        chunks.append(raw.reshape(-1, RECORD))
    records = np.concatenate(chunks)
    labels = records[:, 0].astype(np.int64)
    if labels.max() >= len(CLASSES):
        raise LisqError(f"{paths[0]}: label {labels.max()} out of range; not a CIFAR-10 binary file")
    images = records[:, 1:].reshape(-1, 3, 32, 32)
    return torch.from_numpy(images.copy()), torch.from_numpy(labels)


def read_folder(root: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """An ImageFolder split root/<class>/* with the CIFAR-10 class names -> (uint8 [N, 3, 32, 32], labels)."""
    from PIL import Image

    from lisq.data.folder import folder_samples

    samples = folder_samples(root, CLASSES, None, "cifar10")
    images = np.empty((len(samples), 32, 32, 3), dtype=np.uint8)
    for i, (path, _) in enumerate(samples):
        try:
            with Image.open(path) as im:
                arr = np.asarray(im.convert("RGB"))
        except OSError as exc:
            raise LisqError(f"cannot read image {path} ({exc}); remove or replace it") from None
        if arr.shape != (32, 32, 3):
            raise LisqError(f"{path} is {arr.shape[1]}x{arr.shape[0]}, not a 32x32 CIFAR-10 image")
        images[i] = arr
    labels = torch.tensor([label for _, label in samples], dtype=torch.long)
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), labels


def locate(split: str) -> tuple[str, object] | None:
    """('folder', Path) or ('binary', [Paths]) of the first directory holding the split."""
    for d in search_dirs():
        if (d / split).is_dir():
            return "folder", d / split
        for base in (d, d / "cifar-10-batches-bin"):
            paths = [base / f for f in BINARY_FILES[split]]
            if all(p.is_file() for p in paths):
                return "binary", paths
    return None


def download(dest: Path | None = None, url: str = UPSTREAM, md5: str = UPSTREAM_MD5, timeout: float = 30.0) -> Path:
    """Fetch the upstream binary archive into `dest` (default: the user cache), check its MD5, unpack it."""
    from lisq.data.registry import cache_root

    dest = dest or cache_root() / "cifar10"
    dest.mkdir(parents=True, exist_ok=True)
    archive = dest / "cifar-10-binary.tar.gz"
    tmp = archive.with_suffix(".gz.part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, open(tmp, "wb") as f:
            while chunk := resp.read(1 << 20):
                f.write(chunk)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        where = " or ".join(str(d) for d in search_dirs())
        raise LisqError(
            f"CIFAR-10 not found locally and the download failed ({exc}); put train/<class>/*, test/<class>/* "
            f"or the binary data_batch_*.bin/test_batch.bin files in {where} (or set LISQ_DATA)"
        ) from None
    digest = hashlib.md5(tmp.read_bytes()).hexdigest()
    if digest != md5:
        tmp.unlink()
        raise LisqError(f"downloaded CIFAR-10 archive has MD5 {digest}, expected {md5}; try again later")
    os.replace(tmp, archive)
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    return dest


def load_cifar10(split: str = "train", allow_download: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """(uint8 [N, 3, 32, 32], int64 [N]) of split 'train' or 'test'."""
    if split not in BINARY_FILES:
        raise LisqError(f"unknown CIFAR-10 split {split!r}; use 'train' or 'test'")
    found = locate(split)
    if found is None:
        if not allow_download:
            where = " or ".join(str(d) for d in search_dirs())
            raise LisqError(f"CIFAR-10 {split} not found; put train/<class>/*, test/<class>/* or data_batch_*.bin in {where} (or set LISQ_DATA)")
        download()
        found = locate(split)
        if found is None:
            raise LisqError("the CIFAR-10 archive unpacked without the expected files; delete ~/.cache/lisq/cifar10 and retry")
    kind, where = found
    return _read(kind, str(where) if kind == "folder" else tuple(str(p) for p in where))


@functools.lru_cache(maxsize=4)
def _read(kind: str, where) -> tuple[torch.Tensor, torch.Tensor]:
    if kind == "folder":
        return _decoded_folder(Path(where))
    return read_binary([Path(p) for p in where])


def _decoded_folder(root: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode an image-folder split once; later loads read the decoded arrays from the user cache
    (keyed by the folder's path, file count and newest modification time, so a changed folder is re-read)."""
    from lisq.data.registry import cache_root
    from lisq.models.checkpoint import atomic_write

    files = [p for p in root.rglob("*") if p.is_file()]
    stamp = f"{root.resolve()}|{len(files)}|{max((p.stat().st_mtime_ns for p in files), default=0)}"
    cached = cache_root() / "cifar10" / ".decoded" / f"{root.name}-{hashlib.sha1(stamp.encode()).hexdigest()[:16]}.npz"
    if cached.is_file():
        try:
            with np.load(cached) as data:
                return torch.from_numpy(data["images"].copy()), torch.from_numpy(data["labels"].copy())
        except (OSError, ValueError, KeyError):
            cached.unlink(missing_ok=True)
    images, labels = read_folder(root)
    try:
        atomic_write(cached, lambda tmp: np.savez(open(tmp, "wb"), images=images.numpy(), labels=labels.numpy()))
    except OSError:
        pass  # a read-only cache only costs the decoding time next run
    return images, labels


def _split(split: str):
    from lisq.data.splits import TensorSplit

    images, labels = load_cifar10(split)
    return TensorSplit("cifar10", split, images, labels)


def _register():
    from lisq.data.registry import DatasetSpec, register_dataset
    from lisq.data.spec import InputSpec

    return register_dataset(DatasetSpec(
        name="cifar10", classes=CLASSES, input=InputSpec(3, 32, MEAN, STD, 10, "cifar10"), splits=("train", "test"),
        load=_split, class_keys=CLASSES, title="CIFAR-10", description="CIFAR-10 (Krizhevsky 2009), 32x32 RGB, 50k train / 10k test",
        synth_speed="fast",  # held-out W2A4 held with it, 3 seeds (RESULTS.md, "Synthesis speed")
        # the outside ResNets, never teachers of the default school (`lisq zoo import resnet20a --dataset cifar10`)
        held_out_judges=("resnet20a.cifar10", "resnet32a.cifar10"),
    ))


SPEC = _register()
