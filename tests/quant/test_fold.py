import copy

import torch
import torch.nn as nn
from quant_fixtures import randomize_bn

from lisq.models import create_model
from lisq.quant.fold import find_bn_pairs, fold_batchnorms


def test_folding_preserves_outputs(tiny_net):
    x = torch.randn(4, 1, 16, 16)
    folded = copy.deepcopy(tiny_net)
    pairs = fold_batchnorms(folded)
    assert len(pairs) == 5
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    torch.testing.assert_close(folded(x), tiny_net(x), rtol=1e-4, atol=1e-5)


def test_preactivation_bn_is_not_folded():
    """DenseNet's BN follows a concatenation, not a conv: it must stay."""
    model = randomize_bn(create_model("densenet_s"), torch.Generator().manual_seed(0)).eval()
    x = torch.randn(2, 1, 28, 28)
    ref = model(x)
    pairs = fold_batchnorms(model)
    remaining = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert pairs and remaining
    torch.testing.assert_close(model(x), ref, rtol=1e-4, atol=1e-4)


def test_conv_feeding_two_consumers_is_not_folded():
    class Fork(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3)
            self.bn = nn.BatchNorm2d(4)

        def forward(self, x):
            y = self.conv(x)
            return self.bn(y) + y

    assert find_bn_pairs(Fork()) == []


def test_untraceable_model_falls_back_to_sequential():
    class Dynamic(nn.Module):
        def __init__(self):
            super().__init__()
            self.seq = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU())

        def forward(self, x):
            if x.sum() > 0:  # data-dependent control flow: torch.fx cannot trace it
                return self.seq(x)
            return self.seq(-x)

    model = randomize_bn(Dynamic(), torch.Generator().manual_seed(0)).eval()
    x = torch.rand(2, 1, 8, 8)
    ref = model(x)
    assert fold_batchnorms(model) == [("seq.0", "seq.1")]
    torch.testing.assert_close(model(x), ref, rtol=1e-4, atol=1e-5)
