"""Capture the batch statistics of every BatchNorm input with forward hooks (any nn.Module)."""

from __future__ import annotations

import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

from lisq.errors import LisqError


def bn_layers(model: nn.Module) -> list[_BatchNorm]:
    """BatchNorm layers that hold running statistics, in module order."""
    return [m for m in model.modules() if isinstance(m, _BatchNorm) and m.track_running_stats and m.running_mean is not None]


def require_bn(model: nn.Module, name: str) -> list[_BatchNorm]:
    layers = bn_layers(model)
    if not layers:
        raise LisqError(
            f"teacher {name!r} has no BatchNorm layers with running statistics; BN-based generators "
            "(zeroq, deepinversion, lis, mixmix) need them: pick a BN model or use --generator gaussian/real"
        )
    return layers


class BNStatsRecorder:
    """Forward hooks that record (batch mean, batch var, running mean, running var) of each BN input.

    Only active inside `with recorder:`; outside it the hooks return at once, so a teacher can
    also be run plainly. The hooks do one `var_mean` per layer and nothing else (lean loop).
    """

    def __init__(self, model: nn.Module, name: str = "model"):
        self.layers = require_bn(model, name)
        self.stats: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]] = []
        self.active = False
        self._handles = [layer.register_forward_hook(self._hook) for layer in self.layers]

    def _hook(self, module: _BatchNorm, inputs, output) -> None:
        if not self.active:
            return
        x = inputs[0]
        dims = [0] + list(range(2, x.ndim))
        var, mean = torch.var_mean(x, dim=dims, correction=0)
        self.stats.append((mean, var, module.running_mean, module.running_var))

    def __enter__(self) -> BNStatsRecorder:
        self.stats = []
        self.active = True
        return self

    def __exit__(self, *exc) -> None:
        self.active = False

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []


class BNMomentsAccumulator:
    """Forward hooks summing per-channel first and second moments of each BN input over many batches.

    Gives the statistics of a whole image set (used by the BN-distance metric), in float64.
    """

    def __init__(self, model: nn.Module, name: str = "model"):
        self.layers = require_bn(model, name)
        self.count = [0] * len(self.layers)
        self.sum: list[torch.Tensor | None] = [None] * len(self.layers)
        self.sumsq: list[torch.Tensor | None] = [None] * len(self.layers)
        self._handles = [layer.register_forward_hook(self._make_hook(i)) for i, layer in enumerate(self.layers)]

    def _make_hook(self, i: int):
        def hook(module, inputs, output):
            x = inputs[0].detach().double().transpose(0, 1).reshape(inputs[0].shape[1], -1)
            s, sq = x.sum(1), x.pow(2).sum(1)
            self.sum[i] = s if self.sum[i] is None else self.sum[i] + s
            self.sumsq[i] = sq if self.sumsq[i] is None else self.sumsq[i] + sq
            self.count[i] += x.shape[1]

        return hook

    def moments(self) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Per layer (mean, var, running mean, running var) over everything seen so far."""
        out = []
        for i, layer in enumerate(self.layers):
            mean = self.sum[i] / self.count[i]
            var = (self.sumsq[i] / self.count[i] - mean.pow(2)).clamp_min(0)
            out.append((mean, var, layer.running_mean.double(), layer.running_var.double()))
        return out

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
