"""Objective terms of the inversion (SPEC section 3), each a plain function with a hand-checkable formula.

    L_t(x, y) = a_ce * CE + a_bn * BN_t + a_tv * TV + a_l2 * L2
    BN_t  = (1/|B_t|) * sum_l ( ||mu_l(x) - mu_l^t||_2 + ||var_l(x) - var_l^t||_2 )
    TV    = mean |x[..., i+1, j] - x[..., i, j]| + mean |x[..., i, j+1] - x[..., i, j]|   (l1; l2 squares)
    L2    = mean over images of ||x_i||_2^2
    CE    = cross entropy, hard labels or soft (probability) targets
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def bn_term(stats) -> torch.Tensor:
    """Mean over BN layers of ||mu - mu_t||_2 + ||var - var_t||_2; `stats` from BNStatsRecorder."""
    total = 0.0
    for mean, var, run_mean, run_var in stats:
        total = total + torch.linalg.vector_norm(mean - run_mean) + torch.linalg.vector_norm(var - run_var)
    return total / max(len(stats), 1)


def ce_term(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross entropy with integer labels [N] or soft targets [N, C] (rows sum to 1)."""
    if targets.ndim == 2:
        return -(targets * F.log_softmax(logits, dim=1)).sum(1).mean()
    return F.cross_entropy(logits, targets)


def tv_term(x: torch.Tensor, norm: str = "l1") -> torch.Tensor:
    """Total variation: mean neighbour difference (|.| for l1, squared for l2), vertical + horizontal."""
    dv = x[..., 1:, :] - x[..., :-1, :]
    dh = x[..., :, 1:] - x[..., :, :-1]
    if norm == "l1":
        return dv.abs().mean() + dh.abs().mean()
    return dv.pow(2).mean() + dh.pow(2).mean()


def l2_term(x: torch.Tensor) -> torch.Tensor:
    """Mean over images of the squared l2 norm of the image (normalised space)."""
    return x.pow(2).flatten(1).sum(1).mean()


TERM_NAMES = ("ce", "bn", "tv", "l2")
