"""Atomic writer of a synthetic dataset: DIR/<class>/<id>.png, per-batch manifest shards, manifest.jsonl.

Crash safety: each PNG is written to a temp file and renamed; a batch counts as done only once its
shard DIR/.shards/batch_<b>.jsonl exists (written atomically after its PNGs). A rerun skips done
batches and regenerates the others bit for bit, so kill -9 at any moment loses and duplicates nothing.
manifest.jsonl is rebuilt from the shards, atomically, by whichever worker finishes last.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import torch
import yaml
from PIL import Image

from lisq.errors import LisqError
from lisq.models.checkpoint import atomic_write

SHARD_DIR = ".shards"
MANIFEST = "manifest.jsonl"
CONFIG = "config.yaml"


def class_dir_name(label: int, num_classes: int) -> str:
    return f"{label:0{max(2, len(str(num_classes - 1)))}d}"


def image_name(image_id: int, num_images: int) -> str:
    return f"{image_id:0{max(6, len(str(num_images - 1)))}d}.png"


def to_uint8(pixels: torch.Tensor) -> np.ndarray:
    """[N, C, H, W] pixels in [0, 1] -> uint8 [N, H, W, C] (round to nearest)."""
    arr = pixels.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8).cpu()
    return arr.permute(0, 2, 3, 1).numpy()


def write_png(path: Path, image: np.ndarray) -> None:
    mode = "L" if image.shape[-1] == 1 else "RGB"
    img = Image.fromarray(image[..., 0] if mode == "L" else image, mode=mode)
    atomic_write(path, lambda tmp: img.save(tmp, format="PNG"))


class DatasetWriter:
    """Writes one synthetic dataset directory; safe to share between workers (disjoint batches)."""

    def __init__(self, out_dir: str | Path, num_images: int, num_batches: int, num_classes: int):
        self.root = Path(out_dir)
        self.num_images, self.num_batches, self.num_classes = num_images, num_batches, num_classes
        self.shards = self.root / SHARD_DIR

    # ----------------------------------------------------------- preparing
    def check(self, config: dict, resume: bool, overwrite: bool) -> str:
        """Decide what to do with DIR before anything is written: 'fresh', 'resume' or 'overwrite'."""
        if not self.root.exists() or not any(self.root.iterdir()):
            return "fresh"
        if self.root.is_file():
            raise LisqError(f"--out {str(self.root)!r} is a file; give a directory")
        cfg_path = self.root / CONFIG
        if overwrite:
            if not cfg_path.is_file():
                raise LisqError(f"--overwrite refused: {str(self.root)!r} is not empty and has no {CONFIG} (not a lisq dataset); remove it yourself or pick another --out")
            return "overwrite"
        if not resume:
            raise LisqError(f"output directory {str(self.root)!r} is not empty; pass --resume to continue it, --overwrite to replace it, or another --out")
        if not cfg_path.is_file():
            raise LisqError(f"cannot resume {str(self.root)!r}: it has no {CONFIG}; it is not a lisq dataset (use another --out)")
        from lisq.school.config import PRESET_FIELDS, normalise_resolved
        from lisq.school.revision import describe, outdated

        old = yaml.safe_load(cfg_path.read_text()) or {}
        diff = first_difference(normalise_resolved(old), normalise_resolved(config))
        if diff is None and (changes := outdated(old)):
            raise LisqError(f"cannot resume {str(self.root)!r}: its batches were made before a change to what its settings "
                            f"yield ({describe(changes)}); use --overwrite to make it again")
        if diff is not None:
            hint = "rerun with the same settings or use --overwrite"
            if diff in {f"synth.{k}" for k in PRESET_FIELDS}:
                made = old.get("synth") or {}
                was = made.get("speed") or ("full" if not any(made.get(k) for k in PRESET_FIELDS) else None)
                if was:
                    hint = f"it was made at --speed {was}: pass --speed {was}, or use --overwrite"
            raise LisqError(f"cannot resume {str(self.root)!r}: its {CONFIG} differs at {diff!r}; {hint}")
        return "resume"

    def prepare(self, config: dict, mode: str) -> None:
        """Clear DIR on 'overwrite', then write config.yaml (rank 0 only)."""
        if mode == "overwrite":
            for child in self.root.iterdir():
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        self.root.mkdir(parents=True, exist_ok=True)
        self.shards.mkdir(exist_ok=True)
        text = yaml.safe_dump(config, sort_keys=False)
        atomic_write(self.root / CONFIG, lambda tmp: Path(tmp).write_text(text))

    # ----------------------------------------------------------- batches
    def shard_path(self, batch: int) -> Path:
        return self.shards / f"batch_{batch:06d}.jsonl"

    def batch_done(self, batch: int) -> bool:
        path = self.shard_path(batch)
        if not path.is_file():
            return False
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        return all((self.root / r["file"]).is_file() for r in rows)

    def file_for(self, image_id: int, label: int) -> str:
        return f"{class_dir_name(label, self.num_classes)}/{image_name(image_id, self.num_images)}"

    def write_batch(self, batch: int, pixels: torch.Tensor, rows: list[dict]) -> None:
        """PNGs first (each atomic), then the shard that marks the batch done."""
        images = to_uint8(pixels)
        for image, row in zip(images, rows, strict=True):
            write_png(self.root / row["file"], image)
        text = "".join(json.dumps(r, sort_keys=False) + "\n" for r in rows)
        atomic_write(self.shard_path(batch), lambda tmp: Path(tmp).write_text(text))

    # ----------------------------------------------------------- finishing
    def finalize(self) -> bool:
        """If every batch is done, rebuild manifest.jsonl from the shards and drop temp files; else False."""
        if not all(self.shard_path(b).is_file() for b in range(self.num_batches)):
            return False
        lines = []
        for b in range(self.num_batches):
            lines += [line for line in self.shard_path(b).read_text().splitlines() if line.strip()]
        if len(lines) != self.num_images:
            raise LisqError(f"{str(self.root)!r} holds {len(lines)} manifest rows for {self.num_images} images; rerun with --overwrite")
        atomic_write(self.root / MANIFEST, lambda tmp: Path(tmp).write_text("\n".join(lines) + "\n"))
        for tmp in self.root.glob("*/.*.tmp"):
            try:
                tmp.unlink()
            except FileNotFoundError:  # another worker removed it first
                pass
        return True


def strip_runtime(config: dict) -> dict:
    return {k: v for k, v in config.items() if k != "runtime"}


def first_difference(a, b, prefix: str = "") -> str | None:
    """Dotted path of the first key where two nested configs differ, or None."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(dict.fromkeys(list(a) + list(b))):
            if key not in a or key not in b:
                return f"{prefix}{key}"
            diff = first_difference(a[key], b[key], f"{prefix}{key}.")
            if diff is not None:
                return diff
        return None
    return None if a == b else prefix.rstrip(".") or "<root>"

