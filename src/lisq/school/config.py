"""SynthConfig: every setting of one synthesis, a small dataclass that round-trips to YAML."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import yaml

from lisq.errors import LisqError
from lisq.precision import check_amp


@dataclass(frozen=True)
class GeneratorPreset:
    """What distinguishes the generators of SPEC section 8: which terms, which sampler, which labels.

    `weights`: objective-term weights that differ from the terms' registered defaults
    (lisq.school.objective), e.g. {"ce": 0.0} for a generator without labels.
    """

    uses_teachers: bool = True
    weights: dict = field(default_factory=dict)
    jitter: int = 2
    flip: bool = True
    # uniform k-subsets of the flat pool: the course tree did not pay at equal k on Fashion-MNIST (uniform +5.7 pt,
    # 1 seed) or CIFAR-10 (level, 3 seeds); RESULTS.md, "CIFAR-10 bench", samplers ablation. `--sampler
    # hierarchical` keeps the paper's course tree.
    sampler: str = "uniform"
    mix_prob: float = 0.0
    labels: str = "balanced"  # 'balanced' targets, or 'teacher': argmax of the teacher on the final image
    optimise: bool = True
    multi_teacher: bool = True

    def weight(self, term: str) -> float:
        from lisq.school.objective import TERMS

        return self.weights.get(term, TERMS[term].default)


# name -> preset; `register_generator` adds one (the CLI, the bench and SynthConfig read this dict)
GENERATORS: dict[str, GeneratorPreset] = {}


def register_generator(name: str, preset: GeneratorPreset) -> GeneratorPreset:
    if name in GENERATORS:
        raise ValueError(f"generator {name!r} is registered twice")
    GENERATORS[name] = preset
    return preset


register_generator("gaussian", GeneratorPreset(uses_teachers=False, optimise=False, multi_teacher=False))
register_generator("real", GeneratorPreset(uses_teachers=False, optimise=False, multi_teacher=False))
register_generator("zeroq", GeneratorPreset(weights={"ce": 0.0, "bn": 1.0, "tv": 0.0, "l2": 0.0}, jitter=0, flip=False,
                                            sampler="single", labels="teacher", multi_teacher=False))
register_generator("deepinversion", GeneratorPreset(sampler="single", multi_teacher=False))
register_generator("lis", GeneratorPreset())
register_generator("mixmix", GeneratorPreset(mix_prob=0.5))

# Version of the resolved-config layout written to config.yaml (`schema:`). 1: before the key existed.
# Rule that makes resume comparisons version-aware: a setting added later defaults to the behaviour
# from before it existed, so an older config is read by filling its missing fields with the defaults.
# 3: the speed preset (`speed`), after which channels_last, lowres_iters and stop_window default per dataset;
# a config of schema < 3 ran with them off.
SCHEMA_VERSION = 3

# Speed presets (issue 14; measured in RESULTS.md, "Synthesis speed"). `full` is the loop as it was before
# them: every iteration at full size, contiguous memory, all --iters. `fast` runs the teachers in
# channels_last order, the first three quarters of the iterations at half size (`lowres_scale`), and stops
# a batch once its loss plateaus (`stop_window` 20, `stop_tol`). A field set explicitly wins over the preset.
# Which preset a synthesis gets by default is its dataset's (DatasetSpec.synth_speed).
SPEEDS: dict[str, dict] = {
    "full": {"channels_last": False, "lowres_fraction": 0.0, "stop_window": 0},
    "fast": {"channels_last": True, "lowres_fraction": 0.75, "stop_window": 20},
}
# what a config of schema < 3 ran with (see normalise_resolved)
_BEFORE_SPEED = {"speed": "full", "channels_last": False, "lowres_iters": 0, "stop_window": 0}
# the fields a speed preset fills in (a resume that differs at one of them names the preset it was made at)
PRESET_FIELDS = tuple(k for k in _BEFORE_SPEED if k != "speed")


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
    dataset: str | None = None  # label space; None: the school's (explicit teachers), else Fashion-MNIST
    max_restarts: int = 5
    amp: str = "off"
    # "fast" or "full" (SPEEDS); None: the dataset's. It fills channels_last, lowres_iters and stop_window
    # where those are None.
    speed: str | None = None
    channels_last: bool | None = None
    grad_per_teacher: bool = False
    term_weights: dict | None = None  # weights of objective terms registered without a field of their own
    # Stop a batch early when its total loss has plateaued: every `stop_window` iterations, stop if the mean
    # over the last window is less than `stop_tol` (relative) below the mean over the window before it.
    # 0 = off. Depends only on that batch's own losses, so world size and resume still give the same bytes.
    stop_window: int | None = None
    stop_tol: float = 0.005
    # Multi-resolution: the first `lowres_iters` iterations optimise the canvas at `lowres_scale` of its size,
    # each teacher seeing its own input scaled alike; then the images are upsampled (bilinear) and the rest
    # run at full size with a fresh Adam state. 0 = off. `lowres_restart` gives each phase its own schedule:
    # the learning rate anneals over the low-resolution phase, then starts again at `lr` for the full-size
    # finish (and the plateau windows start again there); off, one schedule spans both phases.
    lowres_iters: int | None = None
    lowres_scale: float = 0.5
    lowres_restart: bool = False

    def __post_init__(self):
        object.__setattr__(self, "amp", check_amp(self.amp))
        if self.channels_last is not None:
            object.__setattr__(self, "channels_last", bool(self.channels_last))
        object.__setattr__(self, "grad_per_teacher", bool(self.grad_per_teacher))
        object.__setattr__(self, "lowres_restart", bool(self.lowres_restart))
        if self.speed is not None and self.speed not in SPEEDS:
            raise LisqError(f"unknown speed {self.speed!r}; choose one of {', '.join(SPEEDS)}")
        from lisq.school.courses import SAMPLERS

        if self.sampler is not None and self.sampler not in SAMPLERS:
            raise LisqError(f"unknown sampler {self.sampler!r}; choose one of {', '.join(SAMPLERS)}")
        if self.generator not in GENERATORS:
            raise LisqError(f"unknown generator {self.generator!r}; choose one of {', '.join(GENERATORS)}")
        if self.num_images < 1 or self.batch_size < 1:
            raise LisqError("--num-images and --batch-size must be positive")
        if self.iters < 0:
            raise LisqError("--iters must be >= 0")
        if (self.lowres_iters or 0) < 0 or not 0 < self.lowres_scale <= 1:
            raise LisqError("lowres_iters must be >= 0 and lowres_scale in (0, 1]")
        if self.lowres_iters and self.lowres_iters >= self.iters:
            raise LisqError(f"lowres_iters ({self.lowres_iters}) must be below iters ({self.iters}): the last iterations run at full size")
        if (self.stop_window or 0) < 0 or self.stop_tol < 0:
            raise LisqError("stop_window and stop_tol must be >= 0 (stop_window 0 turns early stopping off)")
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
        from lisq.school.objective import TERMS

        p = self.preset
        fields_ = {f.name for f in fields(self)}
        fill = {t.key: p.weight(t.name) for t in TERMS.values() if t.key in fields_ and getattr(self, t.key) is None}
        others = {t.name: (self.term_weights or {}).get(t.name, p.weight(t.name)) for t in TERMS.values() if t.key not in fields_}
        if others or self.term_weights:
            unknown = set(self.term_weights or {}) - set(others)
            if unknown:
                raise LisqError(f"term_weights: unknown objective term {sorted(unknown)[0]!r}; registered: {', '.join(TERMS)}")
            fill["term_weights"] = others
        for name in ("jitter", "flip", "sampler", "mix_prob"):
            if getattr(self, name) is None:
                fill[name] = getattr(p, name)
        return replace(self, **fill)

    def with_speed(self, default: str | None = None) -> SynthConfig:
        """Fill channels_last, lowres_iters and stop_window (where None) from the speed preset: this config's
        `speed`, else `default`, else its dataset's (`dataset_speed`). Explicit fields are kept."""
        name = self.speed or default or dataset_speed(self.dataset)
        if name not in SPEEDS:
            raise LisqError(f"unknown speed {name!r}; choose one of {', '.join(SPEEDS)}")
        preset = SPEEDS[name]
        fill = {"speed": name}
        if self.channels_last is None:
            fill["channels_last"] = preset["channels_last"]
        if self.lowres_iters is None:
            fill["lowres_iters"] = int(self.iters * preset["lowres_fraction"])
        if self.stop_window is None:
            fill["stop_window"] = preset["stop_window"]
        return replace(self, **fill)

    @property
    def canvas(self):
        """The InputSpec of the images being made (after resolve_canvas: size, channels, norm, classes, dataset)."""
        from lisq.data.spec import InputSpec

        if self.image_size is None or self.channels is None or self.mean is None or self.num_classes is None:
            raise ValueError("SynthConfig.canvas needs a resolved config (lisq.school.resolve.resolve_canvas)")
        return InputSpec(self.channels, self.image_size, self.mean, self.std, self.num_classes, self.dataset)

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


