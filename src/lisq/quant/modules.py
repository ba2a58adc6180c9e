"""Quantized Conv2d and Linear: fake-quantized input activation and weight, float bias and accumulation.

Where activations are quantized (our choice, documented): at the INPUT of every quantized conv/linear.
Everything a quantized layer multiplies is on a grid; what happens between layers (residual adds,
concatenation, pooling, GELU, unfolded BatchNorm) stays float. The ONNX export puts one Q/DQ pair
on each of those inputs and one on each weight, so the exported graph computes what we simulate.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from lisq.quant.quantizer import FakeQuantizer


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
    """nn.Conv2d whose input and weight pass through fake quantizers (same state-dict names + quantizers)."""

    @classmethod
    def from_float(cls, conv: nn.Conv2d, w_bits: int, a_bits: int, w_symmetric: bool = True,
                   w_per_channel: bool = True, a_symmetric: bool = False) -> QuantConv2d:
        new = cls(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
                  conv.groups, conv.bias is not None, conv.padding_mode)
        with torch.no_grad():
            new.weight.copy_(conv.weight)
            if conv.bias is not None:
                new.bias.copy_(conv.bias)
        new._init_quantizers(w_bits, a_bits, w_symmetric, w_per_channel, a_symmetric)
        return new

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(self.input_quantizer(x), self.quantized_weight(), self.bias)


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


def quant_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, QUANT_LAYERS)]
