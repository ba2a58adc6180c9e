"""CIFAR-style ResNets (He et al. 2016): 3 stages of basic residual blocks, depth 6n+2."""

from __future__ import annotations

import torch.nn as nn

from lisq.models.layers import Classifier, conv_bn_act, init_weights
from lisq.models.registry import register_model


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = conv_bn_act(cin, cout, 3, stride)
        self.conv2 = conv_bn_act(cout, cout, 3, 1, act=None)
        self.shortcut = nn.Identity() if stride == 1 and cin == cout else conv_bn_act(cin, cout, 1, stride, act=None)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.conv2(self.conv1(x)) + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, blocks_per_stage: int, widths=(16, 32, 64), num_classes: int = 10, in_channels: int = 1):
        super().__init__()
        self.stem = conv_bn_act(in_channels, widths[0], 3, 1)
        stages, cin = [], widths[0]
        for i, width in enumerate(widths):
            blocks = []
            for j in range(blocks_per_stage):
                blocks.append(BasicBlock(cin, width, 2 if (i > 0 and j == 0) else 1))
                cin = width
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.head = Classifier(cin, num_classes)
        init_weights(self)

    def forward(self, x):
        return self.head(self.stages(self.stem(x)))


@register_model("resnet")
def resnet8(num_classes: int = 10, in_channels: int = 1) -> nn.Module:
    """ResNet-8: 1 basic block per stage, widths 16/32/64."""
    return ResNet(1, num_classes=num_classes, in_channels=in_channels)


@register_model("resnet")
def resnet14(num_classes: int = 10, in_channels: int = 1) -> nn.Module:
    """ResNet-14: 2 basic blocks per stage, widths 16/32/64."""
    return ResNet(2, num_classes=num_classes, in_channels=in_channels)


@register_model("resnet")
def resnet20(num_classes: int = 10, in_channels: int = 1) -> nn.Module:
    """ResNet-20: 3 basic blocks per stage, widths 16/32/64."""
    return ResNet(3, num_classes=num_classes, in_channels=in_channels)
