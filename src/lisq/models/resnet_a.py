"""ResNet-20/32 of He et al. 2016 for CIFAR-10 with the parameter-free "option A" shortcut, with the module
names of the widely used checkpoints (conv1, bn1, layer1..3, linear), so that those checkpoints load as
they are (a `state_dict` entry with DataParallel `module.` prefixes is unwrapped by lisq's loader)."""

from __future__ import annotations

import torch.nn as nn
import torch.nn.functional as F

from lisq.models.layers import init_weights
from lisq.models.registry import register_model


class PadShortcut(nn.Module):
    """Option A: subsample by 2 and zero-pad `planes // 4` channels on each side (no parameters)."""

    def __init__(self, planes: int):
        super().__init__()
        self.pad = planes // 4

    def forward(self, x):
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))


class BasicBlockA(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = PadShortcut(cout) if stride != 1 or cin != cout else nn.Identity()
        self.relu2 = nn.ReLU(inplace=True)

    def forward(self, x):
        out = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        return self.relu2(out + self.shortcut(x))


class ResNetA(nn.Module):
    def __init__(self, blocks_per_stage: int, num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        cin, layers = 16, []
        for i, width in enumerate((16, 32, 64)):
            blocks = []
            for j in range(blocks_per_stage):
                blocks.append(BasicBlockA(cin, width, 2 if (i > 0 and j == 0) else 1))
                cin = width
            layers.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = layers
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)
        self.linear = nn.Linear(64, num_classes)
        init_weights(self)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.linear(self.flatten(self.pool(x)))


@register_model("resnet_a")
def resnet20a(num_classes: int = 10, in_channels: int = 3) -> nn.Module:
    """ResNet-20 (He et al.), option-A shortcuts, module names of the common CIFAR-10 checkpoints."""
    return ResNetA(3, num_classes, in_channels)


@register_model("resnet_a")
def resnet32a(num_classes: int = 10, in_channels: int = 3) -> nn.Module:
    """ResNet-32 (He et al.), option-A shortcuts, module names of the common CIFAR-10 checkpoints."""
    return ResNetA(5, num_classes, in_channels)