def dataset_speed(dataset: str | None) -> str:
    """The speed preset a synthesis for `dataset` gets unless it names one (`folder:` data sets: "full")."""
    from lisq.data import get_dataset

    return get_dataset(dataset or "fmnist").synth_speed


def normalise_resolved(config: dict) -> dict:
    """A dataset's resolved config (config.yaml) of any schema version, in this version's layout.

    Used to decide whether a run may resume a directory: both sides are read through the schema
    (SynthConfig and the teacher keys), so a config written before a setting existed compares equal
    to one that has the setting at its default. A config from a newer schema is refused.
    """
    version = int(config.get("schema", 1) or 1)
    if version > SCHEMA_VERSION:
        raise LisqError(f"this dataset was written by a newer lisq (config schema {version}, this lisq reads up to "
                        f"{SCHEMA_VERSION}); upgrade lisq to resume it")
    out = {k: v for k, v in config.items() if k not in ("runtime", "lisq_version", "schema", "synth_revision")}
    if isinstance(out.get("synth"), dict):
        synth = dict(out["synth"])
        if version < 2:
            synth.setdefault("dataset", "fmnist")  # schema 1 knew only Fashion-MNIST's label space
        if version < 3:
            for key, value in _BEFORE_SPEED.items():
                synth.setdefault(key, value)
        normal = SynthConfig.from_dict(synth, source="config.yaml").to_dict()
        normal.pop("speed", None)  # a name for the fields it filled: those are compared, not the name
        out["synth"] = normal
    if isinstance(out.get("school"), dict):
        out["school"] = _normalise_school(out["school"])
    return out


def _normalise_school(node):
    """Teacher entries with the keys added after schema 1 filled in (dataset: Fashion-MNIST)."""
    if isinstance(node, dict):
        node = {k: _normalise_school(v) for k, v in node.items()}
        if "model" in node and "name" in node and "input_size" in node:
            node.setdefault("dataset", "fmnist")
        return node
    if isinstance(node, list):
        return [_normalise_school(v) for v in node]
    return node
