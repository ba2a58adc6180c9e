"""The school: a YAML tree of courses (-> sub-courses) -> teachers, and the samplers that draw schedules."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import torch.nn as nn
import yaml

from lisq.errors import LisqError
from lisq.school.teacher import (
    INPUT_KEYS,
    TEACHER_KEYS,
    TeacherSpec,
    resolve_path,
    spec_from_module,
    spec_from_reference,
)

SCHOOL_KEYS = ("name", "dataset", "defaults", "courses", "teachers", "always")
COURSE_KEYS = ("name", "weight", "courses", "teachers")
DEFAULT_KEYS = ("input_size", "channels", "mean", "std", "num_classes", "dataset", "crop_pct")


@dataclass
class Course:
    """A node of the school tree: sub-courses and teachers (indices into School.teachers)."""

    name: str
    weight: float = 1.0
    courses: list[Course] = field(default_factory=list)
    teachers: list[int] = field(default_factory=list)

    def children(self) -> list[tuple[float, Course | int]]:
        return [(c.weight, c) for c in self.courses] + [(1.0, t) for t in self.teachers]


@dataclass
class School:
    """The pool of teachers organised as a tree of courses (SPEC section 5), and the teachers `always` in every
    schedule whatever the sampler draws (outside the tree; e.g. the model about to be quantized)."""

    teachers: list[TeacherSpec]
    root: Course
    name: str = "school"
    always: list[int] = field(default_factory=list)

    @property
    def num_classes(self) -> int:
        return self.teachers[0].num_classes

    @property
    def dataset(self) -> str:
        return self.teachers[0].dataset

    def index(self, name: str) -> int:
        for i, t in enumerate(self.teachers):
            if t.name == name:
                return i
        raise LisqError(f"teacher {name!r} is not in school {self.name!r}; its teachers are {', '.join(self.names())}")

    def names(self) -> list[str]:
        return [t.name for t in self.teachers]

    def drawable(self) -> list[int]:
        """The teachers a sampler draws from: all but the `always` ones."""
        return [i for i in range(len(self.teachers)) if i not in self.always]

    def with_always(self, extra: list[TeacherSpec], source: str = "--add-teachers") -> School:
        """This school with `extra` teachers in every schedule (beside what the sampler draws)."""
        def same(t: TeacherSpec) -> tuple:  # registry names qualified: resnet20 for cifar10 is resnet20.cifar10
            from lisq.models.registry import split_name, weights_name

            model = t.model if not t.model or ":" in t.model else weights_name(*split_name(t.model, t.input.dataset))
            return (model, str(t.weights) if t.weights else None)

        for spec in extra:
            twin = next((t.name for t in self.teachers if t.name == spec.name or (spec.model and same(t) == same(spec))), None)
            if twin is not None:
                raise LisqError(f"{source}: {spec.name!r} is already a teacher of school {self.name!r} (as {twin!r}); "
                                "add a model the school lacks, or give the school file's teacher a distinct 'name:'")
        teachers = [*self.teachers, *extra]
        _validate(teachers, source)
        return School(teachers=teachers, root=self.root, name=self.name,
                      always=[*self.always, *range(len(self.teachers), len(teachers))])

    def to_dict(self) -> dict:
        def course(c: Course) -> dict:
            d: dict = {"name": c.name, "weight": c.weight}
            if c.courses:
                d["courses"] = [course(s) for s in c.courses]
            if c.teachers:
                d["teachers"] = [self.teachers[i].to_dict() for i in c.teachers]
            return d

        return {"name": self.name, "courses": [course(c) for c in self.root.courses],
                **({"teachers": [self.teachers[i].to_dict() for i in self.root.teachers]} if self.root.teachers else {}),
                **({"always": [self.teachers[i].to_dict() for i in self.always]} if self.always else {})}


# ---------------------------------------------------------------- parsing

def _check_keys(obj: dict, allowed: tuple[str, ...], where: str, source: str) -> None:
    unknown = [k for k in obj if k not in allowed]
    if unknown:
        raise LisqError(f"{source}: unknown key {unknown[0]!r} in {where}; allowed keys: {', '.join(allowed)}")


def _teacher_spec(entry, defaults: dict, base: Path | None, source: str, where: str, dataset: str | None) -> TeacherSpec:
    from lisq.models import is_registered, list_models

    if isinstance(entry, str):
        entry = {"model": entry}
    if not isinstance(entry, dict) or "model" not in entry:
        raise LisqError(f"{source}: teacher in {where} must be a model name or a mapping with a 'model' key")
    _check_keys(entry, TEACHER_KEYS, f"teacher {entry.get('model')!r} of {where}", source)
    model = str(entry["model"])
    weights = resolve_path(entry.get("weights"), base)
    if ":" not in model:
        if not is_registered(model):
            raise LisqError(f"{source}: unknown model {model!r} in {where}; known models: {', '.join(list_models())} "
                            "(or path/to/file.py:factory)")
    else:
        target = model.rpartition(":")[0]
        if target.endswith(".py"):
            target = resolve_path(target, base)
            if not Path(target).is_file():
                raise LisqError(f"{source}: model file {target!r} of {where} does not exist; fix the path (relative to the YAML file)")
            model = f"{target}:{model.rpartition(':')[2]}"
    if weights is not None and not Path(weights).is_file():
        raise LisqError(f"{source}: weights file {weights!r} of teacher {model!r} does not exist; fix the path (relative to the YAML file)")
    overrides = {}
    for key in DEFAULT_KEYS:
        if key in entry or key in defaults:
            value = entry.get(key, defaults.get(key))
            if key in ("mean", "std"):
                value = tuple(float(v) for v in value)
            elif key == "crop_pct":
                value = float(value)
            elif key != "dataset":
                value = int(value)
            overrides[INPUT_KEYS[key]] = value
    spec = spec_from_reference(model, weights, overrides.get("dataset", dataset), float(entry.get("weight", 1.0)),
                               overrides, name=str(entry.get("name", model)))
    return spec


def school_from_dict(data, source: str = "school", base: Path | None = None, dataset: str | None = None) -> School:
    """Build and validate a school from its YAML mapping (without loading any weights).

    Bare registry names mean the weights of the school's `dataset:` key, else of `dataset`
    (the caller's --dataset), else Fashion-MNIST."""
    if not isinstance(data, dict):
        raise LisqError(f"{source}: a school must be a YAML mapping with 'courses:' (and optional 'name', 'defaults')")
    _check_keys(data, SCHOOL_KEYS, "the school", source)
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise LisqError(f"{source}: 'defaults' must be a mapping")
    _check_keys(defaults, DEFAULT_KEYS, "'defaults'", source)
    teachers: list[TeacherSpec] = []
    school_dataset = data.get("dataset") or dataset
    if data.get("dataset") is not None:
        from lisq.data import get_dataset

        get_dataset(str(data["dataset"]))

    def course(node, where: str) -> Course:
        if not isinstance(node, dict):
            raise LisqError(f"{source}: {where} must be a mapping with 'name' and 'teachers' or 'courses'")
        _check_keys(node, COURSE_KEYS, where, source)
        name = str(node.get("name", where))
        c = Course(name=name, weight=float(node.get("weight", 1.0)))
        if c.weight <= 0:
            raise LisqError(f"{source}: course {name!r} has weight {c.weight}; weights must be positive")
        for i, sub in enumerate(node.get("courses") or []):
            c.courses.append(course(sub, f"course {sub.get('name', i) if isinstance(sub, dict) else i!r} of {name!r}"))
        for entry in node.get("teachers") or []:
            teachers.append(_teacher_spec(entry, defaults, base, source, f"course {name!r}", school_dataset))
            c.teachers.append(len(teachers) - 1)
        if not c.courses and not c.teachers:
            raise LisqError(f"{source}: course {name!r} has no teachers; add 'teachers:' or remove it")
        return c

    root = course({"name": data.get("name", "school"), "courses": data.get("courses"), "teachers": data.get("teachers")}, "the school")
    root.name = str(data.get("name", "school"))
    always = data.get("always") or []
    if not isinstance(always, list):
        raise LisqError(f"{source}: 'always' must be a list of teachers (in every schedule, whatever the sampler draws)")
    first = len(teachers)
    teachers += [_teacher_spec(entry, defaults, base, source, "'always'", school_dataset) for entry in always]
    _validate(teachers, source)
    return School(teachers=teachers, root=root, name=root.name, always=list(range(first, len(teachers))))


def _validate(teachers: list[TeacherSpec], source: str) -> None:
    from lisq.data import get_dataset

    spaces = {(t.dataset, t.num_classes) for t in teachers}
    if len(spaces) > 1:
        detail = ", ".join(f"{t.name}={t.dataset}/{t.num_classes} classes" for t in teachers)
        raise LisqError(f"{source}: teachers come from different label spaces ({detail}); a school needs one dataset's labels")
    for t in teachers:
        if ":" in t.dataset:
            continue
        expected = get_dataset(t.dataset).num_classes
        if t.num_classes != expected:
            raise LisqError(f"{source}: teacher {t.name!r} has {t.num_classes} classes but {t.dataset} has {expected}; "
                            "give the school its `dataset:` (or --dataset) or fix num_classes")
    names = [t.name for t in teachers]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise LisqError(f"{source}: teacher name {dup[0]!r} appears twice; give one of them a distinct 'name:'")


def load_school(path: str | Path, dataset: str | None = None) -> School:
    path = Path(path)
    if not path.is_file():
        raise LisqError(f"school file {str(path)!r} does not exist; give a YAML file (see configs/school_default.yaml)")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        first = str(exc).strip().splitlines()[0]
        raise LisqError(f"school file {str(path)!r} is not valid YAML ({first})") from None
    return school_from_dict(data, source=str(path), base=path.parent, dataset=dataset)


def default_school_path(dataset: str | None = None) -> Path:
    """The shipped school of a dataset: lisq/school/default_school.yaml (Fashion-MNIST) or default_school.<dataset>.yaml."""
    name = dataset or "fmnist"
    file = "default_school.yaml" if name == "fmnist" else f"default_school.{name}.yaml"
    path = Path(str(resources.files("lisq.school") / file))
    if not path.is_file():
        raise LisqError(f"lisq ships no default school for {name}; give --school YAML or --teachers (see configs/school_default.yaml)")
    return path


def default_school(dataset: str | None = None) -> School:
    """The shipped teachers grouped by family (Fashion-MNIST held out: mobilenetv2_050, resnet14, shufflenetv2_s)."""
    return load_school(default_school_path(dataset), dataset)


def school_from_names(names: list[str], dataset: str | None = None) -> School:
    """A school from --teachers: registry names grouped into one course per family, other references one course each."""
    from lisq.models import get_entry, is_registered, split_name

    groups: dict[str, list] = {}
    for name in names:
        if ":" in name:
            groups[name] = [name]
        else:
            family = get_entry(name).family if is_registered(name) else split_name(name)[0]
            groups.setdefault(family, []).append(name)
    data = {"name": "teachers", "courses": [{"name": fam, "teachers": ts} for fam, ts in groups.items()]}
    return school_from_dict(data, source="--teachers", dataset=dataset)


def school_from_modules(teachers: list, name: str = "python", dataset: str | None = None, start: int = 0) -> School:
    """A school of nn.Modules / TeacherSpecs passed from Python: one course per teacher.

    An nn.Module takes the convention of `dataset` (default Fashion-MNIST); wrap it in a TeacherSpec
    to give another. It is named after its class and its place (from `start`): `TinyNet_0`."""
    specs = []
    for i, t in enumerate(teachers):
        if isinstance(t, TeacherSpec):
            specs.append(t)
        elif isinstance(t, nn.Module):
            specs.append(spec_from_module(t, name=f"{type(t).__name__}_{start + i}", input=_dataset_input(dataset)))
        elif isinstance(t, str):
            specs.extend(school_from_names([t], dataset).teachers)
        else:
            raise LisqError(f"teacher {i} is a {type(t).__name__}; pass nn.Module, TeacherSpec or a model name")
    _validate(specs, "teachers")
    root = Course(name=name, courses=[Course(name=s.name, teachers=[i]) for i, s in enumerate(specs)])
    return School(teachers=specs, root=root, name=name)


def _dataset_input(dataset: str | None):
    from lisq.data import get_dataset

    return get_dataset(dataset).input


# ---------------------------------------------------------------- samplers

# name -> draw(sampler, school, rng) -> sorted teacher indices; `register_sampler` adds one from anywhere
SAMPLERS: dict = {}


def register_sampler(name: str):
    """Decorator: register `draw(sampler: CourseSampler, school: School, rng) -> list[int]` as sampler `name`."""

    def wrap(fn):
        if name in SAMPLERS:
            raise ValueError(f"sampler {name!r} is registered twice")
        SAMPLERS[name] = fn
        return fn

    return wrap


@register_sampler("all")
def _draw_all(sampler, school: School, rng) -> list[int]:
    """Every teacher, every batch (the centralised ablation)."""
    return list(range(len(school.teachers)))


@register_sampler("uniform")
def _draw_uniform(sampler, school: School, rng) -> list[int]:
    """k teachers uniformly from the flat pool."""
    pool = school.drawable()
    return sorted(pool[int(i)] for i in rng.choice(len(pool), size=min(sampler.k, len(pool)), replace=False))


@register_sampler("hierarchical")
def _draw_hierarchical(sampler, school: School, rng) -> list[int]:
    """k top-level courses by weight without replacement, then one child per course down to a teacher."""
    top = school.root.children()
    weights = np.array([w for w, _ in top], dtype=np.float64)
    picks = rng.choice(len(top), size=min(sampler.k, len(top)), replace=False, p=weights / weights.sum())
    chosen = []
    for p in picks:
        node = top[int(p)][1]
        while isinstance(node, Course):
            kids = node.children()
            w = np.array([kw for kw, _ in kids], dtype=np.float64)
            node = kids[int(rng.choice(len(kids), p=w / w.sum()))][1]
        chosen.append(int(node))
    return sorted(set(chosen))


@register_sampler("single")
def _draw_single(sampler, school: School, rng) -> list[int]:
    """The one teacher named `teacher` (default the first): the model-specific baseline."""
    return [school.index(sampler.teacher) if sampler.teacher else 0]


@dataclass(frozen=True)
class CourseSampler:
    """Draws a schedule (teacher indices) for a batch from a random stream with a registered sampler.

    all: every teacher; uniform: k teachers uniformly from the flat pool; hierarchical: k courses
    (weighted, without replacement) at the top, then one child per chosen course down to a teacher;
    single: the one teacher named `teacher` (default the first). The school's `always` teachers join every
    draw. `resample_every` = R > 0 redraws
    every R iterations inside a batch; 0 draws once per batch.
    """

    kind: str = "uniform"  # the lis/mixmix default (GeneratorPreset.sampler)
    k: int = 4
    resample_every: int = 0
    teacher: str | None = None

    def __post_init__(self):
        if self.kind not in SAMPLERS:
            raise LisqError(f"unknown sampler {self.kind!r}; choose one of {', '.join(SAMPLERS)}")
        if self.k < 1:
            raise LisqError(f"sampler k must be >= 1, got {self.k}")

    def draw(self, school: School, rng: np.random.Generator) -> list[int]:
        picks = SAMPLERS[self.kind](self, school, rng)
        return sorted(set(picks) | set(school.always)) if school.always else picks

    def schedule(self, school: School, rng: np.random.Generator, iters: int) -> list[tuple[int, list[int]]]:
        """Segments (first iteration, teachers) covering `iters` iterations of one batch."""
        if self.resample_every <= 0 or self.resample_every >= iters:
            return [(0, self.draw(school, rng))]
        return [(start, self.draw(school, rng)) for start in range(0, iters, self.resample_every)]
