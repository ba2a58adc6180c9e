import pytest
import torch
import torch.nn as nn

from lisq.models import create_model, get_entry, list_models


def test_at_least_eight_architectures_in_four_families():
    names = list_models()
    assert len(names) >= 8
    assert len({get_entry(n).family for n in names}) >= 4


@pytest.mark.parametrize("name", list_models())
@pytest.mark.parametrize("channels,size,classes", [(1, 28, 10), (3, 32, 100), (3, 64, 7), (1, 17, 10)])
def test_forward_shapes(name, channels, size, classes):
    model = create_model(name, num_classes=classes, in_channels=channels).eval()
    out = model(torch.randn(2, channels, size, size))
    assert out.shape == (2, classes)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", list_models())
def test_every_architecture_has_batchnorm_and_trains(name):
    torch.manual_seed(0)
    model = create_model(name)
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    x, y = torch.randn(8, 1, 28, 28), torch.arange(8) % 10
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_architectures_really_differ():
    """Depth, width, shortcuts, depthwise convs and concatenation: check the structural claims."""
    def convs(m):
        return [c for c in m.modules() if isinstance(c, nn.Conv2d)]

    assert len(convs(create_model("resnet20"))) > len(convs(create_model("resnet8")))
    depthwise = [c for c in convs(create_model("mobilenetv2_050")) if c.groups == c.in_channels > 1]
    assert depthwise
    assert not any(c.groups > 1 for c in convs(create_model("vgg7")))
    wide = sum(p.numel() for p in create_model("mobilenetv2_100").parameters())
    narrow = sum(p.numel() for p in create_model("mobilenetv2_050").parameters())
    assert wide > 2 * narrow
