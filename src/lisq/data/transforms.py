"""Normalisation and the batch-wise augmentations used for training on tensors held in memory."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Normalization:
    """Per-channel mean/std of a model's input; `normalize` maps [0,1] pixels to model space."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def _stats(self, x: torch.Tensor):
        shape = (1, -1, 1, 1)
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(shape)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(shape)
        return mean, std

    def normalize(self, pixels: torch.Tensor) -> torch.Tensor:
        mean, std = self._stats(pixels)
        return (pixels - mean) / std

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        mean, std = self._stats(x)
        return x * std + mean

    def to_dict(self) -> dict:
        return {"mean": list(self.mean), "std": list(self.std)}


def to_unit(images_uint8: torch.Tensor) -> torch.Tensor:
    return images_uint8.float().div_(255.0)


def random_crop_flip(x: torch.Tensor, pad: int, generator: torch.Generator | None = None, flip: bool = True) -> torch.Tensor:
    """Per-sample random shift by up to `pad` pixels (zero padding) and horizontal flip."""
    n, _, h, w = x.shape
    if pad > 0:
        padded = F.pad(x, (pad, pad, pad, pad))
        dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
        dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
        rows = (dy.view(n, 1) + torch.arange(h).view(1, h)).view(n, 1, h, 1)
        cols = (dx.view(n, 1) + torch.arange(w).view(1, w)).view(n, 1, 1, w)
        idx_n = torch.arange(n).view(n, 1, 1, 1)
        idx_c = torch.arange(x.shape[1]).view(1, -1, 1, 1)
        x = padded[idx_n, idx_c, rows, cols]
    if flip:
        mask = torch.rand(n, generator=generator) < 0.5
        x = torch.where(mask.view(n, 1, 1, 1), x.flip(3), x)
    return x
