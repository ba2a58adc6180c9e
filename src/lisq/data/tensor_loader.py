"""Batches from uint8 image tensors held in memory: normalised on the fly, optionally augmented."""

from __future__ import annotations

import torch

from lisq.data.transforms import Normalization, random_crop_flip, to_unit


class TensorBatches:
    """Iterable of (normalised float batch, labels); shuffles with its own generator when asked."""

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        norm: Normalization,
        batch_size: int = 256,
        shuffle: bool = False,
        augment_pad: int = 0,
        augment_flip: bool = False,
        seed: int = 0,
        channels_last: bool = False,
    ):
        self.images, self.labels, self.norm = images, labels, norm
        self.batch_size, self.shuffle = batch_size, shuffle
        self.augment_pad, self.augment_flip = augment_pad, augment_flip
        self.generator = torch.Generator().manual_seed(seed)
        self.channels_last = channels_last

    def __len__(self) -> int:
        return (len(self.labels) + self.batch_size - 1) // self.batch_size

    def __iter__(self):
        n = len(self.labels)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        for start in range(0, n, self.batch_size):
            idx = order[start : start + self.batch_size]
            x = to_unit(self.images[idx])
            if self.augment_pad or self.augment_flip:
                x = random_crop_flip(x, self.augment_pad, self.generator, self.augment_flip)
            x = self.norm.normalize(x)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, self.labels[idx]
