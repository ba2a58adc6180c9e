"""Inspecting a synthetic set (SPEC section 10): quality.json with every judge's metrics, and grid.png."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from lisq.errors import LisqError


def save_grid(pixels: torch.Tensor, labels: torch.Tensor, num_classes: int, per_class: int, path: Path, scale: int = 2,
              max_tile: int = 96, max_rows: int = 16) -> None:
    """A picture of the set: one row per class (first `per_class` images of each, in manifest order).

    Small images are upscaled `scale` times; tiles are shrunk to at most `max_tile` px a side, so a set of
    240 px ImageNet images gives a grid of a few MB, not tens. With more than `max_rows` classes present
    (ImageNet: one image for each of many classes) the first `max_rows * per_class` images in label order
    are laid out `per_class` to a row instead."""
    from lisq.models.checkpoint import atomic_write

    _, c, h, w = pixels.shape
    present = sorted(set(labels.tolist()) & set(range(num_classes)))
    if len(present) <= max_rows:
        rows = [(labels == cls).nonzero().flatten()[:per_class].tolist() for cls in present]
    else:
        order = sorted(range(len(labels)), key=lambda i: (int(labels[i]), i))[: max_rows * per_class]
        rows = [order[r : r + per_class] for r in range(0, len(order), per_class)]
    shrink = min(1.0, max_tile / (max(h, w) * scale))
    th, tw = max(1, round(h * scale * shrink)), max(1, round(w * scale * shrink))
    grid = np.full((max(len(rows), 1) * (th + 2), per_class * (tw + 2), c), 255, dtype=np.uint8)
    for r, idx in enumerate(rows):
        for j, i in enumerate(idx):
            arr = (pixels[i].permute(1, 2, 0).clamp(0, 1) * 255).round().byte().numpy()
            tile = Image.fromarray(arr[..., 0] if c == 1 else arr)
            tile = tile.resize((tw, th), Image.NEAREST if shrink == 1.0 else Image.LANCZOS)
            arr = np.asarray(tile)
            grid[r * (th + 2) + 1 : r * (th + 2) + 1 + th, j * (tw + 2) + 1 : j * (tw + 2) + 1 + tw] = arr[..., None] if c == 1 else arr
    image = Image.fromarray(grid[..., 0] if c == 1 else grid)
    atomic_write(path, lambda tmp: image.save(tmp, format="PNG", optimize=True))


# Judge outputs on the real reference images, per process: a bench inspects many synthetic sets against the
# same real images (750 ImageNet images through EfficientNet-Lite2 take minutes on one CPU thread).
REAL_OUTPUTS: dict[tuple, dict] = {}


class _LazyPixels:
    """The real reference images, read once and only if some judge's outputs on them are not cached."""

    def __init__(self, source, n: int, canvas):
        self.source, self.n, self.canvas, self.pixels = source, n, canvas, None

    def get(self):
        if self.pixels is None:
            self.pixels = self.source.pixels(range(self.n), self.canvas)
        return self.pixels


def inspect_dataset(root: str | Path, judges: list[str] | None = None, real_limit: int = 10000, per_class: int = 8,
                    limit: int | None = None, dataset: str | None = None, val: str | None = None) -> dict:
    """SPEC section 10 quality of a synthetic set: quality.json (+ grid.png) in the set's directory.

    Judges default to the dataset's held-out models; the Frechet reference is the dataset's real
    evaluation split (or `val`), at the set's resolution."""
    from lisq.data import SyntheticDataset, get_dataset
    from lisq.metrics.quality import judge_from_reference, judge_outputs, judge_report
    from lisq.models.checkpoint import atomic_write

    root = Path(root)
    data = SyntheticDataset(root)
    made_for = data.config.get("synth", {}).get("dataset", "fmnist")
    if dataset is not None and get_dataset(dataset).name != made_for:
        raise LisqError(f"{root} was synthesized for {made_for}, not {dataset}; drop --dataset or pass --dataset {made_for}")
    ds = get_dataset(made_for)
    judges = list(judges) if judges else list(ds.held_out_judges)
    if not judges:
        raise LisqError(f"{ds.name} has no default judges; give --judges MODEL[,MODEL...]")
    pixels, labels = data.pixels(), data.labels
    if limit:
        pixels, labels = pixels[:limit], labels[:limit]
    real, key = None, None
    if real_limit:
        from lisq.data.registry import evaluation_source

        source = evaluation_source(ds, None, val)
        n = min(real_limit, len(source))
        canvas = data.canvas
        key = (ds.name, str(val), source.split, n, canvas)
        real = (_LazyPixels(source, n, canvas), source.labels[:n])
    teachers = _school_teachers(data.config)
    report = {"dir": str(root), "n": len(labels), "generator": data.config.get("synth", {}).get("generator"),
              "dataset": ds.name, "judges": {}}
    for ref in judges:
        judge = judge_from_reference(ref, dataset=ds.name)
        ds.check_model(judge.spec, f"judge {ref!r}")
        reference = None
        if real is not None:
            if (ref, key) not in REAL_OUTPUTS:
                REAL_OUTPUTS[(ref, key)] = judge_outputs(judge, real[0].get())
            reference = REAL_OUTPUTS[(ref, key)]
        entry = judge_report(judge, pixels, labels, real, reference=reference)
        entry["in_school"] = ref in teachers
        report["judges"][ref] = entry
    name = "quality.json" if not limit else f"quality_first{limit}.json"
    atomic_write(root / name, lambda tmp: Path(tmp).write_text(json.dumps(report, indent=2) + "\n"))
    save_grid(pixels, labels, data.num_classes, per_class, root / "grid.png")
    return report


def _school_teachers(config: dict) -> set[str]:
    names = set()

    def walk(node):
        if isinstance(node, dict):
            if "model" in node and "name" in node:
                names.add(node["name"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(config.get("school"))
    return names
