"""Calibration: collect inputs from any data source, set quantizer ranges by min-max or by error search.

`mse` searches the clipping range and keeps the candidate with the lowest sum |x - Q(x)|^p (p = 2 by
default, configurable as `mse_p`). Weights (per channel): the observed [min, max] shrunk by one factor
in [0.2, 1.0] (0.01 steps). Activations on an asymmetric grid whose observed range straddles zero:
min and max are also shrunk by two INDEPENDENT factors in [0.2, 1.0] (0.04 steps each), because the two
sides of an activation are not alike: after GELU/SiLU about half of the values sit in a short dense
negative lobe ([-0.17, 0] for GELU) and the rest in a long positive tail. Shrinking both ends by one
factor clips the lobe along with the tail, and the zero point then rounds to 0: every negative value
becomes 0, a same-sign error that adds up over the next layer's input channels (measured: the
GELU/concat external model fell from 89.4 to 32 % at W4A4). Other activations (one-sided after ReLU,
or symmetric grids) search one factor in 0.02 steps. The activation error is summed over a fixed
strided subsample of at most 65536 values per batch.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn as nn

from lisq.errors import LisqError
from lisq.quant.modules import quant_layers
from lisq.quant.quantizer import (
    FakeQuantizer,
    broadcast_shape,
    fake_quantize,
    fake_quantize_fixed,
    qparams_from_range,
    set_quant_state,
)

WEIGHT_GRID = torch.linspace(1.0, 0.2, 81).tolist()
ACT_GRID = torch.linspace(1.0, 0.2, 41).tolist()
ACT_SIDE_GRID = torch.linspace(1.0, 0.2, 21).tolist()  # per side of a two-sided asymmetric activation range
MAX_SEARCH_ELEMENTS = 1 << 16  # per batch and activation quantizer: the error search runs on a subsample


def collect_inputs(data: torch.Tensor | Iterable, num_samples: int | None = None) -> torch.Tensor:
    """Stack model inputs from a tensor, a Dataset of single samples, a DataLoader or any iterable of
    x or (x, label, ...) batches."""
    if isinstance(data, torch.utils.data.Dataset) and not isinstance(data, torch.utils.data.IterableDataset):
        data = torch.utils.data.DataLoader(data, batch_size=256)  # map-style: batch the single samples
    if isinstance(data, torch.Tensor):
        out = data
    else:
        chunks, count = [], 0
        for batch in data:
            x = batch[0] if isinstance(batch, list | tuple) else batch
            if not isinstance(x, torch.Tensor):
                raise LisqError(f"calibration batches must be tensors or (tensor, label) pairs, got {type(x).__name__}")
            chunks.append(x if x.dim() > 1 else x.unsqueeze(0))
            count += len(chunks[-1])
            if num_samples is not None and count >= num_samples:
                break
        if not chunks:
            raise LisqError("the calibration data is empty; give a directory or loader with at least one image")
        out = torch.cat(chunks)
    if num_samples is not None:
        out = out[:num_samples]
    if len(out) == 0:
        raise LisqError("the calibration data is empty; give a directory or loader with at least one image")
    return out.float().contiguous()


def _reduce_dims(x: torch.Tensor, axis: int | None) -> list[int]:
    return [d for d in range(x.dim()) if d != axis]


class MinMaxObserver:
    """Running min and max (per channel along the quantizer's axis, or per tensor)."""

    def __init__(self):
        self.lo = self.hi = None

    def update(self, x: torch.Tensor, q: FakeQuantizer) -> None:
        if q.per_channel:
            dims = _reduce_dims(x, q.channel_axis)
            lo, hi = x.amin(dim=dims), x.amax(dim=dims)
        else:
            lo, hi = x.min(), x.max()
        self.lo = lo if self.lo is None else torch.minimum(self.lo, lo)
        self.hi = hi if self.hi is None else torch.maximum(self.hi, hi)

    def apply(self, q: FakeQuantizer) -> None:
        if self.lo is not None:
            q.set_range(self.lo, self.hi)


def candidate_factors(lo: torch.Tensor, hi: torch.Tensor, q: FakeQuantizer) -> list[tuple[float, float]]:
    """(min factor, max factor) pairs for an activation quantizer's range search (see module docstring)."""
    joint = [(a, a) for a in ACT_GRID]
    two_sided = not q.symmetric and not q.per_channel and float(lo) < 0 < float(hi)
    if two_sided:  # a superset of the joint search: never a worse error on the calibration data
        return joint + [(a, b) for a in ACT_SIDE_GRID for b in ACT_SIDE_GRID if a != b]
    return joint


class ErrorSearchObserver:
    """Accumulates sum |x - Q(x)|^p for candidate ranges [a * lo, b * hi]; `apply` keeps the best.

    `grid`: shrink factors applied to both ends, or (min factor, max factor) pairs.
    """

    def __init__(self, lo: torch.Tensor, hi: torch.Tensor, q: FakeQuantizer, grid: list, p: float):
        self.p = p
        pairs = [g if isinstance(g, tuple) else (g, g) for g in grid]
        self.candidates = [qparams_from_range(a * lo, b * hi, q.qmin, q.qmax, q.symmetric) for a, b in pairs]
        self.errors = None

    def update(self, x: torch.Tensor, q: FakeQuantizer) -> None:
        if not q.per_channel and x.numel() > MAX_SEARCH_ELEMENTS:
            x = x.flatten()[:: -(-x.numel() // MAX_SEARCH_ELEMENTS)]  # a fixed strided subsample
        shape = broadcast_shape(x, q.channel_axis)
        dims = _reduce_dims(x, q.channel_axis)
        errs = []
        for scale, zp in self.candidates:
            if q.per_channel:
                xq = fake_quantize(x, scale.reshape(shape), zp.reshape(shape), q.qmin, q.qmax)
            else:
                xq = fake_quantize_fixed(x, scale, zp.round(), q.qmin, q.qmax)
            diff = (xq - x).abs_()
            errs.append((diff.square_() if self.p == 2 else diff.pow_(self.p)).sum(dim=dims))
        errs = torch.stack(errs)
        self.errors = errs if self.errors is None else self.errors + errs

    def apply(self, q: FakeQuantizer) -> None:
        if self.errors is None:
            return
        best = self.errors.argmin(dim=0)
        scales = torch.stack([c[0] for c in self.candidates])
        zps = torch.stack([c[1] for c in self.candidates])
        if best.dim() == 0:
            q.set_qparams(scales[best], zps[best])
        else:
            idx = torch.arange(best.numel())
            q.set_qparams(scales[best, idx], zps[best, idx])


@torch.no_grad()
def init_weight_quantizer(q: FakeQuantizer, weight: torch.Tensor, method: str, p: float = 2.0) -> None:
    observer = MinMaxObserver()
    observer.update(weight, q)
    if method == "minmax":
        observer.apply(q)
        return
    search = ErrorSearchObserver(observer.lo, observer.hi, q, WEIGHT_GRID, p)
    search.update(weight, q)
    search.apply(q)


@torch.no_grad()
def init_weight_quantizers(model: nn.Module, method: str, p: float = 2.0) -> None:
    for _, layer in quant_layers(model):
        init_weight_quantizer(layer.weight_quantizer, layer.weight, method, p)


def batches(x: torch.Tensor, batch_size: int):
    for start in range(0, len(x), batch_size):
        yield x[start : start + batch_size]


def _act_quantizers(model: nn.Module, only: list[FakeQuantizer] | None = None) -> list[FakeQuantizer]:
    qs = [layer.input_quantizer for _, layer in quant_layers(model)]
    return qs if only is None else [q for q in qs if any(q is o for o in only)]


@torch.no_grad()
def init_act_quantizers(
    model: nn.Module, calib: torch.Tensor, method: str, p: float = 2.0, batch_size: int = 128,
    only: list[FakeQuantizer] | None = None,
) -> None:
    """Observe every activation quantizer's input over `calib` (weights quantized, activations float)."""
    qs = _act_quantizers(model, only)
    state = [(q.enabled, q.observer) for q in qs]
    try:
        for q in qs:
            q.observer = MinMaxObserver()
        for x in batches(calib, batch_size):
            model(x)
        ranges = [(q.observer.lo, q.observer.hi) for q in qs]
        for q in qs:
            q.observer.apply(q)
        if method == "mse":
            for q, (lo, hi) in zip(qs, ranges, strict=True):
                q.observer = ErrorSearchObserver(lo, hi, q, candidate_factors(lo, hi, q), p) if lo is not None else None
            for x in batches(calib, batch_size):
                model(x)
            for q in qs:
                if q.observer is not None:
                    q.observer.apply(q)
    finally:
        for q, (enabled, observer) in zip(qs, state, strict=True):
            q.enabled, q.observer = enabled, observer


def calibrate(model: nn.Module, calib: torch.Tensor, method: str, p: float = 2.0, batch_size: int = 128) -> nn.Module:
    """Plain PTQ: weight ranges from the weights, activation ranges from the calibration inputs."""
    init_weight_quantizers(model, method, p)
    set_quant_state(model, weights=True, activations=True)
    init_act_quantizers(model, calib, method, p, batch_size)
    return model
