"""Calibration sets for the CLI: real (class-balanced train subset), gaussian, or an image directory."""

from __future__ import annotations

from pathlib import Path

import torch

from lisq.data import FASHION_MNIST_NORM, ImageFolderDataset, Normalization, load_fashion_mnist
from lisq.data.transforms import to_unit
from lisq.errors import LisqError

# The Fashion-MNIST input convention every model reference takes until other datasets get flags.
FASHION_MNIST_INPUT = {"channels": 1, "size": 28, "mean": list(FASHION_MNIST_NORM.mean), "std": list(FASHION_MNIST_NORM.std)}


def balanced_real_subset(num_samples: int, seed: int, norm: Normalization = FASHION_MNIST_NORM) -> torch.Tensor:
    """`num_samples` normalised train images, as equal a share per class as possible, seeded."""
    images, labels = load_fashion_mnist("train")
    generator = torch.Generator().manual_seed(seed)
    classes = labels.unique().tolist()
    per_class = [num_samples // len(classes) + (1 if i < num_samples % len(classes) else 0) for i in range(len(classes))]
    picked = []
    for c, k in zip(classes, per_class, strict=True):
        idx = (labels == c).nonzero().flatten()
        picked.append(idx[torch.randperm(len(idx), generator=generator)[:k]])
    order = torch.cat(picked)
    order = order[torch.randperm(len(order), generator=generator)]
    return norm.normalize(to_unit(images[order]))


def gaussian_inputs(num_samples: int, seed: int, channels: int = 1, size: int = 28) -> torch.Tensor:
    """N(0, 1) in the normalised input space (the 'no data at all' baseline)."""
    return torch.randn(num_samples, channels, size, size, generator=torch.Generator().manual_seed(seed))


def folder_inputs(root: str | Path, num_samples: int, seed: int, input_spec: dict = FASHION_MNIST_INPUT) -> torch.Tensor:
    """Up to `num_samples` images from root/<class>/<id>.png (a lisq synthetic set or user images), seeded."""
    norm = Normalization(tuple(input_spec["mean"]), tuple(input_spec["std"]))
    dataset = ImageFolderDataset(root, input_spec["size"], input_spec["channels"], norm)
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:num_samples]
    return torch.stack([dataset[int(i)][0] for i in sorted(order.tolist())])


def calibration_inputs(source: str, num_samples: int, seed: int, input_spec: dict = FASHION_MNIST_INPUT) -> torch.Tensor:
    """`source` = 'real', 'gaussian' or a directory of class folders."""
    if num_samples < 1:
        raise LisqError(f"--num-samples must be at least 1, got {num_samples}")
    if source == "real":
        return balanced_real_subset(num_samples, seed)
    if source == "gaussian":
        return gaussian_inputs(num_samples, seed, input_spec["channels"], input_spec["size"])
    path = Path(source)
    if not path.exists():
        raise LisqError(f"calibration data {source!r} is neither 'real', 'gaussian' nor an existing directory")
    if not path.is_dir():
        raise LisqError(f"calibration data {source!r} is a file; give a directory of class folders (DIR/<class>/<id>.png)")
    return folder_inputs(path, num_samples, seed, input_spec)
