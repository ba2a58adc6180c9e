"""Turn a model reference (registry name, path/to/file.py:factory, package.module:factory) into a module."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

import torch.nn as nn

from lisq.errors import LisqError
from lisq.models.checkpoint import load_weights
from lisq.models.registry import _REGISTRY, create_model, pretrained_path


def is_registry_name(spec: str) -> bool:
    return ":" not in spec


def load_factory(spec: str):
    """Import the callable named by 'path/to/file.py:factory' or 'package.module:factory'."""
    target, _, attr = spec.rpartition(":")
    if not target or not attr:
        raise LisqError(f"model reference {spec!r} must be NAME, path/to/file.py:factory or package.module:factory")
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_file():
            raise LisqError(f"model file {target!r} does not exist; check the path in {spec!r}")
        mod_name = f"lisq_user_{path.stem}_{abs(hash(str(path.resolve())))}"
        module_spec = importlib.util.spec_from_file_location(mod_name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[mod_name] = module
        try:
            module_spec.loader.exec_module(module)
        except Exception as exc:
            raise LisqError(f"importing {target!r} failed: {type(exc).__name__}: {exc}") from None
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise LisqError(f"cannot import module {target!r} ({exc}); check the name and PYTHONPATH") from None
    factory = getattr(module, attr, None)
    if factory is None or not callable(factory):
        raise LisqError(f"{target!r} has no callable {attr!r}; name a function that returns an nn.Module")
    return factory


def build_model(spec: str, weights: str | None = None, num_classes: int = 10, in_channels: int = 1) -> nn.Module:
    """Build the model named by `spec` and load `weights`; registry names default to shipped weights."""
    if is_registry_name(spec):
        if spec not in _REGISTRY:
            create_model(spec)  # raises the unknown-model error with the list of names
        if weights is None:
            if pretrained_path(spec) is None:
                raise LisqError(f"{spec!r} has no shipped weights; pass --weights or run `lisq zoo train {spec}`")
            return create_model(spec, num_classes, in_channels, pretrained=True).eval()
        model = create_model(spec, num_classes, in_channels)
    else:
        factory = load_factory(spec)
        try:
            model = factory()
        except Exception as exc:
            raise LisqError(f"factory {spec!r} raised {type(exc).__name__}: {exc}") from None
        if not isinstance(model, nn.Module):
            raise LisqError(f"factory {spec!r} returned {type(model).__name__}, not a torch.nn.Module")
    if weights is not None:
        load_weights(model, weights)
    return model.eval()
