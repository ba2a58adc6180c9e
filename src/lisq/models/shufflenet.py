"""ShuffleNetV2 (Ma et al. 2018), small: channel split, depthwise conv, concat and channel shuffle."""

from __future__ import annotations

import torch
import torch.nn as nn

from lisq.models.layers import Classifier, conv_bn_act, init_weights
from lisq.models.registry import register_model


def channel_shuffle(x: torch.Tensor, groups: int = 2) -> torch.Tensor:
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class ShuffleUnit(nn.Module):
    """`split=True`: half the channels pass through untouched; else both branches see all input."""

    def __init__(self, cin: int, cout: int, stride: int, split: bool):
        super().__init__()
        self.split = split
        branch = cout // 2
        if not split:
            self.left = nn.Sequential(conv_bn_act(cin, cin, 3, stride, groups=cin, act=None), conv_bn_act(cin, branch, 1))
        else:
            self.left = nn.Identity()
        right_in = branch if split else cin
        self.right = nn.Sequential(
            conv_bn_act(right_in, branch, 1),
            conv_bn_act(branch, branch, 3, stride, groups=branch, act=None),
            conv_bn_act(branch, branch, 1),
        )

    def forward(self, x):
        if self.split:
            left, right = x.chunk(2, dim=1)
            out = torch.cat([left, self.right(right)], dim=1)
        else:
            out = torch.cat([self.left(x), self.right(x)], dim=1)
        return channel_shuffle(out)


class ShuffleNetV2(nn.Module):
    def __init__(self, widths=(48, 96, 192), repeats=(2, 3, 2), num_classes: int = 10, in_channels: int = 1,
                 stem_stride: int = 2):
        super().__init__()
        cin = 24
        layers: list[nn.Module] = [conv_bn_act(in_channels, cin, 3, stem_stride)]
        for i, (width, n) in enumerate(zip(widths, repeats, strict=False)):
            for j in range(n):
                layers.append(ShuffleUnit(cin, width, stride=2 if (j == 0 and i > 0) else 1, split=j > 0))
                cin = width
        layers.append(conv_bn_act(cin, 256, 1))
        self.features = nn.Sequential(*layers)
        self.head = Classifier(256, num_classes)
        init_weights(self)

    def forward(self, x):
        return self.head(self.features(x))


@register_model("shufflenet")
def shufflenetv2_s(num_classes: int = 10, in_channels: int = 1) -> nn.Module:
    """Small ShuffleNetV2: split-transform-concat units with channel shuffle, widths 48/96/192."""
    return ShuffleNetV2(num_classes=num_classes, in_channels=in_channels)


@register_model("shufflenet")
def shufflenetv2_32(num_classes: int = 10, in_channels: int = 1) -> nn.Module:
    """ShuffleNetV2-small for 32 px inputs (CIFAR): the same units with a stride-1 stem (32 -> 32/16/8)."""
    return ShuffleNetV2(num_classes=num_classes, in_channels=in_channels, stem_stride=1)
