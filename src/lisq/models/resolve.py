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

HUB_PREFIXES = ("tv", "timm")


def is_registry_name(spec: str) -> bool:
    return ":" not in spec


def build_hub_model(spec: str, num_classes: int) -> nn.Module:
    """'tv:NAME' (torchvision) or 'timm:NAME' with pretrained weights from the local cache only.

    torchvision/timm are an optional extra (`pip install lisq[zoo]`), imported here, lazily.
    Weights must already be in the torch/HF cache (or pass --weights); nothing is downloaded
    unless LISQ_ALLOW_DOWNLOAD=1.
    """
    import os

    hub, _, name = spec.partition(":")
    allow_download = os.environ.get("LISQ_ALLOW_DOWNLOAD") == "1"
    try:
        if hub == "tv":
            import torchvision.models as tvm

            if not allow_download:
                os.environ.setdefault("TORCH_HUB_OFFLINE", "1")
            return tvm.get_model(name, weights="DEFAULT", num_classes=num_classes)
        import timm

        if not allow_download:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
        return timm.create_model(name, pretrained=True, num_classes=num_classes)
    except ImportError as exc:
        raise LisqError(f"{spec!r} needs the optional extra: pip install 'lisq[zoo]' ({exc})") from None
    except (OSError, RuntimeError, ValueError, KeyError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise LisqError(
            f"cannot build {spec!r} with pretrained weights ({first}); put the weights in the torch/HF cache, "
            "pass --weights FILE, or set LISQ_ALLOW_DOWNLOAD=1 where the network allows"
        ) from None


def load_factory(spec: str):
    """Import the callable named by 'path/to/file.py:factory' or 'package.module:factory'."""
    target, _, attr = spec.rpartition(":")
    if not target or not attr:
        raise LisqError(f"model reference {spec!r} must be NAME, path/to/file.py:factory, package.module:factory, tv:NAME or timm:NAME")
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
    hub = spec.partition(":")[0]
    if hub in HUB_PREFIXES and weights is None:
        return build_hub_model(spec, num_classes).eval()
    if is_registry_name(spec):
        if spec not in _REGISTRY:
            create_model(spec)  # raises the unknown-model error with the list of names
        if weights is None:
            if pretrained_path(spec) is None:
                raise LisqError(f"{spec!r} has no shipped weights; pass --weights or run `lisq zoo train {spec}`")
            return create_model(spec, num_classes, in_channels, pretrained=True).eval()
        model = create_model(spec, num_classes, in_channels)
    elif hub in HUB_PREFIXES:
        model = _hub_architecture(spec, num_classes)
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


def _hub_architecture(spec: str, num_classes: int) -> nn.Module:
    """The architecture alone (random init), for loading user weights into a torchvision/timm model."""
    hub, _, name = spec.partition(":")
    try:
        if hub == "tv":
            import torchvision.models as tvm

            return tvm.get_model(name, weights=None, num_classes=num_classes)
        import timm

        return timm.create_model(name, pretrained=False, num_classes=num_classes)
    except ImportError as exc:
        raise LisqError(f"{spec!r} needs the optional extra: pip install 'lisq[zoo]' ({exc})") from None
    except (RuntimeError, ValueError, KeyError) as exc:
        raise LisqError(f"unknown {hub} model {name!r} ({str(exc)[:120]})") from None
