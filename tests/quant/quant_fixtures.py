"""Tiny models for the quantization tests: fast on a busy 2-core CPU."""

import torch
import torch.nn as nn


class TinyResidual(nn.Module):
    def __init__(self, c: int = 8):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x):
        return torch.relu(x + self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))))


class TinyConcat(nn.Module):
    """Two branches joined by concatenation, GELU inside: the kind of block a user brings."""

    def __init__(self, c: int = 8):
        super().__init__()
        self.a = nn.Sequential(nn.Conv2d(c, c // 2, 1), nn.BatchNorm2d(c // 2), nn.GELU())
        self.b = nn.Sequential(nn.Conv2d(c, c // 2, 3, padding=1, groups=c // 2), nn.BatchNorm2d(c // 2), nn.GELU())

    def forward(self, x):
        return torch.cat([self.a(x), self.b(x)], dim=1)


class TinyNet(nn.Module):
    def __init__(self, num_classes: int = 10, c: int = 8):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, c, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU())
        self.body = nn.Sequential(TinyResidual(c), TinyConcat(c))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x):
        return self.fc(self.pool(self.body(self.stem(x))).flatten(1))


def randomize_bn(model: nn.Module, generator: torch.Generator) -> nn.Module:
    """Give every BN non-trivial statistics and affine parameters, so folding is really tested."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=generator) * 0.2)
            m.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=generator) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=generator) * 0.1)
    return model


def make_tiny_net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    net = TinyNet()
    randomize_bn(net, torch.Generator().manual_seed(seed))
    with torch.no_grad():
        net.fc.weight.mul_(20)  # logits of a sensible size, so predictions are not ties
    return net.eval()
