"""Name -> factory registry for lisq's own architectures, with offline pretrained weights."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch.nn as nn

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
        if key in _REGISTRY:
            raise ValueError(f"model {key!r} is registered twice")
        _REGISTRY[key] = ModelEntry(key, family, factory, description or (factory.__doc__ or "").strip())
        return factory

    return wrap


def list_models(family: str | None = None) -> list[str]:
    """Registered names, sorted; optionally only one family."""
    return sorted(n for n, e in _REGISTRY.items() if family is None or e.family == family)


def get_entry(name: str) -> ModelEntry:
    if name not in _REGISTRY:
        known = ", ".join(list_models())
        raise LisqError(f"unknown model {name!r}; known models: {known} (or use path/to/file.py:factory)")
    return _REGISTRY[name]


def weights_dir() -> Path:
    return Path(str(resources.files(WEIGHTS_PACKAGE)))


def pretrained_path(name: str) -> Path | None:
    path = weights_dir() / f"{name}.safetensors"
    return path if path.is_file() else None


def pretrained_record(name: str) -> dict | None:
    """The JSON training record shipped beside the weights (config, seed, epochs, test top-1)."""
    path = weights_dir() / f"{name}.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def create_model(
    name: str, num_classes: int = 10, in_channels: int = 1, pretrained: bool = False
) -> nn.Module:
    """Build a registered architecture; with `pretrained`, load the shipped Fashion-MNIST weights."""
    entry = get_entry(name)
    model = entry.factory(num_classes=num_classes, in_channels=in_channels)
    if pretrained:
        from lisq.models.checkpoint import load_weights

        path = pretrained_path(name)
        if path is None:
            raise LisqError(f"no pretrained weights shipped for {name!r}; train them with `lisq zoo train {name}`")
        record = pretrained_record(name) or {}
        shipped = (record.get("config", {}).get("num_classes", 10), record.get("config", {}).get("in_channels", 1))
        if (num_classes, in_channels) != tuple(shipped):
            raise LisqError(
                f"pretrained {name!r} has num_classes={shipped[0]}, in_channels={shipped[1]}; "
                f"asked for {num_classes}, {in_channels}: drop pretrained or match them"
            )
        load_weights(model, path)
    return model


def num_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
