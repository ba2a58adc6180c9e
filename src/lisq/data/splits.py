"""A real split of a dataset, whatever its storage: decoded images in memory or image files on disk.

Every consumer (evaluation, the `real` calibration subset, the `real` generator, Frechet reference
images, ONNX verification) asks a split for batches in ITS model's input convention; the split
brings the pixels there (channels, resolution by the dataset's resize/crop policy) and normalises.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from lisq.data.spec import InputSpec
from lisq.data.transforms import to_unit
from lisq.errors import LisqError

_PIL_INTERP = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC, "nearest": Image.NEAREST}


class RealSplit:
    """Labelled real images of one split; subclasses say how pixels are stored."""

    dataset: str
    split: str
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def describe(self) -> str:
        return f"{self.dataset} {self.split} ({len(self)} images)"

    def pixels(self, indices: Sequence[int] | torch.Tensor, spec: InputSpec) -> torch.Tensor:
        """Float pixels in [0, 1], [n, C, size, size] in `spec`'s channels and resolution."""
        raise NotImplementedError

    def inputs(self, indices, spec: InputSpec) -> torch.Tensor:
        """Normalised model inputs for `indices`."""
        return spec.norm.normalize(self.pixels(indices, spec))

    def batches(self, spec: InputSpec, batch_size: int = 256, limit: int | None = None) -> Iterator:
        """(normalised inputs, labels) in order, for evaluation."""
        n = len(self) if limit is None else min(limit, len(self))
        for start in range(0, n, batch_size):
            idx = torch.arange(start, min(start + batch_size, n))
            yield self.inputs(idx, spec), self.labels[idx]

    def balanced_indices(self, num_samples: int, seed: int) -> torch.Tensor:
        """`num_samples` indices with as equal a share per class as possible, seeded, in random order."""
        generator = torch.Generator().manual_seed(seed)
        classes = self.labels.unique().tolist()
        per_class = [num_samples // len(classes) + (1 if i < num_samples % len(classes) else 0) for i in range(len(classes))]
        picked = []
        for c, k in zip(classes, per_class, strict=True):
            idx = (self.labels == c).nonzero().flatten()
            picked.append(idx[torch.randperm(len(idx), generator=generator)[:k]])
        order = torch.cat(picked)
        return order[torch.randperm(len(order), generator=generator)]


class TensorSplit(RealSplit):
    """Decoded uint8 images [N, C, H, W] held in memory (Fashion-MNIST, CIFAR-10): one fixed resolution."""

    def __init__(self, dataset: str, split: str, images: torch.Tensor, labels: torch.Tensor):
        if images.ndim != 4 or images.dtype != torch.uint8 or len(images) != len(labels):
            raise LisqError(f"{dataset} {split}: images must be uint8 [N, C, H, W] with one label each")
        self.dataset, self.split, self.images, self.labels = dataset, split, images, labels.long()

    @property
    def channels(self) -> int:
        return self.images.shape[1]

    @property
    def size(self) -> int:
        return self.images.shape[-1]

    def check(self, spec: InputSpec) -> None:
        """Refuse a model whose input convention this split cannot feed without guessing."""
        if (spec.channels, spec.size) != (self.channels, self.size):
            raise LisqError(
                f"the model takes {spec.channels}x{spec.size}x{spec.size} input but {self.dataset} images are "
                f"{self.channels}x{self.size}x{self.size}; use a model of that convention or pass --input-size/--channels "
                "that match the data"
            )

    def pixels(self, indices, spec: InputSpec) -> torch.Tensor:
        self.check(spec)
        return to_unit(self.images[indices])

    def train_batches(self, spec: InputSpec, batch_size: int, seed: int, augment_pad: int, augment_flip: bool,
                      channels_last: bool = False, limit: int | None = None):
        """Shuffled, augmented training batches (random shift with zero padding + flip)."""
        from lisq.data.tensor_loader import TensorBatches

        self.check(spec)
        images, labels = self.images, self.labels
        if limit:  # a seeded, class-balanced subset (smoke tests), kept in dataset order
            idx = self.balanced_indices(limit, seed).sort().values
            images, labels = images[idx], labels[idx]
        return TensorBatches(images, labels, spec.norm, batch_size, shuffle=True, augment_pad=augment_pad,
                             augment_flip=augment_flip, seed=seed, channels_last=channels_last)

    def batches(self, spec: InputSpec, batch_size: int = 256, limit: int | None = None):
        from lisq.data.tensor_loader import TensorBatches

        self.check(spec)
        images, labels = (self.images, self.labels) if limit is None else (self.images[:limit], self.labels[:limit])
        return TensorBatches(images, labels, spec.norm, batch_size)


HOLDOUT_EVERY = 4  # FileSplit.part: one image in four calibrates, three evaluate
PARTS = ("calib", "eval")


def split_part(split: str | None) -> tuple[str | None, str | None]:
    """'val-eval' -> ('val', 'eval'); a split without a part suffix -> (split, None)."""
    if split:
        base, dash, part = split.rpartition("-")
        if dash and base and part in PARTS:
            return base, part
    return split, None


class FileSplit(RealSplit):
    """Image files on disk with labels, decoded on demand and brought to each model's resolution.

    Preprocessing (timm/torchvision evaluation style): convert to the model's channels, resize the
    short side to size / crop_pct with the model's interpolation, centre-crop size x size. Images
    already at the model's resolution are used as they are.
    """

    def __init__(self, dataset: str, split: str, samples: list[tuple[Path, int]], default_crop_pct: float | None = None):
        if not samples:
            raise LisqError(f"{dataset} {split}: no images found")
        self.dataset, self.split, self.samples = dataset, split, samples
        self.labels = torch.tensor([label for _, label in samples], dtype=torch.long)
        self.default_crop_pct = default_crop_pct

    def crop_pct(self, spec: InputSpec) -> float:
        """The model's crop_pct, else the dataset's, else 0.875 for inputs >= 112 px and 1 below."""
        if spec.crop_pct is not None:
            return spec.crop_pct
        if self.default_crop_pct is not None:
            return self.default_crop_pct
        return 0.875 if spec.size >= 112 else 1.0

    def load(self, path: Path, spec: InputSpec) -> np.ndarray:
        size = spec.size
        try:
            with Image.open(path) as im:
                im = im.convert("L" if spec.channels == 1 else "RGB")
                w, h = im.size
                if (w, h) != (size, size):
                    resize = round(size / self.crop_pct(spec))
                    scale = resize / min(w, h)
                    im = im.resize((max(size, round(w * scale)), max(size, round(h * scale))), _PIL_INTERP[spec.interpolation])
                    w, h = im.size
                    left, top = (w - size) // 2, (h - size) // 2
                    im = im.crop((left, top, left + size, top + size))
                arr = np.asarray(im, dtype=np.float32) / 255.0
        except OSError as exc:
            raise LisqError(f"cannot read image {path} ({exc}); remove or replace it") from None
        arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
        if spec.channels not in (1, 3):
            raise LisqError(f"image files give 1 or 3 channels; the model takes {spec.channels}")
        return np.ascontiguousarray(arr)

    def pixels(self, indices, spec: InputSpec) -> torch.Tensor:
        idx = indices.tolist() if torch.is_tensor(indices) else list(indices)
        return torch.from_numpy(np.stack([self.load(self.samples[i][0], spec) for i in idx]))

    def dataset_view(self, spec: InputSpec) -> torch.utils.data.Dataset:
        """A map-style Dataset of (normalised input, label) for a DataLoader with workers."""
        return _FileDataset(self, spec)

    def part(self, part: str) -> FileSplit:
        """The calibration or evaluation part of these images, by a fixed rule that needs no list of files:
        in (class, file name) order, every HOLDOUT_EVERY-th image from the first is `calib`, the rest `eval`.
        With one image per class (the 1,000-image ImageNet sample) that is classes 0, 4, 8, ... for
        calibration (250 images) and the other 750 classes for evaluation: disjoint by construction."""
        if part not in PARTS:
            raise LisqError(f"unknown part {part!r} of {self.split}; use one of {', '.join(PARTS)}")
        ordered = sorted(self.samples, key=lambda s: (s[1], s[0].name))
        keep = [s for i, s in enumerate(ordered) if (i % HOLDOUT_EVERY == 0) == (part == "calib")]
        return FileSplit(self.dataset, f"{self.split}-{part}", keep, self.default_crop_pct)

    def batches(self, spec: InputSpec, batch_size: int = 256, limit: int | None = None, workers: int = 0):
        view = self.dataset_view(spec)
        if limit is not None:
            view = torch.utils.data.Subset(view, range(min(limit, len(view))))
        return torch.utils.data.DataLoader(view, batch_size=batch_size, num_workers=workers)


class _FileDataset(torch.utils.data.Dataset):
    def __init__(self, split: FileSplit, spec: InputSpec):
        self.split, self.spec = split, spec

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, i: int):
        path, label = self.split.samples[i]
        x = torch.from_numpy(self.split.load(path, self.spec)).unsqueeze(0)
        return self.spec.norm.normalize(x).squeeze(0), label


__all__ = ["FileSplit", "RealSplit", "TensorSplit"]
