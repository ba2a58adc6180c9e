import pytest
import torch.nn as nn

from lisq.errors import LisqError
from lisq.models import create_model, list_models, register_model


def test_unknown_name_lists_known():
    with pytest.raises(LisqError, match="unknown model 'resnet999'.*resnet20"):
        create_model("resnet999")


def test_register_and_filter_by_family():
    @register_model("testfam", name="test_only_net")
    def factory(num_classes=10, in_channels=1):
        return nn.Sequential(nn.Conv2d(in_channels, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.LazyLinear(num_classes))

    assert "test_only_net" in list_models("testfam")
    assert isinstance(create_model("test_only_net"), nn.Sequential)
    with pytest.raises(ValueError, match="registered twice"):
        register_model("testfam", name="test_only_net")(factory)


def test_pretrained_without_weights_is_clear():
    @register_model("testfam", name="test_unweighted_net")
    def factory(num_classes=10, in_channels=1):
        return nn.Sequential(nn.Conv2d(in_channels, 4, 3), nn.BatchNorm2d(4))

    with pytest.raises(LisqError, match="no pretrained weights"):
        create_model("test_unweighted_net", pretrained=True)


def test_pretrained_with_wrong_shape_is_clear():
    with pytest.raises(LisqError, match="asked for 100"):
        create_model("resnet8", num_classes=100, pretrained=True)


def test_list_sorted():
    names = list_models()
    assert names == sorted(names)
