"""Labelled images in folders: a user's `folder:PATH` dataset and the --val DIR of any dataset."""

from __future__ import annotations

from pathlib import Path

from lisq.data.image_folder import IMAGE_SUFFIXES, find_classes
from lisq.errors import LisqError


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def folder_samples(root: Path, class_keys: tuple[str, ...] = (), class_index=None, dataset: str = "") -> list[tuple[Path, int]]:
    """(path, label) of root/<class>/<image>, or of a flat root/<key>_<anything>.<ext>.

    Class folders map to the dataset's `class_keys` when it has them (CIFAR-10 names, ImageNet wnids),
    so a val folder holding a subset of the classes keeps the dataset's indices; otherwise to sorted
    folder names (torchvision's ImageFolder) or an explicit JSON class index.
    """
    if not root.is_dir():
        raise LisqError(f"image folder {str(root)!r} does not exist; give a directory of class folders or of <class>_<name> files")
    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    key_index = {k: i for i, k in enumerate(class_keys)}
    samples: list[tuple[Path, int]] = []
    if subdirs:
        if class_index is not None or not key_index:
            mapping = find_classes(root, class_index)
        else:
            unknown = [d.name for d in subdirs if d.name not in key_index]
            if unknown:
                raise LisqError(
                    f"{str(root)!r}: folder {unknown[0]!r} is not a class of {dataset} (e.g. {class_keys[0]!r}); "
                    "name the folders by class or pass --class-index"
                )
            mapping = {d.name: key_index[d.name] for d in subdirs}
        for name, idx in sorted(mapping.items(), key=lambda kv: kv[1]):
            if (root / name).is_dir():
                samples += [(p, idx) for p in _images(root / name)]
    else:
        if not key_index:
            raise LisqError(f"{str(root)!r} has no class folders; use root/<class>/<image> (classes = sorted folder names)")
        for p in sorted(q for q in root.iterdir() if q.is_file() and q.suffix.lower() in IMAGE_SUFFIXES):
            key = p.stem.split("_", 1)[0]
            if key not in key_index:
                raise LisqError(f"{p.name}: file name does not start with a class of {dataset} (<key>_<anything>, e.g. {class_keys[0]}_x.jpg)")
            samples.append((p, key_index[key]))
    if not samples:
        raise LisqError(f"no images (png/jpg) found under {str(root)!r}")
    return samples


def folder_dataset(path: str):
    """`folder:PATH`: PATH/train and PATH/test (or val) of class folders, or PATH itself as the test split."""
    from lisq.data.registry import DatasetSpec
    from lisq.data.splits import FileSplit

    root = Path(path).expanduser()
    if not path or not root.is_dir():
        raise LisqError(f"dataset folder:{path} does not exist; give folder:PATH with PATH/<class>/<image> or PATH/train, PATH/test")
    split_dirs = {s: root / s for s in ("train", "test", "val") if (root / s).is_dir()}
    if not split_dirs:
        split_dirs = {"test": root}
    first = next(iter(split_dirs.values()))
    classes = tuple(sorted(p.name for p in first.iterdir() if p.is_dir() and not p.name.startswith(".")))
    if len(classes) < 2:
        raise LisqError(f"folder:{path} needs at least two class folders under {first}")

    def load(split: str):
        return FileSplit(f"folder:{path}", split, folder_samples(split_dirs[split], classes, None, f"folder:{path}"))

    return DatasetSpec(
        name=f"folder:{path}", classes=classes, input=None, splits=tuple(split_dirs), load=load, class_keys=classes,
        description=f"your images under {root}", calibration_split="train" if "train" in split_dirs else next(iter(split_dirs)),
        evaluation_split="test" if "test" in split_dirs else ("val" if "val" in split_dirs else next(iter(split_dirs))),
    )
