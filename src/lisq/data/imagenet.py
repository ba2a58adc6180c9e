"""ImageNet-1k: 1000 classes in sorted-wnid order; real data is a validation folder you point at.

The val folder is either `val/<wnid>/*.JPEG` or a flat folder of `<wnid>_<anything>.JPEG` files
(e.g. one image per class). Preprocessing per model: short side to size / crop_pct (default
0.875), centre crop, the model's own interpolation and normalisation. No train split is needed:
`--val DIR` or $LISQ_DATA/imagenet/val (then ~/.cache/lisq/imagenet/val).
Splits: `val` (all of it), `val-calib` (one image in four, in class then file-name order: where the
`real` generator and `--data real` draw) and `val-eval` (the other three: the default evaluation),
so calibration and evaluation images are disjoint. With `--val DIR`, `--split val-eval` picks the part.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from lisq.errors import LisqError


def _classes() -> list[list[str]]:
    return json.loads((resources.files("lisq.data") / "imagenet_classes.json").read_text())


_ROWS = _classes()
WNIDS = tuple(w for w, _ in _ROWS)
CLASSES = tuple(n for _, n in _ROWS)


def find_val_dir() -> Path | None:
    from lisq.data.registry import search_dirs

    for d in search_dirs("imagenet"):
        if (d / "val").is_dir():
            return d / "val"
    return None


def _split(split: str):
    from lisq.data.registry import get_dataset
    from lisq.data.splits import split_part

    root = find_val_dir()
    if root is None:
        raise LisqError("no ImageNet val folder found; pass --val DIR (val/<wnid>/*.JPEG or flat <wnid>_*.JPEG) or put it in $LISQ_DATA/imagenet/val")
    whole = get_dataset("imagenet").folder_split(root)
    part = split_part(split)[1]
    return whole.part(part) if part else whole


def _register():
    from lisq.data.registry import DatasetSpec, register_dataset
    from lisq.data.spec import IMAGENET_SPEC

    if len(WNIDS) != 1000 or list(WNIDS) != sorted(WNIDS):
        raise RuntimeError("imagenet_classes.json must list the 1000 wnids in sorted order")
    return register_dataset(DatasetSpec(
        name="imagenet", classes=CLASSES, input=IMAGENET_SPEC, splits=("val", "val-calib", "val-eval"), load=_split, class_keys=WNIDS,
        default_crop_pct=0.875, title="ImageNet", description="ImageNet-1k (ILSVRC 2012), 1000 classes, a val folder you provide",
        # `real` calibration and evaluation never share an image: one in four calibrates (FileSplit.part)
        calibration_split="val-calib", evaluation_split="val-eval",
        # "fast" is 4.6x quicker here, but it lost 3.7 / 4.9 pt on the held-out Lite2 at W4A8 / W4A4 (seed 0,
        # configs/ablations/imagenet_lite_speed.yaml; RESULTS.md)
        synth_speed="full",
    ))


SPEC = _register()
