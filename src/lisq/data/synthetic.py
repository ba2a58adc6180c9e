"""Reader of a synthetic dataset written by `lisq synth`: feeds any quantizer like a real dataset."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import yaml
from PIL import Image

from lisq.data.transforms import Normalization
from lisq.errors import LisqError


class SyntheticDataset(torch.utils.data.Dataset):
    """Images of DIR/manifest.jsonl as normalised tensors, with their labels (and soft labels if mixed).

    `normalisation` is the target model's input normalisation; by default the one the data was
    synthesised for (from DIR/config.yaml). `image_size` resizes (bilinear) for models of another resolution.
    """

    def __init__(self, root: str | Path, normalisation: Normalization | None = None, image_size: int | None = None):
        self.root = Path(root)
        manifest = self.root / "manifest.jsonl"
        if not manifest.is_file():
            hint = "rerun `lisq synth ... --resume` to finish it" if (self.root / "config.yaml").is_file() else "give a directory written by `lisq synth`"
            raise LisqError(f"{str(self.root)!r} has no manifest.jsonl; {hint}")
        self.rows = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
        if not self.rows:
            raise LisqError(f"{manifest} is empty; rerun `lisq synth` with --overwrite")
        self.config = {}
        if (self.root / "config.yaml").is_file():
            self.config = yaml.safe_load((self.root / "config.yaml").read_text()) or {}
        synth = self.config.get("synth", {})
        if normalisation is None:
            if synth.get("mean") is None:
                raise LisqError(f"{str(self.root)!r} has no config.yaml with the normalisation; pass normalisation=Normalization(mean, std)")
            normalisation = Normalization(tuple(synth["mean"]), tuple(synth["std"]))
        self.norm = normalisation
        self.image_size = image_size
        self.num_classes = int(synth.get("num_classes") or (max(r["label"] for r in self.rows) + 1))
        self.labels = torch.tensor([int(r["label"]) for r in self.rows], dtype=torch.long)
        soft = [r.get("soft_label") for r in self.rows]
        self.soft_labels = torch.tensor(soft, dtype=torch.float32) if all(s is not None for s in soft) else None
        self._cache: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def canvas(self):
        """The InputSpec the images were synthesized in (size, channels, normalisation, classes, dataset)."""
        from lisq.data.spec import InputSpec

        synth = self.config.get("synth", {})
        first = self._read(0)
        mean, std = tuple(synth.get("mean") or self.norm.mean), tuple(synth.get("std") or self.norm.std)
        return InputSpec(first.shape[0], first.shape[-1], mean, std, self.num_classes, synth.get("dataset", "fmnist"))

    def _read(self, i: int) -> np.ndarray:
        path = self.root / self.rows[i]["file"]
        try:
            with Image.open(path) as im:
                if self.image_size and im.size != (self.image_size, self.image_size):
                    im = im.resize((self.image_size, self.image_size), Image.BILINEAR)
                arr = np.array(im, dtype=np.uint8)
        except OSError as exc:
            raise LisqError(f"cannot read {path} ({exc}); rerun `lisq synth ... --resume` or --overwrite") from None
        return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)

    def images_uint8(self) -> torch.Tensor:
        """All images as uint8 [N, C, H, W] (read once, cached): pass to TensorBatches with `self.norm`."""
        if self._cache is None:
            self._cache = torch.from_numpy(np.stack([self._read(i) for i in range(len(self))]))
        return self._cache

    def pixels(self) -> torch.Tensor:
        """All images as float pixels in [0, 1], [N, C, H, W]."""
        return self.images_uint8().float() / 255.0

    def __getitem__(self, i: int):
        raw = self._cache[i] if self._cache is not None else torch.from_numpy(np.ascontiguousarray(self._read(i)))
        x = self.norm.normalize(raw.float().div(255.0).unsqueeze(0)).squeeze(0)
        return x, int(self.labels[i])
