"""Which teachers a synthesis uses and what the images look like (the canvas), before any weight loads."""

from __future__ import annotations

from dataclasses import replace

from lisq.errors import LisqError
from lisq.school.config import SynthConfig
from lisq.school.courses import School, default_school, load_school, school_from_modules, school_from_names


def resolve_school(cfg: SynthConfig, teachers=None, school=None, add_teachers=None) -> School | None:
    """The school for a config: explicit school, --teachers, or the dataset's defaults; `add_teachers` (names,
    nn.Modules or TeacherSpecs) join it in every schedule."""
    preset = cfg.preset
    if not preset.uses_teachers:
        if teachers or school or add_teachers:
            raise LisqError(f"generator {cfg.generator!r} uses no teachers; drop --teachers/--school/--add-teachers")
        return None
    if school is not None:
        result = school if isinstance(school, School) else load_school(school, cfg.dataset)
    elif teachers:
        if isinstance(teachers, str):
            teachers = [t.strip() for t in teachers.split(",") if t.strip()]
        if all(isinstance(t, str) for t in teachers):
            result = school_from_names(list(teachers), cfg.dataset)
        else:
            result = school_from_modules(list(teachers), dataset=cfg.dataset)
    elif preset.multi_teacher:
        result = default_school(cfg.dataset)
    else:
        result = school_from_names([best_teacher(default_school(cfg.dataset))], cfg.dataset)
    if cfg.dataset is not None and result.dataset != cfg.dataset:
        raise LisqError(f"the teachers answer in the label space of {result.dataset!r} but the synthesis is for "
                        f"{cfg.dataset!r}; pass --dataset {result.dataset} or teachers of {cfg.dataset}")
    if not preset.multi_teacher and len(result.teachers) > 1 and cfg.teacher is None:
        raise LisqError(
            f"{cfg.generator} inverts one teacher but {len(result.teachers)} were given "
            f"({', '.join(result.names())}); pass one with --teachers, or --teacher NAME to pick one"
        )
    if add_teachers:
        if isinstance(add_teachers, str):
            add_teachers = [t.strip() for t in add_teachers.split(",") if t.strip()]
        extra = school_from_modules(list(add_teachers), dataset=cfg.dataset or result.dataset,
                                    start=len(result.teachers)).teachers
        result = result.with_always(extra)
    return result


def best_teacher(school: School) -> str:
    """The school's teacher with the highest shipped test top-1 (the model-specific baseline's teacher)."""
    from lisq.models import pretrained_record

    scored = [((pretrained_record(t.model, t.dataset) or {}).get("test_top1", 0.0), t.name) for t in school.teachers]
    return max(scored)[1]


def resolve_canvas(cfg: SynthConfig, school: School | None) -> SynthConfig:
    """Fill the output image size, channels, normalisation and class count from the school or the dataset."""
    from lisq.data import get_dataset

    fill = {}
    if school is not None:
        first = school.teachers[0]
        if cfg.num_classes is not None and cfg.num_classes != school.num_classes:
            raise LisqError(f"--num-classes {cfg.num_classes} but the teachers have {school.num_classes} classes")
        fill["num_classes"] = school.num_classes
        fill["image_size"] = cfg.image_size or max(t.input_size for t in school.teachers)
        fill["channels"] = cfg.channels or max(t.channels for t in school.teachers)
        same = [t for t in school.teachers if t.channels == fill["channels"]] or [first]
        fill["mean"] = cfg.mean or tuple(same[0].mean)
        fill["std"] = cfg.std or tuple(same[0].std)
    else:
        ds = get_dataset(cfg.dataset or "fmnist")
        base = ds.input
        if base is None and not (cfg.image_size and cfg.channels and cfg.mean and cfg.std):
            raise LisqError(f"{ds.name} has no input convention of its own; give --image-size, --channels, --mean and --std")
        fill["num_classes"] = cfg.num_classes or ds.num_classes
        fill["image_size"] = cfg.image_size or base.size
        fill["channels"] = cfg.channels or base.channels
        fill["mean"] = cfg.mean or base.mean
        fill["std"] = cfg.std or base.std
    if len(fill["mean"]) != fill["channels"] or len(fill["std"]) != fill["channels"]:
        raise LisqError(f"output normalisation has {len(fill['mean'])} channels for {fill['channels']}-channel images")
    fill["dataset"] = cfg.dataset or (school.dataset if school is not None else "fmnist")
    return replace(cfg, **fill)
