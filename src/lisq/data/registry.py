"""Dataset registry (like timm's dataset factory): one frozen `DatasetSpec` per label space.

A spec names the classes, the input convention of lisq's own models for that label space, and
loads its real splits. Adding a dataset is one module that builds a DatasetSpec and calls
`register_dataset` (imported from lisq/data/__init__.py); `folder:PATH` is built on the fly.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lisq.data.spec import InputSpec
from lisq.data.splits import FileSplit, RealSplit
from lisq.errors import LisqError

DEFAULT_DATASET = "fmnist"


@dataclass(frozen=True)
class DatasetSpec:
    """A label space with its real data.

    `input`: the convention of lisq's own models (None for `folder:` datasets: the model says).
    `load(split)`: the real split ('train', 'test', 'val'), a RealSplit; raises LisqError with one
    line saying where to put the files when they are missing. `class_keys`: folder names (or file
    name prefixes, e.g. ImageNet wnids) that map images of a user's --val DIR to class indices.
    """

    name: str
    classes: tuple[str, ...]
    input: InputSpec | None
    splits: tuple[str, ...]
    load: Callable[[str], RealSplit] = field(repr=False, compare=False)
    class_keys: tuple[str, ...] = ()
    default_crop_pct: float | None = None
    description: str = ""
    title: str = ""  # how tables and the demo name it ("CIFAR-10 (JPEG copy)" for a local copy says so in RESULTS)
    held_out_judges: tuple[str, ...] = ()  # lisq's own models kept out of the default school, for `inspect`
    calibration_split: str = "train"  # where `--data real` and the `real` generator draw from
    evaluation_split: str = "test"  # the default of `eval` and `inspect`'s Frechet reference
    # the speed preset `lisq synth` uses by default here (lisq.school.config.SPEEDS): "fast" where it was measured
    # to hold the held-out students' accuracy (RESULTS.md, "Synthesis speed"), "full" elsewhere
    synth_speed: str = "full"

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def split(self, name: str) -> RealSplit:
        if name not in self.splits:
            raise LisqError(f"dataset {self.name!r} has no {name!r} split; it has {', '.join(self.splits) or 'none'} (or use --val DIR)")
        return self.load(name)

    def folder_split(self, root: str | Path, class_index: str | Path | None = None) -> FileSplit:
        """A user's labelled images: root/<class>/<image> or a flat root/<key>_<anything>.<ext> (ImageNet style)."""
        from lisq.data.folder import folder_samples

        samples = folder_samples(Path(root), self.class_keys, class_index, self.name)
        return FileSplit(self.name, str(root), samples, self.default_crop_pct)

    def check_model(self, spec: InputSpec, what: str = "the model") -> None:
        """Refuse a model of another label space (class count or recorded dataset) with one line."""
        if spec.num_classes != self.num_classes:
            raise LisqError(
                f"{what} has {spec.num_classes} classes but dataset {self.name!r} has {self.num_classes}; "
                "pick the dataset the model was trained for (--dataset) or --num-classes"
            )
        if spec.dataset != self.name and not self.name.startswith("folder:"):
            raise LisqError(
                f"{what} answers in the label space of {spec.dataset!r}, not {self.name!r}; pass --dataset {spec.dataset} "
                f"or use a model trained for {self.name}"
            )


_DATASETS: dict[str, DatasetSpec] = {}


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    if spec.name in _DATASETS:
        raise ValueError(f"dataset {spec.name!r} is registered twice")
    if ":" in spec.name or "." in spec.name:
        raise ValueError(f"dataset name {spec.name!r} may not contain ':' or '.'")
    _DATASETS[spec.name] = spec
    return spec


def list_datasets() -> list[str]:
    return sorted(_DATASETS)


def get_dataset(name: str | None) -> DatasetSpec:
    """A registered dataset, or `folder:PATH` (sorted class folders, PATH/train and PATH/test if present)."""
    name = name or DEFAULT_DATASET
    if name.startswith("folder:"):
        from lisq.data.folder import folder_dataset

        return folder_dataset(name.partition(":")[2])
    if name not in _DATASETS:
        raise LisqError(f"unknown dataset {name!r}; known: {', '.join(list_datasets())}, or folder:PATH for your own images")
    return _DATASETS[name]


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "lisq"


def search_dirs(name: str) -> list[Path]:
    """Where a dataset's files are looked for, in order: $LISQ_DATA/<name>, then the user cache."""
    dirs = []
    if os.environ.get("LISQ_DATA"):
        dirs.append(Path(os.environ["LISQ_DATA"]) / name)
    return dirs + [cache_root() / name]


def add_dataset_arg(parser, help_extra: str = "") -> None:
    parser.add_argument("--dataset", default=None, metavar="NAME",
                        help=f"label space and real data: {', '.join(list_datasets())} or folder:PATH "
                             f"(default {DEFAULT_DATASET}){help_extra}")


def folder_part(source, split: str | None):
    """A `--val DIR` folder, or its calib/eval part when `split` names one (e.g. val-eval)."""
    from lisq.data.splits import split_part

    part = split_part(split)[1]
    return source.part(part) if part else source


def evaluation_source(ds: DatasetSpec, split: str | None = None, val: str | Path | None = None,
                      class_index: str | None = None) -> RealSplit:
    """The real split that evaluation, `export --verify` and Frechet references read: `val` (labelled
    images; `class_index` maps their folders to classes), else `split`, else the dataset's evaluation
    split; one line when there is none here."""
    if val:
        return folder_part(ds.folder_split(val, class_index), split)
    name = split or ds.evaluation_split
    if name not in ds.splits:
        raise LisqError(f"dataset {ds.name!r} has no {name!r} split here; pass --val DIR with labelled images")
    return ds.split(name)
