"""Uniform affine fake quantization with straight-through rounding, learned steps (LSQ) and QDrop.

One module, `FakeQuantizer`, covers weights (per output channel) and activations (per tensor):

    q   = clamp(round(x / s) + z, qmin, qmax)        integer grid, round half to even
    x^  = (q - z) * s                                 what the float simulation computes

Symmetric quantizers use the signed range [-2^(b-1), 2^(b-1) - 1] with z = 0; asymmetric ones the
unsigned range [0, 2^b - 1] with an integer zero point, so an activation that is never negative
(after ReLU) gets z = 0 and all 2^b levels on the positive side.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from lisq.errors import LisqError
from lisq.precision import REDUCED_DTYPES

MIN_BITS, MAX_BITS = 2, 8
EPS = 1e-8


def check_bits(bits: int, what: str = "bits") -> int:
    if not isinstance(bits, int) or isinstance(bits, bool) or not MIN_BITS <= bits <= MAX_BITS:
        raise LisqError(f"{what} must be an integer from {MIN_BITS} to {MAX_BITS}, got {bits!r}")
    return bits


def quant_range(bits: int, symmetric: bool) -> tuple[int, int]:
    """Integer range of a b-bit grid: signed for symmetric, unsigned for asymmetric quantizers."""
    if symmetric:
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


def round_ste(x: torch.Tensor) -> torch.Tensor:
    """Round half to even in the forward pass, identity in the backward pass (straight-through)."""
    return x + (torch.round(x) - x).detach()


def scale_grad(t: torch.Tensor, factor: float) -> torch.Tensor:
    """Same value as t; the gradient reaching t is multiplied by `factor` (LSQ step-size gradient scale)."""
    return t * factor + (t - t * factor).detach()


def fake_quantize(x: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor, qmin: int, qmax: int) -> torch.Tensor:
    """(clamp(round(x * (1/s)) + z, qmin, qmax) - z) * s; scale/zero_point already broadcast to x.

    Multiplying by the float reciprocal (not dividing) is what torch.fake_quantize_* do, so ties land on
    the same side. Gradients: straight-through for x inside the range, LSQ's for the scale.
    """
    q = torch.clamp(round_ste(x * (1.0 / scale)) + zero_point, qmin, qmax)
    return (q - zero_point) * scale


@torch.no_grad()
def fake_quantize_fixed(x: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor, qmin: int, qmax: int) -> torch.Tensor:
    """`fake_quantize` without a gradient, in place on one copy: the bits of torch.fake_quantize_* (tests)
    at a twelfth of their time on CPU (`benchmarks/quantizer_kernels.py`). x * (1/s) with 1/s in float32, as the kernels compute it; the
    integers stay exact in float32."""
    q = torch.mul(x, 1.0 / scale).round_().add_(zero_point).clamp_(qmin, qmax)
    return q.sub_(zero_point).mul_(scale)


def qdrop_mask(x: torch.Tensor, prob: float) -> torch.Tensor:
    """True where an element keeps its float value: drawn as a byte, so `prob` counts in 1/256 steps
    (0.5 exactly); 1.7x faster than a float draw (`benchmarks/quantizer_kernels.py`), which matters at
    26M activations per step."""
    threshold = min(round(prob * 256), 255)
    return torch.randint_like(x, 0, 256, dtype=torch.uint8) < threshold


def broadcast_shape(x: torch.Tensor, axis: int | None) -> tuple[int, ...]:
    if axis is None:
        return ()
    shape = [1] * x.dim()
    shape[axis] = -1
    return tuple(shape)


def qparams_from_range(
    lo: torch.Tensor, hi: torch.Tensor, qmin: int, qmax: int, symmetric: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale and integer zero point whose grid covers [lo, hi] (widened to contain 0) without clipping."""
    lo = torch.clamp(lo, max=0.0)
    hi = torch.clamp(hi, min=0.0)
    if symmetric:
        scale = torch.maximum(-lo / -qmin, hi / qmax).clamp(min=EPS)
        return scale, torch.zeros_like(scale)
    scale = ((hi - lo) / (qmax - qmin)).clamp(min=EPS)
    zero_point = torch.clamp(torch.round(qmin - lo / scale), qmin, qmax)
    return scale, zero_point


