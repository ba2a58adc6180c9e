import torch

from lisq.data import Normalization
from lisq.data.transforms import random_crop_flip


def test_normalize_roundtrip_multichannel():
    norm = Normalization((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    x = torch.rand(2, 3, 5, 7)
    assert torch.allclose(norm.denormalize(norm.normalize(x)), x, atol=1e-6)
    assert torch.allclose(norm.normalize(x)[:, 1], (x[:, 1] - 0.456) / 0.224)


def test_crop_is_a_shift_with_zero_fill():
    x = torch.arange(1, 26, dtype=torch.float).view(1, 1, 5, 5).repeat(64, 1, 1, 1)
    out = random_crop_flip(x, pad=1, generator=torch.Generator().manual_seed(0), flip=False)
    assert out.shape == x.shape
    for img in out[:, 0]:
        # each output is the input shifted by (dy, dx) in {-1,0,1}^2, zeros shifted in
        matches = 0
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                ref = torch.zeros(5, 5)
                src = x[0, 0]
                ys, xs = slice(max(0, -dy), 5 - max(0, dy)), slice(max(0, -dx), 5 - max(0, dx))
                yd, xd = slice(max(0, dy), 5 - max(0, -dy)), slice(max(0, dx), 5 - max(0, -dx))
                ref[ys, xs] = src[yd, xd]
                matches += torch.equal(img, ref)
        assert matches == 1
    assert len({tuple(o.flatten().tolist()) for o in out}) > 3


def test_flip_flips_about_half():
    x = torch.arange(4.0).view(1, 1, 1, 4).repeat(200, 1, 1, 1)
    out = random_crop_flip(x, pad=0, generator=torch.Generator().manual_seed(0), flip=True)
    flipped = (out[:, 0, 0, 0] == 3).sum().item()
    assert 60 < flipped < 140
