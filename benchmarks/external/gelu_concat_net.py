"""A model defined outside lisq, for the quantization benchmarks: concatenation, GELU, BN, no registry.

Used as `--model benchmarks/external/gelu_concat_net.py:factory` (1x28x28 Fashion-MNIST input): the
spatial branch is depthwise-separable (the depthwise 3x3 makes it as sensitive to 4-bit activations as a
MobileNet). `dense_factory` is the same net with a full 3x3 convolution in that branch.
"""

import torch
import torch.nn as nn


class MixBlock(nn.Module):
    """Two branches (1x1, and depthwise-separable or full 3x3) joined by concatenation, then GELU."""

    def __init__(self, cin: int, cout: int, stride: int, depthwise: bool = True):
        super().__init__()
        half = cout // 2
        self.pointwise = nn.Sequential(nn.Conv2d(cin, half, 1, stride, bias=False), nn.BatchNorm2d(half))
        if depthwise:
            self.spatial = nn.Sequential(
                nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), nn.BatchNorm2d(cin), nn.GELU(),
                nn.Conv2d(cin, half, 1, bias=False), nn.BatchNorm2d(half),
            )
        else:
            self.spatial = nn.Sequential(nn.Conv2d(cin, half, 3, stride, 1, bias=False), nn.BatchNorm2d(half))
        self.act = nn.GELU()

    def forward(self, x):
        return self.act(torch.cat([self.pointwise(x), self.spatial(x)], dim=1))


class GeluConcatNet(nn.Module):
    def __init__(self, num_classes: int = 10, depthwise: bool = True):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 32, 3, 1, 1, bias=False), nn.BatchNorm2d(32), nn.GELU())
        widths = ((32, 64, 2), (64, 64, 1), (64, 128, 2), (128, 128, 1))
        self.blocks = nn.Sequential(*(MixBlock(cin, cout, s, depthwise) for cin, cout, s in widths))
        self.classifier = nn.Linear(128, num_classes)

    def forward(self, x):
        return self.classifier(self.blocks(self.stem(x)).mean(dim=(2, 3)))


def factory() -> nn.Module:
    return GeluConcatNet()


def dense_factory() -> nn.Module:
    return GeluConcatNet(depthwise=False)
