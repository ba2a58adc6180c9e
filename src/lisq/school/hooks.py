"""Capture the batch statistics of every BatchNorm input with forward hooks (any nn.Module)."""

from __future__ import annotations

import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

from lisq.errors import LisqError
from lisq.precision import REDUCED_DTYPES


def _widen(x: torch.Tensor) -> torch.Tensor:
    """float32 view of a bf16/fp16 activation (under autocast); any other tensor as it is."""
    return x.float() if x.dtype in REDUCED_DTYPES else x


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


class BatchMoments(torch.autograd.Function):
    """Per-channel batch mean and (biased) variance of an [N, C, ...] tensor, with a fused backward.

    Sums over the spatial dims first, then the batch (on CPU ~10x faster than torch.var_mean over
    (0, 2, 3) of an NCHW tensor), and returns the input gradient in one addcmul:
    d/dx = gm / n + (2 gv / n) (x - mean).
    Under autocast the input is bf16/fp16: the moments (E[x^2] - E[x]^2 cancels badly in 8 mantissa
    bits) and the gradient are computed in float32; x is saved in its own type (half the memory).
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor):
        count = x.numel() // x.shape[1]
        xf = _widen(x)
        if x.ndim > 2:
            dims = tuple(range(2, x.ndim))
            s, sq = xf.sum(dims).sum(0), (xf * xf).sum(dims).sum(0)
        else:
            s, sq = xf.sum(0), (xf * xf).sum(0)
        mean = s / count
        var = sq / count - mean * mean
        ctx.save_for_backward(x, mean)
        ctx.count = count
        return mean, var

    @staticmethod
    def backward(ctx, grad_mean: torch.Tensor, grad_var: torch.Tensor):
        x, mean = ctx.saved_tensors
        shape = (1, -1) + (1,) * (x.ndim - 2)
        scale = (2.0 / ctx.count) * grad_var
        offset = grad_mean / ctx.count - scale * mean
        return (_widen(x) * scale.view(shape)).add_(offset.view(shape)).to(x.dtype)


class FusedBatchNormMoments(torch.autograd.Function):
    """Eval-mode BatchNorm that also returns the batch moments of its input, with one fused backward.

    Same output as the BN layer, but the input gradient of the output path and of the moments path
    are produced in one tensor (no separate branch for autograd to accumulate): this keeps the loop's
    overhead over plain teacher passes small. Frozen BN parameters only (teachers are frozen).
    A bf16/fp16 input (autocast) gets float32 moments and arithmetic and an output of its own type.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, eps: float):
        mean, var = BatchMoments.forward(ctx, x)
        scale = torch.rsqrt(running_var + eps)
        if weight is not None:
            scale = scale * weight
        shift = -running_mean * scale
        if bias is not None:
            shift = shift + bias
        shape = (1, -1) + (1,) * (x.ndim - 2)
        y = (_widen(x) * scale.view(shape)).add_(shift.view(shape))  # 3x faster on CPU than addcmul with a broadcast self
        ctx.save_for_backward(x, mean, scale)
        return y.to(x.dtype), mean, var

    @staticmethod
    def backward(ctx, grad_y, grad_mean, grad_var):
        x, mean, scale = ctx.saved_tensors
        dtype, x = x.dtype, _widen(x)
        shape = (1, -1) + (1,) * (x.ndim - 2)
        if grad_mean is None:
            grad_mean = torch.zeros_like(mean)
        if grad_var is None:
            grad_var = torch.zeros_like(mean)
        coef = (2.0 / ctx.count) * grad_var
        offset = grad_mean / ctx.count - coef * mean
        if grad_y is not None:
            grad_x = (_widen(grad_y) * scale.view(shape)).addcmul_(x, coef.view(shape))
        else:
            grad_x = x * coef.view(shape)
        return grad_x.add_(offset.view(shape)).to(dtype), None, None, None, None, None


class BNStatsRecorder:
    """Forward hooks that record (batch mean, batch var, running mean, running var) of each BN input.

    Only active inside `with recorder:`; outside it the hooks return at once, so a teacher can
    also be run plainly. The hooks do one `var_mean` per layer and nothing else (lean loop).
    """

    def __init__(self, model: nn.Module, name: str = "model", fused: bool = True):
        self.layers = require_bn(model, name)
        self.fused = fused
        self.stats: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]] = []
        self.active = False
        self._layer_index: torch.Tensor | None = None
        self._handles = [layer.register_forward_hook(self._hook) for layer in self.layers]

    def _hook(self, module: _BatchNorm, inputs, output):
        if not self.active:
            return None
        x = inputs[0]
        frozen = not module.training and not any(p.requires_grad for p in module.parameters(recurse=False))
        if self.fused and frozen and x.ndim > 2:
            # Replace the layer's output by the fused BN + moments (same values, one backward pass).
            y, mean, var = FusedBatchNormMoments.apply(x, module.weight, module.bias, module.running_mean, module.running_var, module.eps)
            self.stats.append((mean, var, module.running_mean, module.running_var))
            return y
        mean, var = BatchMoments.apply(x)
        self.stats.append((mean, var, module.running_mean, module.running_var))
        return None

    def bn_loss(self) -> torch.Tensor:
        """The BN term of the last forward: mean over layers of ||mu - mu_t||_2 + ||var - var_t||_2.

        Same value as losses.bn_term(self.stats), computed with a handful of batched ops
        instead of six per layer (the loop's overhead budget is tight on small CPUs).
        """
        if self._layer_index is None or self._layer_index.numel() != sum(layer.num_features for layer in self.layers):
            sizes = torch.tensor([layer.num_features for layer in self.layers])
            self._layer_index = torch.repeat_interleave(torch.arange(len(self.layers)), sizes).to(self.layers[0].running_mean.device)
        means = torch.cat([m for m, _, _, _ in self.stats])
        variances = torch.cat([v for _, v, _, _ in self.stats])
        run_mean = torch.cat([rm for _, _, rm, _ in self.stats])
        run_var = torch.cat([rv for _, _, _, rv in self.stats])
        sq = torch.stack([(means - run_mean).pow(2), (variances - run_var).pow(2)])
        per_layer = sq.new_zeros(2, len(self.stats)).index_add(1, self._layer_index, sq)
        return per_layer.clamp_min(1e-20).sqrt().sum() / len(self.stats)

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
