"""User images in class folders (root/<class>/<image>.png|jpg), read with Pillow, no torchvision needed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from lisq.data.transforms import Normalization
from lisq.errors import LisqError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}


def find_classes(root: Path, class_index: str | Path | None = None) -> dict[str, int]:
    """Folder name -> class index: sorted names (as torchvision's ImageFolder), or an explicit JSON map."""
    if class_index is not None:
        try:
            mapping = json.loads(Path(class_index).read_text())
        except (OSError, ValueError) as exc:
            raise LisqError(f"cannot read class-index file {class_index} ({exc}); give a JSON object folder -> index") from None
        if not isinstance(mapping, dict) or not all(isinstance(v, int) for v in mapping.values()):
            raise LisqError(f"class-index file {class_index} must be a JSON object mapping folder names to integers")
        return mapping
    names = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    return {name: i for i, name in enumerate(names)}


class ImageFolderDataset(torch.utils.data.Dataset):
    """Images under root/<class>/ as normalised tensors of shape [channels, size, size].

    Preprocessing: resize the short side to `resize` (default: `image_size`), center-crop `image_size`.
    """

    def __init__(
        self,
        root: str | Path,
        image_size: int,
        channels: int,
        norm: Normalization,
        resize: int | None = None,
        class_index: str | Path | None = None,
    ):
        self.root = Path(root)
        if not self.root.is_dir():
            raise LisqError(f"image folder {str(self.root)!r} does not exist; give a directory of class folders")
        if channels not in (1, 3):
            raise LisqError(f"channels must be 1 or 3, got {channels}")
        if len(norm.mean) != channels or len(norm.std) != channels:
            raise LisqError(f"normalisation has {len(norm.mean)} channels but the images are read with {channels}")
        self.image_size, self.channels, self.norm = image_size, channels, norm
        self.resize = resize or image_size
        self.class_to_idx = find_classes(self.root, class_index)
        self.samples: list[tuple[Path, int]] = []
        for name, idx in sorted(self.class_to_idx.items(), key=lambda kv: kv[1]):
            folder = self.root / name
            if folder.is_dir():
                files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
                self.samples += [(p, idx) for p in files]
        if not self.samples:
            raise LisqError(f"no images (png/jpg) found under {str(self.root)!r}; expected root/<class>/<image>.png")

    def __len__(self) -> int:
        return len(self.samples)

    def load_pixels(self, path: Path) -> torch.Tensor:
        try:
            with Image.open(path) as im:
                im = im.convert("L" if self.channels == 1 else "RGB")
                w, h = im.size
                scale = self.resize / min(w, h)
                if (w, h) != (self.image_size, self.image_size):
                    im = im.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.BILINEAR)
                    w, h = im.size
                    left, top = (w - self.image_size) // 2, (h - self.image_size) // 2
                    im = im.crop((left, top, left + self.image_size, top + self.image_size))
                arr = np.asarray(im, dtype=np.float32) / 255.0
        except OSError as exc:
            raise LisqError(f"cannot read image {path} ({exc}); remove or replace it") from None
        if arr.ndim == 2:
            arr = arr[None]
        else:
            arr = arr.transpose(2, 0, 1)
        return torch.from_numpy(np.ascontiguousarray(arr))

    def __getitem__(self, i: int):
        path, label = self.samples[i]
        pixels = self.load_pixels(path)
        return self.norm.normalize(pixels.unsqueeze(0)).squeeze(0), label
