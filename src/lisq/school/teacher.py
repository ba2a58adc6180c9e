"""A teacher: a model reference (or an nn.Module) plus what its input must look like."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from lisq.data.spec import InputSpec, apply_overrides
from lisq.data.transforms import Normalization
from lisq.errors import LisqError
from lisq.precision import channels_last_input, to_channels_last
from lisq.school.hooks import BNStatsRecorder

TEACHER_KEYS = ("name", "model", "weights", "input_size", "channels", "mean", "std", "num_classes", "dataset",
                "crop_pct", "weight")
# YAML key of a teacher -> InputSpec field
INPUT_KEYS = {"input_size": "size", "channels": "channels", "mean": "mean", "std": "std", "num_classes": "num_classes",
              "dataset": "dataset", "crop_pct": "crop_pct"}


@dataclass(init=False)
class TeacherSpec:
    """What the school needs to know about one teacher; round-trips to a flat YAML mapping.

    `model` is any model reference (registry name, file.py:factory, SOURCE:NAME); `weights` a
    safetensors/state-dict file (registry names default to the shipped weights). `input` is the
    teacher's input convention and label space. `module` holds an already built nn.Module (Python
    API); it is never written to YAML.
    """

    name: str
    model: str = ""
    weights: str | None = None
    input: InputSpec = field(default_factory=InputSpec)
    weight: float = 1.0
    family: str = ""
    module: nn.Module | None = field(default=None, repr=False, compare=False)

    def __init__(self, name: str, model: str = "", weights: str | None = None, input: InputSpec | None = None,
                 weight: float = 1.0, family: str = "", module: nn.Module | None = None, **convention):
        """`convention`: YAML-style keys (input_size, channels, mean, std, num_classes, dataset, crop_pct)
        overriding `input` (default: the Fashion-MNIST convention)."""
        unknown = [k for k in convention if k not in INPUT_KEYS]
        if unknown:
            raise TypeError(f"TeacherSpec got unknown keyword {unknown[0]!r}")
        self.name, self.model, self.weights, self.weight, self.family, self.module = name, model, weights, float(weight), family, module
        self.input = apply_overrides(input or InputSpec(), {INPUT_KEYS[k]: v for k, v in convention.items()})

    # the convention's fields, read through (the synthesis loop and older callers use them)
    @property
    def input_size(self) -> int:
        return self.input.size

    @property
    def channels(self) -> int:
        return self.input.channels

    @property
    def mean(self) -> tuple[float, ...]:
        return self.input.mean

    @property
    def std(self) -> tuple[float, ...]:
        return self.input.std

    @property
    def num_classes(self) -> int:
        return self.input.num_classes

    @property
    def dataset(self) -> str:
        return self.input.dataset

    @property
    def norm(self) -> Normalization:
        return self.input.norm

    def to_dict(self) -> dict:
        d = {"name": self.name, "model": self.model if self.module is None else f"<python {type(self.module).__name__}>",
             "weights": self.weights, "input_size": self.input.size, "channels": self.input.channels,
             "mean": list(self.input.mean), "std": list(self.input.std), "num_classes": self.input.num_classes,
             "weight": self.weight, "family": self.family, "dataset": self.input.dataset}
        if self.input.crop_pct is not None:
            d["crop_pct"] = self.input.crop_pct
        return d

    def build(self, device: torch.device | str = "cpu") -> nn.Module:
        """The teacher module in eval mode, frozen, on `device`."""
        if self.module is not None:
            model = self.module
        else:
            from lisq.models.resolve import build_model

            model = build_model(self.model, self.weights, self.input)
        model = model.to(device).eval()
        for p in model.parameters():
            p.requires_grad_(False)
        return model


def spec_from_reference(ref: str, weights: str | None = None, dataset: str | None = None, weight: float = 1.0,
                        overrides: dict | None = None, name: str | None = None) -> TeacherSpec:
    """Spec of any model reference; its input convention from the reference (shipped record, source, dataset)."""
    from lisq.models import get_entry, is_registered, pretrained_path, split_name
    from lisq.models.resolve import model_input

    family = ""
    if ":" not in ref:
        arch, ds = split_name(ref, dataset)
        if not is_registered(arch):
            get_entry(arch)  # raises the unknown-model error with the names
        if weights is None and pretrained_path(arch, ds) is None:
            from lisq.models.resolve import train_hint

            raise LisqError(f"teacher {ref!r} has no shipped weights for {ds}; give `weights:` in the school{train_hint(arch, ds)}")
        family = get_entry(arch).family
    spec = model_input(ref, weights, dataset, overrides)
    return TeacherSpec(name=name or ref, model=ref, weights=weights, input=spec, weight=weight, family=family)


def spec_from_registry(name: str, weight: float = 1.0, dataset: str | None = None) -> TeacherSpec:
    """Spec of a registered architecture with shipped weights (`arch` or `arch.dataset`)."""
    return spec_from_reference(name, None, dataset, weight)


def spec_from_module(module: nn.Module, name: str | None = None, input: InputSpec | None = None, **kw) -> TeacherSpec:
    """Spec of an nn.Module passed from Python; the input convention defaults to Fashion-MNIST's.

    Keyword arguments named like the YAML keys (input_size, channels, mean, std, num_classes, dataset)
    override the convention."""
    return TeacherSpec(name=name or type(module).__name__, module=module, input=input, **kw)


class Teacher:
    """A built teacher on a device: its module, BN recorder and the map from the school's canvas to its input.

    The images being optimised live on a canvas (size, channels, normalisation of the output data);
    `adapt` resizes and renormalises them to what this teacher was trained on (in NHWC order when
    `channels_last`: the module's weights are converted too).
    """

    def __init__(self, spec: TeacherSpec, canvas: InputSpec, device: torch.device | str = "cpu", need_bn: bool = True,
                 channels_last: bool = False, any_size: bool = False, low_scale: float | None = None):
        self.spec = spec
        self.channels_last = channels_last
        self.model = spec.build(device)
        if channels_last:
            to_channels_last(self.model)
        # multi-resolution synthesis: convs that pad for their build size (TF "SAME", e.g. EfficientNet-Lite's
        # Conv2dStaticSamePadding) pad for the size they actually get; at the build size nothing changes
        self.size_hooks = same_padding_at_any_size(self.model) if any_size else None
        self.recorder = BNStatsRecorder(self.model, spec.name) if need_bn else None
        self._check_output(device)
        # multi-resolution synthesis: a teacher whose head fixes its input size (a fixed-size pooling or a
        # flattening Linear) sees the low-resolution images upsampled to its own size instead of shrunk
        self.native_only = low_scale is not None and not self._takes_size(max(1, round(spec.input_size * low_scale)), device)
        if self.native_only:
            warnings.warn(f"teacher {spec.name!r} cannot take its input at {low_scale:g} of {spec.input_size} px: in the "
                          "low-resolution phase it sees the images upsampled to its own size (no speed-up from it)",
                          RuntimeWarning, stacklevel=2)
        self.canvas = canvas
        self.canvas_norm, self.canvas_size, self.canvas_channels = canvas.norm, canvas.size, canvas.channels
        self.same_channels = canvas.channels == spec.channels
        self.same_norm = self.same_channels and canvas.mean == spec.mean and canvas.std == spec.std
        self.same_size = canvas.size == spec.input_size
        if self.same_channels:  # x_teacher = scale * x_canvas + shift, folded into one affine map
            cm, cs = torch.tensor(canvas.mean), torch.tensor(canvas.std)
            tm, ts = torch.tensor(spec.mean), torch.tensor(spec.std)
            self.scale = (cs / ts).float().view(1, -1, 1, 1).to(device)
            self.shift = ((cm - tm) / ts).float().view(1, -1, 1, 1).to(device)

    @torch.no_grad()
    def _check_output(self, device) -> None:
        probe = torch.zeros(2, self.spec.channels, self.spec.input_size, self.spec.input_size, device=device)
        try:
            out = self.model(probe)
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
            raise LisqError(f"teacher {self.spec.name!r} cannot take {self.spec.channels}x{self.spec.input_size}x{self.spec.input_size} input ({first}); fix input_size/channels in the school") from None
        if out.ndim != 2 or out.shape[1] != self.spec.num_classes:
            raise LisqError(f"teacher {self.spec.name!r} outputs {tuple(out.shape[1:])} logits but the school has {self.spec.num_classes} classes; fix num_classes or the model")

    @torch.no_grad()
    def _takes_size(self, size: int, device) -> bool:
        """Whether the model gives its logits for a size x size input (run once, without the BN recorder)."""
        probe = torch.zeros(2, self.spec.channels, size, size, device=device)
        if self.channels_last:
            probe = channels_last_input(probe)
        try:
            out = self.model(probe)
        except Exception:  # noqa: BLE001 - any failure means "not at this size"; the fallback is exact
            return False
        return out.ndim == 2 and out.shape[1] == self.spec.num_classes

    def adapt(self, x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
        """Map a batch from the canvas to this teacher's input: channels, resolution, normalisation.
        `scale` < 1 (multi-resolution synthesis): the teacher's input size times scale."""
        if not self.same_channels:
            pixels = self.canvas_norm.denormalize(x)
            pixels = pixels.mean(1, keepdim=True) if self.spec.channels == 1 else pixels.mean(1, keepdim=True).expand(-1, self.spec.channels, -1, -1)
            x = self.spec.norm.normalize(pixels)
        elif not self.same_norm:
            x = x * self.scale + self.shift
        size = self.spec.input_size if scale == 1.0 or self.native_only else max(1, round(self.spec.input_size * scale))
        if x.shape[-1] != size or x.shape[-2] != size:
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        if self.channels_last:
            x = channels_last_input(x)
        return x


def same_pads(size: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int]) -> tuple:
    """(left, right, top, bottom) zero padding of TensorFlow's "SAME" for an input of `size` (h, w)."""
    pads = []
    for i, k, st, d in zip(size, kernel, stride, dilation, strict=True):
        total = max((math.ceil(i / st) - 1) * st + (k - 1) * d + 1 - i, 0)
        pads.append((total // 2, total - total // 2))
    (top, bottom), (left, right) = pads
    return left, right, top, bottom


class SamePaddingAtAnySize:
    """Forward pre-hooks that re-size the fixed `static_padding` of "SAME" convs to each input's size; `remove()`
    restores the modules as built (teachers given as nn.Modules belong to the caller)."""

    def __init__(self, convs: list[nn.Conv2d]):
        self.built = {m: m.static_padding for m in convs}
        self.handles = [m.register_forward_pre_hook(self._hook) for m in convs]

    def _hook(self, module, args):
        size = tuple(args[0].shape[-2:])
        pads = same_pads(size, module.kernel_size, module.stride, module.dilation)
        current = getattr(module.static_padding, "padding", (0, 0, 0, 0))
        if tuple(current) != pads:
            module.static_padding = nn.ZeroPad2d(pads) if any(pads) else nn.Identity()

    def remove(self) -> None:
        for h in self.handles:
            h.remove()
        for m, pad in self.built.items():
            m.static_padding = pad


def same_padding_at_any_size(model: nn.Module) -> SamePaddingAtAnySize | None:
    """Hooks for every conv of `model` that pads in forward with a build-time `static_padding`; None if none."""
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d) and isinstance(getattr(m, "static_padding", None), nn.Module)]
    return SamePaddingAtAnySize(convs) if convs else None


def resolve_path(value: str | None, base: Path | None) -> str | None:
    """Paths in a school YAML are relative to the YAML file."""
    if value is None or base is None:
        return value
    p = Path(value)
    return str(p if p.is_absolute() else (base / p))
