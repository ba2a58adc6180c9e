"""Quantized Conv2d and Linear: fake-quantized input activation and weight, float bias and accumulation
(`quantize` leaves every bias on its int32 grid, see lisq.quant.bias).

Where activations are quantized (our choice, documented): at the INPUT of every quantized conv/linear.
Everything a quantized layer multiplies is on a grid; what happens between layers (residual adds,
concatenation, pooling, GELU, unfolded BatchNorm) stays float. The ONNX export puts one Q/DQ pair
on each of those inputs and one on each weight, so the exported graph computes what we simulate.

Only layers whose computation lisq knows are quantized (and BN-folded): exact nn.Conv2d / nn.Linear,
and nn.Conv2d subclasses declared with `register_padded_conv` (forward = zero padding fixed at build
time, then the plain conv: the "same" padding of TF-ported models such as EfficientNet-Lite). Any
other subclass may do anything in its forward, so it stays float and prepare_model warns about it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from lisq.quant.quantizer import FakeQuantizer

Padding = tuple[int, int, int, int]  # (left, right, top, bottom), as F.pad takes it
_PADDED_CONVS: dict[type, Callable[[nn.Conv2d], Padding | None]] = {}


def register_padded_conv(cls: type, padding_of: Callable[[nn.Conv2d], Padding | None]) -> None:
    """Declare `cls` (an nn.Conv2d subclass) as computing `conv2d(F.pad(x, padding_of(module)))`, so BN
    folds into it and it is quantized as a QuantConv2d with that padding. Registering again replaces."""
    if not (isinstance(cls, type) and issubclass(cls, nn.Conv2d)):
        raise TypeError(f"register_padded_conv takes an nn.Conv2d subclass, got {cls!r}")
    _PADDED_CONVS[cls] = padding_of


def float_kind(module: nn.Module) -> type | None:
    """nn.Conv2d or nn.Linear when lisq knows what `module` computes (exact type, registered padded conv), else None."""
    kind = type(module)
    if kind in FLOAT_TO_QUANT:
        return kind
    return nn.Conv2d if kind in _PADDED_CONVS else None


def explicit_padding(conv: nn.Module) -> Padding | None:
    """The zero padding a registered padded conv applies in forward (None: none, or not such a conv)."""
    padding_of = _PADDED_CONVS.get(type(conv))
    pad = padding_of(conv) if padding_of is not None else None
    if pad is None or not any(pad):
        return None
    if len(pad) != 4:
        raise ValueError(f"{type(conv).__name__}: padding must be (left, right, top, bottom), got {pad!r}")
    return tuple(int(p) for p in pad)


class QuantLayerMixin:
    weight_quantizer: FakeQuantizer
    input_quantizer: FakeQuantizer

    def _init_quantizers(self, w_bits: int, a_bits: int, w_symmetric: bool, w_per_channel: bool, a_symmetric: bool) -> None:
        out_channels = self.weight.shape[0]
        axis = 0 if w_per_channel else None
        self.weight_quantizer = FakeQuantizer(w_bits, w_symmetric, axis, out_channels if w_per_channel else 1)
        self.input_quantizer = FakeQuantizer(a_bits, a_symmetric, None)

    def quantized_weight(self) -> torch.Tensor:
        return self.weight_quantizer(self.weight)

    @property
    def bits(self) -> tuple[int, int]:
        return self.weight_quantizer.bits, self.input_quantizer.bits


class QuantConv2d(QuantLayerMixin, nn.Conv2d):
    """nn.Conv2d whose input and weight pass through fake quantizers (same state-dict names + quantizers).

    `input_padding` (left, right, top, bottom) is the explicit zero padding of a registered padded conv
    (possibly asymmetric, which nn.Conv2d's own `padding` cannot say). It is applied after the input
    quantizer: the quantizer sees the layer's real input, and 0 is always on the grid (the zero point is
    an integer inside [qmin, qmax]), so padding before or after quantizing gives the same values.
    """

    input_padding: Padding | None = None

    @classmethod
    def from_float(cls, conv: nn.Conv2d, w_bits: int, a_bits: int, w_symmetric: bool = True,
                   w_per_channel: bool = True, a_symmetric: bool = False) -> QuantConv2d:
        new = cls(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
                  conv.groups, conv.bias is not None, conv.padding_mode)
        with torch.no_grad():
            new.weight.copy_(conv.weight)
            if conv.bias is not None:
                new.bias.copy_(conv.bias)
        new.input_padding = explicit_padding(conv)
        new._init_quantizers(w_bits, a_bits, w_symmetric, w_per_channel, a_symmetric)
        return new

    def extra_repr(self) -> str:
        text = super().extra_repr()
        return f"{text}, input_padding={self.input_padding}" if self.input_padding else text

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.input_quantizer(x)
        if self.input_padding is not None:
            x = F.pad(x, self.input_padding)
        return self._conv_forward(x, self.quantized_weight(), self.bias)


class QuantLinear(QuantLayerMixin, nn.Linear):
    """nn.Linear whose input and weight pass through fake quantizers."""

    @classmethod
    def from_float(cls, linear: nn.Linear, w_bits: int, a_bits: int, w_symmetric: bool = True,
                   w_per_channel: bool = True, a_symmetric: bool = False) -> QuantLinear:
        new = cls(linear.in_features, linear.out_features, linear.bias is not None)
        with torch.no_grad():
            new.weight.copy_(linear.weight)
            if linear.bias is not None:
                new.bias.copy_(linear.bias)
        new._init_quantizers(w_bits, a_bits, w_symmetric, w_per_channel, a_symmetric)
        return new

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(self.input_quantizer(x), self.quantized_weight(), self.bias)


QUANT_LAYERS = (QuantConv2d, QuantLinear)
FLOAT_TO_QUANT = {nn.Conv2d: QuantConv2d, nn.Linear: QuantLinear}


def quant_class(module: nn.Module) -> type | None:
    """The quantized class that replaces `module` (see float_kind), or None when it stays float."""
    kind = float_kind(module)
    return FLOAT_TO_QUANT[kind] if kind is not None else None


def quant_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, QUANT_LAYERS)]
