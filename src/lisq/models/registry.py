"""Name -> factory registry for lisq's own architectures, with offline pretrained weights per dataset."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch.nn as nn

from lisq.data.registry import DEFAULT_DATASET
from lisq.data.spec import InputSpec
from lisq.errors import LisqError

WEIGHTS_PACKAGE = "lisq.models.weights"


@dataclass(frozen=True)
class ModelEntry:
    name: str
    family: str
    factory: Callable[..., nn.Module]
    description: str = ""


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(family: str, name: str | None = None, description: str = ""):
    """Decorator: register `factory(num_classes, in_channels) -> nn.Module` under `name`."""

    def wrap(factory: Callable[..., nn.Module]):
        key = name or factory.__name__
        if "." in key or ":" in key:
            raise ValueError(f"model name {key!r} may not contain '.' or ':' (they separate the dataset and the source)")
        if key in _REGISTRY:
            raise ValueError(f"model {key!r} is registered twice")
        _REGISTRY[key] = ModelEntry(key, family, factory, description or (factory.__doc__ or "").strip())
        return factory

    return wrap


def list_models(family: str | None = None) -> list[str]:
    """Registered names, sorted; optionally only one family."""
    return sorted(n for n, e in _REGISTRY.items() if family is None or e.family == family)


def get_entry(name: str) -> ModelEntry:
    name = split_name(name)[0]
    if name not in _REGISTRY:
        known = ", ".join(list_models())
        raise LisqError(f"unknown model {name!r}; known models: {known} (or use path/to/file.py:factory)")
    return _REGISTRY[name]


def weights_dir() -> Path:
    """Where `lisq zoo train` and `lisq zoo import` write by default: $LISQ_WEIGHTS, else ~/.cache/lisq/weights."""
    if os.environ.get("LISQ_WEIGHTS"):
        return Path(os.environ["LISQ_WEIGHTS"])
    from lisq.data.registry import cache_root

    return cache_root() / "weights"


def package_weights_dir() -> Path:
    return Path(str(resources.files(WEIGHTS_PACKAGE)))


def weights_dirs() -> list[Path]:
    """Where `arch.dataset` weights are looked up, in order: your own ($LISQ_WEIGHTS, else the user cache), the package."""
    return [weights_dir(), package_weights_dir()]


def _weights_file(arch: str, dataset: str, suffix: str) -> Path | None:
    for d in weights_dirs():
        path = d / f"{weights_name(arch, dataset)}{suffix}"
        if path.is_file():
            return path
    return None


def weights_name(arch: str, dataset: str) -> str:
    """File stem of shipped weights, timm-style `arch.dataset` (e.g. resnet20.cifar10)."""
    return f"{arch}.{dataset}"


def split_name(name: str, dataset: str | None = None) -> tuple[str, str]:
    """'resnet20.cifar10' -> ('resnet20', 'cifar10'); a bare 'resnet20' takes `dataset` (default fmnist)."""
    arch, dot, suffix = name.partition(".")
    if dot and suffix:
        return arch, suffix
    return name, dataset or DEFAULT_DATASET


def is_registered(name: str) -> bool:
    """True for a registered architecture, with or without a `.dataset` suffix."""
    return split_name(name)[0] in _REGISTRY


def pretrained_path(name: str, dataset: str | None = None) -> Path | None:
    arch, ds = split_name(name, dataset)
    return _weights_file(arch, ds, ".safetensors")


def pretrained_record(name: str, dataset: str | None = None) -> dict | None:
    """The JSON training record shipped beside the weights (config, seed, epochs, test top-1, input)."""
    arch, ds = split_name(name, dataset)
    path = _weights_file(arch, ds, ".json")
    if path is None:
        return None
    return json.loads(path.read_text())


def record_input(record: dict, dataset: str) -> InputSpec:
    """The input convention of a training record (records before the `input` key were Fashion-MNIST ones)."""
    if record.get("input"):
        return InputSpec.from_dict(record["input"], default_dataset=dataset)
    norm = record.get("normalization", {})
    size = record.get("input_size", [1, 28, 28])
    return InputSpec(int(size[0]), int(size[-1]), tuple(norm.get("mean", (0.2860,))), tuple(norm.get("std", (0.3530,))),
                     int(record.get("config", {}).get("num_classes", 10)), record.get("dataset", dataset))


def pretrained_input(name: str, dataset: str | None = None) -> InputSpec | None:
    arch, ds = split_name(name, dataset)
    record = pretrained_record(arch, ds)
    return None if record is None else record_input(record, ds)


def list_pretrained(dataset: str | None = None) -> list[str]:
    """`arch.dataset` names of every shipped weight file (optionally of one dataset), sorted."""
    names = set()
    for d in weights_dirs():
        for path in d.glob("*.safetensors"):
            arch, _, ds = path.stem.partition(".")
            if arch in _REGISTRY and ds and (dataset is None or ds == dataset):
                names.add(path.stem)
    return sorted(names)


def create_model(
    name: str, num_classes: int | None = None, in_channels: int | None = None, pretrained: bool = False,
    dataset: str | None = None,
) -> nn.Module:
    """Build a registered architecture; with `pretrained`, load the shipped weights of `name`'s dataset.

    `name` is `arch` or `arch.dataset`; a bare name with pretrained weights means `dataset`
    (default Fashion-MNIST). Class and channel counts default to the weights' (else 10 and 1).
    """
    arch, ds = split_name(name, dataset)
    entry = get_entry(arch)
    spec = pretrained_input(arch, ds) if pretrained else None
    if pretrained and spec is None:
        raise LisqError(f"no pretrained weights shipped for {arch!r} on {ds}; train them with `lisq zoo train {arch} --dataset {ds}`")
    nc = num_classes if num_classes is not None else (spec.num_classes if spec else 10)
    ch = in_channels if in_channels is not None else (spec.channels if spec else 1)
    model = entry.factory(num_classes=nc, in_channels=ch)
    if pretrained:
        from lisq.models.checkpoint import load_weights

        if (nc, ch) != (spec.num_classes, spec.channels):
            raise LisqError(
                f"pretrained {arch}.{ds} has num_classes={spec.num_classes}, in_channels={spec.channels}; "
                f"asked for {nc}, {ch}: drop pretrained or match them"
            )
        load_weights(model, pretrained_path(arch, ds))
    return model


def num_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
