"""The differentiable augmentation of one batch's iterations: jitter, flip, and CutMix for MixMix.

Everything random is drawn up front from the batch's own generator, in a fixed order (shifts, flips,
then the CutMix draws), so the same batch seed gives the same augmentations on any worker.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


class AugmentPlan:
    """Per-iteration shift (+-jitter px, circular), horizontal flip and optional CutMix of one batch."""

    def __init__(self, iters: int, n: int, jitter: int, flip: bool, mix_prob: float, labels: torch.Tensor,
                 num_classes: int, gen: torch.Generator, device):
        self.shifts = torch.randint(-jitter, jitter + 1, (iters, 2), generator=gen).tolist() if jitter > 0 else None
        self.flips = (torch.rand(iters, generator=gen) < 0.5).tolist() if flip else None
        self.mixing = None
        if mix_prob > 0:
            use = (torch.rand(iters, generator=gen) < mix_prob).tolist()
            lam = torch.rand(iters, generator=gen).tolist()
            centre = torch.rand(iters, 2, generator=gen).tolist()
            perms = [torch.randperm(n, generator=gen).to(device) for _ in range(iters)]
            self.mixing = (use, lam, centre, perms)
            self.onehot = F.one_hot(labels, num_classes).float()

    def mixed(self, it: int) -> bool:
        """Whether iteration `it` is a CutMix step (other images and soft targets than the plain steps)."""
        return self.mixing is not None and bool(self.mixing[0][it])

    def apply(self, x: torch.Tensor, it: int, labels: torch.Tensor, scale: float = 1.0):
        """(augmented images, CE targets: the labels, or soft labels on a mixed iteration); `scale` < 1 shrinks
        the shifts with the images (the low-resolution phase of multi-resolution synthesis)."""
        xa = x
        if self.shifts is not None:
            dy, dx = self.shifts[it]
            if scale != 1.0:
                dy, dx = round(dy * scale), round(dx * scale)
            if dy or dx:
                xa = torch.roll(xa, shifts=(dy, dx), dims=(2, 3))
        if self.flips is not None and self.flips[it]:
            xa = xa.flip(3)
        target = labels
        if self.mixed(it):
            xa, target = cutmix(xa, self.onehot, self.mixing[3][it], self.mixing[1][it], self.mixing[2][it],
                                x.shape[2], x.shape[3])
        return xa, target


def cutmix(x, onehot, perm, lam, centre, H, W):
    """Paste a box of a permuted copy of the batch into each image; area-weighted soft labels (MixMix)."""
    ratio = math.sqrt(1.0 - lam)
    ch, cw = int(H * ratio), int(W * ratio)
    cy, cx = int(centre[0] * H), int(centre[1] * W)
    y0, y1 = max(cy - ch // 2, 0), min(cy + ch // 2, H)
    x0, x1 = max(cx - cw // 2, 0), min(cx + cw // 2, W)
    area = (y1 - y0) * (x1 - x0) / (H * W)
    if area == 0:
        return x, onehot
    mask = torch.zeros(1, 1, H, W, device=x.device)
    mask[..., y0:y1, x0:x1] = 1
    return x * (1 - mask) + x[perm] * mask, onehot * (1 - area) + onehot[perm] * area
