"""Calibration sets for the CLI: real (class-balanced train subset), gaussian, or an image directory."""

from __future__ import annotations

from pathlib import Path

import torch
import yaml

from lisq.data import ImageFolderDataset, get_dataset
from lisq.data.registry import DatasetSpec
from lisq.data.spec import FASHION_MNIST_SPEC, InputSpec
from lisq.errors import LisqError


def balanced_real_subset(num_samples: int, seed: int, spec: InputSpec = FASHION_MNIST_SPEC,
                         dataset: DatasetSpec | None = None) -> torch.Tensor:
    """`num_samples` normalised images of the dataset's calibration split, as equal a share per class as possible, seeded."""
    dataset = dataset or get_dataset(spec.dataset)
    split = dataset.split(dataset.calibration_split)
    return split.inputs(split.balanced_indices(num_samples, seed), spec)


def gaussian_inputs(num_samples: int, seed: int, channels: int = 1, size: int = 28) -> torch.Tensor:
    """N(0, 1) in the normalised input space (the 'no data at all' baseline)."""
    return torch.randn(num_samples, channels, size, size, generator=torch.Generator().manual_seed(seed))


def check_synthetic_dir(root: Path, spec: InputSpec) -> None:
    """Refuse a lisq synthetic set made for another label space or channel count (one line)."""
    cfg_path = root / "config.yaml"
    if not cfg_path.is_file():
        return
    synth = (yaml.safe_load(cfg_path.read_text()) or {}).get("synth") or {}
    dataset = synth.get("dataset", "fmnist")
    classes, channels = synth.get("num_classes"), synth.get("channels")
    if classes is not None and int(classes) != spec.num_classes or dataset != spec.dataset:
        raise LisqError(f"{root} holds {classes}-class {dataset} images; the model answers in {spec.num_classes} classes "
                        f"of {spec.dataset}: synthesize data for its dataset (lisq synth --dataset {spec.dataset})")
    if channels is not None and int(channels) != spec.channels:
        raise LisqError(f"{root} holds {channels}-channel images; the model takes {spec.channels} channels")


def folder_inputs(root: str | Path, num_samples: int, seed: int, spec: InputSpec = FASHION_MNIST_SPEC) -> torch.Tensor:
    """Up to `num_samples` images from root/<class>/<id>.png (a lisq synthetic set or user images), seeded.

    Images of another resolution are resized to the model's (a mixed-resolution school's canvas)."""
    check_synthetic_dir(Path(root), spec)
    dataset = ImageFolderDataset(root, spec.size, spec.channels, spec.norm)
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:num_samples]
    return torch.stack([dataset[int(i)][0] for i in sorted(order.tolist())])


def calibration_inputs(source: str, num_samples: int, seed: int, spec: InputSpec = FASHION_MNIST_SPEC,
                       dataset: DatasetSpec | None = None) -> torch.Tensor:
    """`source` = 'real' (the dataset's calibration split), 'gaussian' or a directory of class folders."""
    if num_samples < 1:
        raise LisqError(f"--num-samples must be at least 1, got {num_samples}")
    if isinstance(spec, dict):  # the QDIR-style dict of lisq <= 0.1
        spec = InputSpec.from_dict(spec)
    if source == "real":
        dataset = dataset or get_dataset(spec.dataset)
        dataset.check_model(spec)
        return balanced_real_subset(num_samples, seed, spec, dataset)
    if source == "gaussian":
        return gaussian_inputs(num_samples, seed, spec.channels, spec.size)
    path = Path(source)
    if not path.exists():
        raise LisqError(f"calibration data {source!r} is neither 'real', 'gaussian' nor an existing directory")
    if not path.is_dir():
        raise LisqError(f"calibration data {source!r} is a file; give a directory of class folders (DIR/<class>/<id>.png)")
    return folder_inputs(path, num_samples, seed, spec)
