"""SynthConfig: every setting of one synthesis, a small dataclass that round-trips to YAML."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import yaml

from lisq.errors import LisqError
from lisq.precision import check_amp


@dataclass(frozen=True)
class GeneratorPreset:
    """What distinguishes the generators of SPEC section 8: which terms, which sampler, which labels."""

    uses_teachers: bool = True
    a_ce: float = 1.0
    a_bn: float = 10.0
    a_tv: float = 0.05
    a_l2: float = 1e-3
    jitter: int = 2
    flip: bool = True
    sampler: str = "hierarchical"
    mix_prob: float = 0.0
    labels: str = "balanced"  # 'balanced' targets, or 'teacher': argmax of the teacher on the final image
    optimise: bool = True
    multi_teacher: bool = True


GENERATORS: dict[str, GeneratorPreset] = {
    "gaussian": GeneratorPreset(uses_teachers=False, optimise=False, multi_teacher=False),
    "real": GeneratorPreset(uses_teachers=False, optimise=False, multi_teacher=False),
    "zeroq": GeneratorPreset(a_ce=0.0, a_bn=1.0, a_tv=0.0, a_l2=0.0, jitter=0, flip=False, sampler="single",
                             labels="teacher", multi_teacher=False),
    "deepinversion": GeneratorPreset(sampler="single", multi_teacher=False),
    "lis": GeneratorPreset(),
    "mixmix": GeneratorPreset(mix_prob=0.5),
}


@dataclass(frozen=True)
class SynthConfig:
    """Settings of one synthesis; None means 'the generator's default' (filled in by `resolved`).

    `amp` ("off", "bf16", "fp16": CUDA only) runs the teacher passes under autocast; the images,
    BN statistics and losses stay float32. `channels_last` runs the teachers in NHWC memory order.
    `grad_per_teacher` backpropagates through one scheduled teacher at a time (the image gradient is
    the same sum, up to float rounding): peak memory holds one teacher's graph instead of k.
    """

    generator: str = "lis"
    num_images: int = 1024
    batch_size: int = 64
    iters: int = 400
    lr: float = 0.2
    betas: tuple[float, float] = (0.5, 0.9)
    lr_schedule: str = "cosine"
    a_ce: float | None = None
    a_bn: float | None = None
    a_tv: float | None = None
    tv_norm: str = "l1"
    a_l2: float | None = None
    jitter: int | None = None
    flip: bool | None = None
    sampler: str | None = None
    k: int = 4
    resample_every: int = 0
    teacher: str | None = None
    mix_prob: float | None = None
    seed: int = 0
    image_size: int | None = None
    channels: int | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    num_classes: int | None = None
    max_restarts: int = 5
    amp: str = "off"
    channels_last: bool = False
    grad_per_teacher: bool = False

    def __post_init__(self):
        object.__setattr__(self, "amp", check_amp(self.amp))
        object.__setattr__(self, "channels_last", bool(self.channels_last))
        object.__setattr__(self, "grad_per_teacher", bool(self.grad_per_teacher))
        if self.generator not in GENERATORS:
            raise LisqError(f"unknown generator {self.generator!r}; choose one of {', '.join(GENERATORS)}")
        if self.num_images < 1 or self.batch_size < 1:
            raise LisqError("--num-images and --batch-size must be positive")
        if self.iters < 0:
            raise LisqError("--iters must be >= 0")
        if self.lr_schedule not in ("cosine", "constant"):
            raise LisqError(f"lr_schedule must be 'cosine' or 'constant', got {self.lr_schedule!r}")
        if self.tv_norm not in ("l1", "l2"):
            raise LisqError(f"tv_norm must be 'l1' or 'l2', got {self.tv_norm!r}")

    @property
    def preset(self) -> GeneratorPreset:
        return GENERATORS[self.generator]

    @property
    def num_batches(self) -> int:
        return (self.num_images + self.batch_size - 1) // self.batch_size

    def resolved(self) -> SynthConfig:
        """Fill every None loss/augmentation/sampler setting from the generator's preset."""
        p = self.preset
        fill = {}
        for name in ("a_ce", "a_bn", "a_tv", "a_l2", "jitter", "flip", "sampler", "mix_prob"):
            if getattr(self, name) is None:
                fill[name] = getattr(p, name)
        return replace(self, **fill)

    def to_dict(self) -> dict:
        d = asdict(self)
        for key in ("betas", "mean", "std"):
            if d[key] is not None:
                d[key] = list(d[key])
        return d

    @classmethod
    def from_dict(cls, data: dict, source: str = "config") -> SynthConfig:
        names = {f.name for f in fields(cls)}
        unknown = [k for k in data if k not in names]
        if unknown:
            raise LisqError(f"{source}: unknown setting {unknown[0]!r}; known: {', '.join(sorted(names))}")
        data = dict(data)
        for key in ("betas", "mean", "std"):
            if data.get(key) is not None:
                data[key] = tuple(float(v) for v in data[key])
        return cls(**data)

    @classmethod
    def from_yaml(cls, path: str | Path) -> SynthConfig:
        path = Path(path)
        if not path.is_file():
            raise LisqError(f"config file {str(path)!r} does not exist")
        data = yaml.safe_load(path.read_text()) or {}
        if not isinstance(data, dict):
            raise LisqError(f"{path}: a synthesis config must be a YAML mapping of settings")
        data.pop("school", None)
        data.pop("runtime", None)
        return cls.from_dict(data.get("synth", data), source=str(path))
