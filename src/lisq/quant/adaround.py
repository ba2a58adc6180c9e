"""AdaRound (Nagel et al. 2020): learn, per weight, whether to round down or up.

    w^ = s * (clamp(floor(w / s) + h(alpha) + z, qmin, qmax) - z),   h = rectified sigmoid in [0, 1]

trained to reproduce a layer's (or, in BRECQ, a block's) float output, with a regulariser that
pushes every h to 0 or 1 as its temperature beta is annealed. `adaround` = that reconstruction
layer by layer; the shared loop lives in lisq.quant.brecq.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

GAMMA, ZETA = -0.1, 1.1


class AdaRoundRounding(nn.Module):
    """Learned rounding for one weight tensor; plugs into FakeQuantizer.rounding."""

    def __init__(self, weight: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor):
        super().__init__()
        x = weight.detach() * (1.0 / scale.detach())
        floor = torch.floor(x)
        rest = (x - floor).clamp(1e-4, 1 - 1e-4)
        # initialise so that h(alpha) equals the fractional part: the soft weight starts at w
        alpha = -torch.log((ZETA - GAMMA) / (rest - GAMMA) - 1)
        self.register_buffer("w_floor", floor)
        self.alpha = nn.Parameter(alpha)
        self.hard = False

    def soft(self) -> torch.Tensor:
        return torch.clamp(torch.sigmoid(self.alpha) * (ZETA - GAMMA) + GAMMA, 0.0, 1.0)

    def forward(self, _weight, scale, zero_point, qmin: int, qmax: int) -> torch.Tensor:
        up = (self.alpha >= 0).to(self.w_floor.dtype) if self.hard else self.soft()
        q = torch.clamp(self.w_floor + up + zero_point, qmin, qmax)
        return (q - zero_point) * scale

    def regularizer(self, beta: float) -> torch.Tensor:
        return (1 - (2 * self.soft() - 1).abs().pow(beta)).sum()


def beta_schedule(step: int, total: int, warmup: float, start: float, end: float) -> float:
    """Temperature of the rounding regulariser: `start` after the warm-up, linearly down to `end`."""
    begin = warmup * total
    progress = max(0.0, (step - begin) / max(total - begin, 1))
    return end + (start - end) * max(0.0, 1 - progress)


def attach_rounding(layer: nn.Module) -> AdaRoundRounding:
    q = layer.weight_quantizer
    scale, zero_point = q.qparams(layer.weight)
    q.rounding = AdaRoundRounding(layer.weight, scale, zero_point)
    return q.rounding


@torch.no_grad()
def bake_rounding(layer: nn.Module) -> None:
    """Fix the learned rounding: the weight becomes its quantized value, round-to-nearest reproduces it."""
    q = layer.weight_quantizer
    if q.rounding is None:
        return
    q.rounding.hard = True
    layer.weight.copy_(q(layer.weight))
    q.rounding = None


def rounding_flip_rate(layer: nn.Module) -> float:
    """Share of weights whose learned rounding differs from round-to-nearest (diagnostic)."""
    q = layer.weight_quantizer
    if q.rounding is None:
        return math.nan
    x = layer.weight * (1.0 / q.qparams(layer.weight)[0])
    nearest = (torch.round(x) - q.rounding.w_floor) > 0.5
    return float(((q.rounding.alpha >= 0) != nearest).float().mean())
