"""A teacher: a model reference (or an nn.Module) plus what its input must look like."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from lisq.data.transforms import Normalization
from lisq.errors import LisqError
from lisq.precision import channels_last_input, to_channels_last
from lisq.school.hooks import BNStatsRecorder

FASHION_MNIST_MEAN = (0.2860,)
FASHION_MNIST_STD = (0.3530,)

TEACHER_KEYS = ("name", "model", "weights", "input_size", "channels", "mean", "std", "num_classes", "weight")


@dataclass
class TeacherSpec:
    """What the school needs to know about one teacher; round-trips to a YAML mapping.

    `model` is a registry name, `path/to/file.py:factory` or `package.module:factory`;
    `weights` a safetensors/state-dict file (registry names default to the shipped weights).
    `module` holds an already built nn.Module (Python API); it is never written to YAML.
    """

    name: str
    model: str = ""
    weights: str | None = None
    input_size: int = 28
    channels: int = 1
    mean: tuple[float, ...] = FASHION_MNIST_MEAN
    std: tuple[float, ...] = FASHION_MNIST_STD
    num_classes: int = 10
    weight: float = 1.0
    family: str = ""
    module: nn.Module | None = field(default=None, repr=False, compare=False)

    @property
    def norm(self) -> Normalization:
        return Normalization(tuple(self.mean), tuple(self.std))

    def to_dict(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if k != "module"} if self.module is None else {
            k: getattr(self, k) for k in TEACHER_KEYS + ("family",)
        }
        d["mean"], d["std"] = list(self.mean), list(self.std)
        if self.module is not None:
            d["model"] = f"<python {type(self.module).__name__}>"
        return d

    def build(self, device: torch.device | str = "cpu") -> nn.Module:
        """The teacher module in eval mode, frozen, on `device`."""
        if self.module is not None:
            model = self.module
        else:
            from lisq.models.resolve import build_model

            model = build_model(self.model, self.weights, self.num_classes, self.channels)
        model = model.to(device).eval()
        for p in model.parameters():
            p.requires_grad_(False)
        return model


def spec_from_registry(name: str, weight: float = 1.0) -> TeacherSpec:
    """Spec of a registered architecture with shipped weights: input size and normalisation from its record."""
    from lisq.models import get_entry, pretrained_path, pretrained_record

    entry = get_entry(name)
    if pretrained_path(name) is None:
        raise LisqError(f"teacher {name!r} has no shipped weights; give `weights:` in the school or run `lisq zoo train {name}`")
    record = pretrained_record(name) or {}
    norm = record.get("normalization", {})
    size = record.get("input_size", [1, 28, 28])
    return TeacherSpec(
        name=name, model=name, input_size=int(size[-1]), channels=int(size[0]),
        mean=tuple(norm.get("mean", FASHION_MNIST_MEAN)), std=tuple(norm.get("std", FASHION_MNIST_STD)),
        num_classes=int(record.get("config", {}).get("num_classes", 10)), weight=weight, family=entry.family,
    )


def spec_from_module(module: nn.Module, name: str | None = None, **kw) -> TeacherSpec:
    """Spec of an nn.Module passed from Python (input size/normalisation default to Fashion-MNIST)."""
    return TeacherSpec(name=name or type(module).__name__, module=module, **kw)


class Teacher:
    """A built teacher on a device: its module, BN recorder and the map from the school's canvas to its input.

    The images being optimised live on a canvas (size, channels, normalisation of the output data);
    `adapt` resizes and renormalises them to what this teacher was trained on (in NHWC order when
    `channels_last`: the module's weights are converted too).
    """

    def __init__(self, spec: TeacherSpec, canvas_size: int, canvas_channels: int, canvas_norm: Normalization,
                 device: torch.device | str = "cpu", need_bn: bool = True, channels_last: bool = False):
        self.spec = spec
        self.channels_last = channels_last
        self.model = spec.build(device)
        if channels_last:
            to_channels_last(self.model)
        self.recorder = BNStatsRecorder(self.model, spec.name) if need_bn else None
        self._check_output(device)
        self.canvas_norm, self.canvas_size, self.canvas_channels = canvas_norm, canvas_size, canvas_channels
        self.same_channels = canvas_channels == spec.channels
        self.same_norm = self.same_channels and tuple(canvas_norm.mean) == tuple(spec.mean) and tuple(canvas_norm.std) == tuple(spec.std)
        self.same_size = canvas_size == spec.input_size
        if self.same_channels:  # x_teacher = scale * x_canvas + shift, folded into one affine map
            cm, cs = torch.tensor(canvas_norm.mean), torch.tensor(canvas_norm.std)
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

    def adapt(self, x: torch.Tensor) -> torch.Tensor:
        """Map a batch from the canvas to this teacher's input: channels, resolution, normalisation."""
        if not self.same_channels:
            pixels = self.canvas_norm.denormalize(x)
            pixels = pixels.mean(1, keepdim=True) if self.spec.channels == 1 else pixels.mean(1, keepdim=True).expand(-1, self.spec.channels, -1, -1)
            x = self.spec.norm.normalize(pixels)
        elif not self.same_norm:
            x = x * self.scale + self.shift
        if not self.same_size:
            x = F.interpolate(x, size=(self.spec.input_size, self.spec.input_size), mode="bilinear", align_corners=False)
        if self.channels_last:
            x = channels_last_input(x)
        return x


def resolve_path(value: str | None, base: Path | None) -> str | None:
    """Paths in a school YAML are relative to the YAML file."""
    if value is None or base is None:
        return value
    p = Path(value)
    return str(p if p.is_absolute() else (base / p))
