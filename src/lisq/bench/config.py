"""The benchmark recipe: generators x students x settings x seeds, read from YAML."""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from lisq.errors import LisqError


@dataclass(frozen=True)
class GeneratorSpec:
    name: str
    label: str = ""  # column/row name in the tables; defaults to name (+ sampler)
    teachers: tuple[str, ...] = ()  # empty: the generator's default (school or best teacher)
    school: str | None = None
    sampler: str | None = None
    synth: tuple = ()  # SynthConfig fields for this generator only, as sorted (key, value) pairs: {k: 4} in YAML
    num_images: int | None = None  # this generator's dataset size and calibration set (default: the recipe's)

    @property
    def key(self) -> str:
        return self.label or (self.name if not self.sampler else f"{self.name}-{self.sampler}")

    @property
    def synth_fields(self) -> dict:
        return dict(self.synth)

    @property
    def synthetic(self) -> bool:
        return self.name not in ("gaussian", "real")


@dataclass(frozen=True)
class Setting:
    method: str
    w_bits: int
    a_bits: int
    iters: int | None = None
    headline: bool = False

    @property
    def key(self) -> str:
        return f"{self.method}-W{self.w_bits}A{self.a_bits}"


@dataclass(frozen=True)
class Student:
    name: str
    held_out: bool


@dataclass(frozen=True)
class BenchConfig:
    name: str
    out: str
    generators: tuple[GeneratorSpec, ...]
    students: tuple[Student, ...]
    settings: tuple[Setting, ...]
    seeds: tuple[int, ...] = (0, 1, 2)
    num_images: int = 1024
    synth: dict = field(default_factory=dict)  # SynthConfig fields for every synthesis: iters, batch_size, lr
    dataset: str = "fmnist"  # label space and real data of every student, cell and synthesis
    judges: tuple[str, ...] = ()
    quant: dict = field(default_factory=dict)  # QuantConfig fields for every `lisq quantize` (--config)
    data_dir: str | None = None  # where synthesized datasets live (default OUT/data); recipes may share one

    def to_dict(self) -> dict:
        return asdict(self)


TOP_KEYS = {"name", "out", "generators", "students", "settings", "seeds", "num_images", "synth", "judges", "quant",
            "data_dir", "quick", "dataset"}


def _build(raw: dict, source: str) -> BenchConfig:
    unknown = set(raw) - TOP_KEYS
    if unknown:
        raise LisqError(f"{source}: unknown keys {sorted(unknown)}; allowed: {sorted(TOP_KEYS)}")
    try:
        gens = tuple(
            GeneratorSpec(**{**g, "teachers": tuple(g.get("teachers", ())), "synth": tuple(sorted(dict(g.get("synth") or {}).items()))})
            for g in raw["generators"]
        )
        students = tuple(Student(**s) for s in raw["students"])
        settings = tuple(Setting(**s) for s in raw["settings"])
    except (KeyError, TypeError) as exc:
        raise LisqError(f"{source}: malformed generators/students/settings ({exc}); see configs/fmnist.yaml") from None
    from lisq.quant.methods import method_names
    from lisq.school.config import GENERATORS

    for g in gens:
        if g.name not in GENERATORS:
            raise LisqError(f"{source}: unknown generator {g.name!r}; choose from {', '.join(GENERATORS)}")
    methods = method_names()
    for s in settings:
        if s.method not in methods or not (2 <= s.w_bits <= 8 and 2 <= s.a_bits <= 8):
            raise LisqError(f"{source}: bad setting {s}; methods {', '.join(methods)}, bits 2-8")
    from lisq.data import get_dataset
    from lisq.school.config import SynthConfig

    dataset = get_dataset(raw.get("dataset")).name
    for g in gens:  # every synthesis setting must be a SynthConfig field (one line otherwise)
        SynthConfig.from_dict({**dict(raw.get("synth", {})), **g.synth_fields}, source=f"{source}: generator {g.key}")
    keys = [g.key for g in gens]
    if len(set(keys)) != len(keys):
        raise LisqError(f"{source}: two generators share the label {keys}; give each a distinct `label`")
    return BenchConfig(
        name=raw.get("name", Path(source).stem), out=raw.get("out", f"results/{Path(source).stem}"),
        generators=gens, students=students, settings=settings,
        seeds=tuple(raw.get("seeds", (0, 1, 2))), num_images=int(raw.get("num_images", 1024)),
        synth=dict(raw.get("synth", {})), judges=tuple(raw.get("judges", ())), quant=dict(raw.get("quant", {})),
        data_dir=raw.get("data_dir"), dataset=dataset,
    )


def load_bench_config(path: str | Path, quick: bool = False) -> BenchConfig:
    """Read a bench YAML; with `quick`, its `quick:` mapping overrides top-level keys."""
    path = Path(path)
    if not path.is_file():
        raise LisqError(f"bench config {str(path)!r} does not exist; see configs/fmnist.yaml")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise LisqError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise LisqError(f"{path}: expected a mapping at the top level")
    raw = copy.deepcopy(raw)
    overrides = raw.pop("quick", {}) or {}
    if quick:
        raw.update(overrides)
    return _build(raw, str(path))