class FakeQuantizer(nn.Module):
    """Uniform affine fake quantizer for weights (channel_axis=0) or activations (channel_axis=None).

    Modes, switched by the algorithms, never by the user directly:
      - `enabled=False`: identity (the float model);
      - `observer` set: records statistics and returns x unchanged (calibration);
      - `scale.requires_grad`: learned step (LSQ), gradient scaled by 1/sqrt(numel * qmax) per step
        (numel of the whole batch when `step_batch` says the batch runs in pieces);
      - `rounding` set (weights): AdaRound's learned rounding instead of round-to-nearest;
      - `drop_prob > 0` in training mode: QDrop, each element keeps its float value with this probability;
      - `export_mode`: the same arithmetic written with torch.fake_quantize_* in an 8-bit container,
        which the ONNX exporter turns into QuantizeLinear/DequantizeLinear.
    A bf16/fp16 input (autocast) is quantized in float32 and the float32 result returned.
    """

    def __init__(self, bits: int, symmetric: bool, channel_axis: int | None = None, num_channels: int = 1):
        super().__init__()
        self.bits = check_bits(bits)
        self.symmetric = symmetric
        self.channel_axis = channel_axis
        shape = (num_channels,) if channel_axis is not None else ()
        self.scale = nn.Parameter(torch.ones(shape), requires_grad=False)
        self.register_buffer("zero_point", torch.zeros(shape))
        self.enabled = True
        self.observer = None
        self.rounding: nn.Module | None = None
        self.drop_prob = 0.0
        self.step_batch: int | None = None  # a step's batch when it runs in pieces (BRECQ on CPU): LSQ's scale
        self.export_mode = False
        self._export_constants = None

    @property
    def qmin(self) -> int:
        return quant_range(self.bits, self.symmetric)[0]

    @property
    def qmax(self) -> int:
        return quant_range(self.bits, self.symmetric)[1]

    @property
    def per_channel(self) -> bool:
        return self.channel_axis is not None

    def extra_repr(self) -> str:
        kind = f"per-channel(axis={self.channel_axis})" if self.per_channel else "per-tensor"
        return f"bits={self.bits}, {'symmetric' if self.symmetric else 'asymmetric'}, {kind}"

    def set_qparams(self, scale: torch.Tensor, zero_point: torch.Tensor) -> None:
        with torch.no_grad():
            self.scale.copy_(scale.reshape(self.scale.shape))
            self.zero_point.copy_(zero_point.reshape(self.zero_point.shape))

    def set_range(self, lo: torch.Tensor, hi: torch.Tensor) -> None:
        self.set_qparams(*qparams_from_range(lo, hi, self.qmin, self.qmax, self.symmetric))

    def qparams(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Scale (with the LSQ gradient factor when learned) and zero point, shaped to broadcast over x."""
        scale = self.scale
        if scale.requires_grad:
            per_step = x.numel() // max(scale.numel(), 1)
            scale = scale_grad(scale, 1.0 / (per_step * self.qmax) ** 0.5)
        shape = broadcast_shape(x, self.channel_axis)
        return scale.reshape(shape), self.zero_point.reshape(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.observer is not None:
            self.observer.update(x.detach().float() if x.dtype in REDUCED_DTYPES else x.detach(), self)
            return x
        if not self.enabled:
            return x
        if self.export_mode:
            return self.export_forward(x)
        if x.dtype in REDUCED_DTYPES:
            # Under autocast the previous layer hands bf16/fp16: round and clamp on the 2^b grid in float32
            # (bf16 has 8 significant bits, too few for x / s at 8 bits); the next conv casts back down.
            with torch.autocast(x.device.type, enabled=False):
                return self._quantize(x.float())
        return self._quantize(x)

    def _quantize(self, x: torch.Tensor) -> torch.Tensor:
        if self.rounding is not None:
            scale, zero_point = self.qparams(x)
            out = self.rounding(x, scale, zero_point, self.qmin, self.qmax)
        elif self.scale.requires_grad:
            out = self.learned_forward(x)
        else:
            out = self.fused_forward(x)
        if self.drop_prob > 0 and self.training:
            out = torch.where(qdrop_mask(x, self.drop_prob), x, out)
        return out

    def learned_forward(self, x: torch.Tensor) -> torch.Tensor:
        """Learned step (LSQ) in PyTorch's fused kernel: the forward of `fake_quantize`, LSQ's gradients.

        Same values as `fake_quantize(x, scale_grad(s, g), z, ...)` (tests), 1.5x faster on CPU for forward
        plus backward (`benchmarks/quantizer_kernels.py`): the composed version's elementwise passes and
        their backward weigh heavily in a BRECQ step. The
        kernel decides in-range in its backward as round(x / s + z), the forward as round(x / s) + z: at an
        exact tie just outside the range the gradient passes (about 1 element in 10^7).
        """
        per_step = x.numel() // max(self.scale.numel(), 1)
        if self.step_batch is not None and not self.per_channel:
            per_step = per_step // max(len(x), 1) * self.step_batch
        factor = 1.0 / (per_step * self.qmax) ** 0.5
        zero_point = self.zero_point.round()
        if self.per_channel:
            return torch._fake_quantize_learnable_per_channel_affine(
                x, self.scale, zero_point, self.channel_axis, self.qmin, self.qmax, factor
            )
        return torch._fake_quantize_learnable_per_tensor_affine(
            x, self.scale.reshape(1), zero_point.reshape(1), self.qmin, self.qmax, factor
        )

    def fused_forward(self, x: torch.Tensor) -> torch.Tensor:
        """Fixed step, bit-identical to `fake_quantize` and to torch.fake_quantize_* (tests).

        Without a gradient to carry: five in-place passes over a copy, 12x faster on CPU than PyTorch's
        fused kernel (which also builds a mask; `benchmarks/quantizer_kernels.py`). With one: the fused kernel, for its straight-through
        backward.
        """
        if not (x.requires_grad and torch.is_grad_enabled()):
            shape = broadcast_shape(x, self.channel_axis)
            return fake_quantize_fixed(x, self.scale.detach().reshape(shape), self.zero_point.round().reshape(shape),
                                       self.qmin, self.qmax)
        zero_point = self.zero_point.round().to(torch.int32)
        if self.per_channel:
            return torch.fake_quantize_per_channel_affine(
                x, self.scale.detach(), zero_point, self.channel_axis, self.qmin, self.qmax
            )
        return torch.fake_quantize_per_tensor_affine(x, float(self.scale), int(zero_point), self.qmin, self.qmax)

    def export_forward(self, x: torch.Tensor) -> torch.Tensor:
        """Clip to the b-bit range in float, then Q/DQ in an int8 (symmetric) or uint8 container.

        Rounding after the clip cannot leave [qmin, qmax], so the container never sees a value the
        b-bit grid lacks: the graph computes exactly the simulation above. The constants are computed
        outside the traced arithmetic so the exported graph holds them as plain initializers.
        """
        scale, zero_point, lo, hi = self.export_constants()
        cmin, cmax = quant_range(8, self.symmetric)
        if self.per_channel:
            shape = broadcast_shape(x, self.channel_axis)
            x = torch.minimum(torch.maximum(x, lo.reshape(shape)), hi.reshape(shape))
            return torch.fake_quantize_per_channel_affine(
                x, scale, zero_point.to(torch.int32), self.channel_axis, cmin, cmax
            )
        x = torch.clamp(x, float(lo), float(hi))
        return torch.fake_quantize_per_tensor_affine(x, float(scale), int(zero_point), cmin, cmax)

    @torch.no_grad()
    def export_constants(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(scale, integer zero point, clip low, clip high), frozen by `freeze_export_constants`."""
        if self._export_constants is not None:
            return self._export_constants
        scale = self.scale.detach().clone()
        zero_point = self.zero_point.detach().round()
        return scale, zero_point, (self.qmin - zero_point) * scale, (self.qmax - zero_point) * scale

    def freeze_export_constants(self, freeze: bool) -> None:
        """Hold the constants as plain tensors (not parameters), so a tracer records them as initializers."""
        self._export_constants = None
        if freeze:
            self._export_constants = self.export_constants()


def scale_param_groups(qs: list[FakeQuantizer], relative_lr: float) -> list[dict]:
    """One optimizer group per quantizer, lr = relative_lr * its mean step size.

    Adam moves every parameter by about lr per step whatever its gradient scale, and step sizes range
    from 1e-4 to 1 across layers, so an absolute lr either freezes large steps or flips small ones negative.
    """
    return [{"params": [q.scale], "lr": relative_lr * float(q.scale.detach().abs().mean().clamp(min=EPS))} for q in qs]


def quantizers(model: nn.Module):
    """(name, FakeQuantizer) pairs of a model."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, FakeQuantizer)]


def set_quant_state(model: nn.Module, weights: bool | None = None, activations: bool | None = None) -> None:
    """Enable or disable weight and/or activation quantizers (None leaves that kind unchanged)."""
    for name, q in quantizers(model):
        is_weight = name.endswith("weight_quantizer")
        flag = weights if is_weight else activations
        if flag is not None:
            q.enabled = flag
