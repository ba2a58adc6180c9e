"""MobileNetV2 (Sandler et al. 2018) for small inputs: inverted residuals with depthwise convs."""

from __future__ import annotations

import torch.nn as nn

from lisq.models.layers import Classifier, conv_bn_act, init_weights
from lisq.models.registry import register_model

# (expansion t, channels c, repeats n, first stride s); with the stride-2 stem, 28x28 ends at 7x7.
SMALL_INPUT_SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 2, 2), (6, 64, 2, 1), (6, 96, 1, 1)]


def _make_divisible(value: float, divisor: int = 8) -> int:
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int):
        super().__init__()
        hidden = cin * expand
        layers = [] if expand == 1 else [conv_bn_act(cin, hidden, 1, act=nn.ReLU6)]
        layers += [
            conv_bn_act(hidden, hidden, 3, stride, groups=hidden, act=nn.ReLU6),
            conv_bn_act(hidden, cout, 1, act=None),
        ]
        self.conv = nn.Sequential(*layers)
        self.use_residual = stride == 1 and cin == cout

    def forward(self, x):
        out = self.conv(x)
        return x + out if self.use_residual else out


class MobileNetV2(nn.Module):
    def __init__(self, width: float = 1.0, num_classes: int = 10, in_channels: int = 1, last_channels: int = 320):
        super().__init__()
        cin = _make_divisible(16 * width)
        layers: list[nn.Module] = [conv_bn_act(in_channels, cin, 3, 2, act=nn.ReLU6)]
        for t, c, n, s in SMALL_INPUT_SETTINGS:
            cout = _make_divisible(c * width)
            for i in range(n):
                layers.append(InvertedResidual(cin, cout, s if i == 0 else 1, t))
                cin = cout
        last = _make_divisible(last_channels * max(1.0, width))
        layers.append(conv_bn_act(cin, last, 1, act=nn.ReLU6))
        self.features = nn.Sequential(*layers)
        self.head = Classifier(last, num_classes, dropout=0.1)
        init_weights(self)

    def forward(self, x):
        return self.head(self.features(x))


@register_model("mobilenet")
def mobilenetv2_050(num_classes: int = 10, in_channels: int = 1) -> nn.Module:
    """MobileNetV2 at width 0.5 (depthwise separable, inverted residuals)."""
    return MobileNetV2(0.5, num_classes, in_channels)


@register_model("mobilenet")
def mobilenetv2_100(num_classes: int = 10, in_channels: int = 1) -> nn.Module:
    """MobileNetV2 at width 1.0 (depthwise separable, inverted residuals)."""
    return MobileNetV2(1.0, num_classes, in_channels)
