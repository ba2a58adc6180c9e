"""Model references -> (nn.Module, InputSpec): every reference knows the input convention it takes.

A reference is
- a registry name `arch` or `arch.dataset` (shipped weights and their record; a bare name means the
  weights of the context dataset, Fashion-MNIST by default),
- `path/to/file.py:factory` or `package.module:factory` (the factory returns an nn.Module; its input
  convention is the dataset's unless flags say otherwise),
- `SOURCE:NAME` for a model source such as `tv:` (torchvision), `timm:` or `effnet:` (optional extras,
  imported lazily), whose convention comes from the source.
Flags (`--input-size`, `--mean`, ...) override whatever the reference says.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch.nn as nn

from lisq.data.registry import get_dataset
from lisq.data.spec import InputSpec, apply_overrides
from lisq.errors import LisqError
from lisq.models.checkpoint import load_weights
from lisq.models.registry import create_model, is_registered, pretrained_input, pretrained_path, split_name


@dataclass(frozen=True)
class ModelSource:
    """A family of outside models named `prefix:NAME`.

    `input_spec(name)` is the model's convention (size, normalisation, resize policy, classes) without
    building it; `build(name, spec, pretrained)` returns the module: with `pretrained`, the source's
    own weights from a local cache or an installed package (nothing is downloaded unless the source
    says so); without, the bare architecture with `spec.num_classes` outputs (for a QDIR or --weights).
    """

    prefix: str
    input_spec: Callable[[str], InputSpec]
    build: Callable[[str, InputSpec, bool], nn.Module]
    description: str = ""


_SOURCES: dict[str, ModelSource] = {}


def register_source(source: ModelSource) -> ModelSource:
    if source.prefix in _SOURCES:
        raise ValueError(f"model source {source.prefix!r} is registered twice")
    _SOURCES[source.prefix] = source
    return source


def list_sources() -> list[str]:
    _load_builtin_sources()
    return sorted(_SOURCES)


def _load_builtin_sources() -> None:
    from lisq.models import sources  # noqa: F401  (registers tv, timm, effnet)


def source_of(ref: str) -> ModelSource | None:
    """The ModelSource of a `prefix:NAME` reference, or None (registry names, file.py:factory, module:factory)."""
    prefix, sep, name = ref.partition(":")
    if not sep or "/" in prefix or "\\" in prefix or prefix.endswith(".py") or "." in prefix:
        return None
    _load_builtin_sources()
    return _SOURCES.get(prefix)


def is_registry_name(ref: str) -> bool:
    return ":" not in ref


def load_factory(spec: str):
    """Import the callable named by 'path/to/file.py:factory' or 'package.module:factory'."""
    target, _, attr = spec.rpartition(":")
    if not target or not attr:
        raise LisqError(f"model reference {spec!r} must be NAME, NAME.DATASET, path/to/file.py:factory, "
                        f"package.module:factory or one of {', '.join(p + ':NAME' for p in list_sources())}")
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_file():
            raise LisqError(f"model file {target!r} does not exist; check the path in {spec!r}")
        mod_name = f"lisq_user_{path.stem}_{abs(hash(str(path.resolve())))}"
        module = sys.modules.get(mod_name)
        if module is None:
            module_spec = importlib.util.spec_from_file_location(mod_name, path)
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[mod_name] = module
            try:
                module_spec.loader.exec_module(module)
            except Exception as exc:
                del sys.modules[mod_name]
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


def model_input(ref: str, weights: str | None = None, dataset: str | None = None, overrides: dict | None = None) -> InputSpec:
    """The input convention of a reference (no weights loaded), with flag `overrides` applied."""
    source = source_of(ref)
    if source is not None:
        base = source.input_spec(ref.partition(":")[2])
    elif is_registry_name(ref):
        arch, ds = split_name(ref, dataset)
        if not is_registered(arch):
            create_model(arch)  # raises the unknown-model error with the list of names
        base = pretrained_input(arch, ds)
        if base is None:
            base = _dataset_input(ds, ref)
    else:
        base = _dataset_input(dataset, ref)
    return apply_overrides(base, overrides or {})


def train_hint(arch: str, dataset: str) -> str:
    """' or run `lisq zoo import ...`' for a published checkpoint lisq knows, `lisq zoo train ...` where the dataset
    has a train split lisq can train on, else ''."""
    from lisq.models.published import CATALOGUE

    if f"{arch}.{dataset}" in CATALOGUE:
        return f" or run `lisq zoo import {arch} --dataset {dataset}` (the published checkpoint)"
    try:
        ds = get_dataset(dataset)
    except LisqError:
        return ""
    return f" or run `lisq zoo train {arch} --dataset {dataset}`" if "train" in ds.splits and ds.input is not None else ""


def reference_dataset(ref: str) -> str | None:
    """The label space a reference names by itself (`arch.cifar10`, `effnet:lite0` -> imagenet), or None
    when the context decides (a bare registry name, file.py:factory, package.module:factory)."""
    source = source_of(ref)
    if source is not None:
        return source.input_spec(ref.partition(":")[2]).dataset
    if is_registry_name(ref) and "." in ref:
        return split_name(ref)[1]
    return None


def _dataset_input(dataset: str | None, ref: str) -> InputSpec:
    ds = get_dataset(dataset)
    if ds.input is None:
        return InputSpec(3, 224, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), ds.num_classes, ds.name)  # replaced by the flags
    return ds.input


def build_model(ref: str, weights: str | None = None, spec: InputSpec | None = None, pretrained: bool = True,
                dataset: str | None = None) -> nn.Module:
    """The module of `ref` in eval mode: `weights` if given, else the reference's own pretrained weights
    (`pretrained=False`: the bare architecture, e.g. to load a QDIR's state dict)."""
    spec = spec or model_input(ref, weights, dataset)
    source = source_of(ref)
    name = ref.partition(":")[2]
    if source is not None:
        model = source.build(name, spec, pretrained and weights is None)
    elif is_registry_name(ref):
        arch, ds = split_name(ref, dataset or spec.dataset)
        if pretrained and weights is None:
            if pretrained_path(arch, ds) is None:
                raise LisqError(f"{ref!r} has no shipped weights for {ds}; pass --weights{train_hint(arch, ds)}")
            model = create_model(arch, spec.num_classes, spec.channels, pretrained=True, dataset=ds)
        else:
            model = create_model(arch, spec.num_classes, spec.channels)
    else:
        factory = load_factory(ref)
        try:
            model = factory()
        except Exception as exc:
            raise LisqError(f"factory {ref!r} raised {type(exc).__name__}: {exc}") from None
        if not isinstance(model, nn.Module):
            raise LisqError(f"factory {ref!r} returned {type(model).__name__}, not a torch.nn.Module")
    if weights is not None:
        load_weights(model, weights)
    return model.eval()


def resolve_model(ref: str, weights: str | None = None, dataset: str | None = None,
                  overrides: dict | None = None) -> tuple[nn.Module, InputSpec]:
    """(module in eval mode, its input convention) for a reference."""
    spec = model_input(ref, weights, dataset, overrides)
    return build_model(ref, weights, spec, dataset=dataset), spec
