import warnings

import pytest
import torch
import torch.nn as nn

from lisq.errors import LisqError
from lisq.quant import QuantConfig, QuantConv2d, prepare_model, quant_layers, set_quant_state
from lisq.quant.modules import QUANT_LAYERS, register_padded_conv


def test_first_and_last_layer_get_first_last_bits(tiny_net, calib):
    qmodel, report = prepare_model(tiny_net, QuantConfig(w_bits=3, a_bits=4), calib[:1])
    names = [n for n, _ in quant_layers(qmodel)]
    assert report.layer_bits["stem.0"] == (8, 8)
    assert report.layer_bits["fc"] == (8, 8)
    body = [report.layer_bits[n] for n in names if n not in ("stem.0", "fc")]
    assert body and all(b == (3, 4) for b in body)
    no_special, _ = prepare_model(tiny_net, QuantConfig(w_bits=3, a_bits=4, first_last_bits=None), calib[:1])
    assert all(layer.bits == (3, 4) for _, layer in quant_layers(no_special))


def test_original_model_untouched(tiny_net, calib):
    before = {k: v.clone() for k, v in tiny_net.state_dict().items()}
    prepare_model(tiny_net, QuantConfig(), calib[:1])
    assert all(torch.equal(before[k], v) for k, v in tiny_net.state_dict().items())


def test_unquantizable_layers_listed_in_one_warning(calib):
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.GroupNorm(2, 4), nn.ReLU(), nn.Flatten(), nn.LazyLinear(3))
    model(calib[:1])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        prepare_model(model, QuantConfig(), calib[:1])
    messages = [str(w.message) for w in caught if "stay float" in str(w.message)]
    assert len(messages) == 1 and "GroupNorm" in messages[0]


def test_model_without_quantizable_layer_is_a_user_error(calib):
    with pytest.raises(LisqError, match="no nn.Conv2d or nn.Linear"):
        prepare_model(nn.Sequential(nn.ReLU(), nn.Flatten()), QuantConfig(), calib[:1])


def test_input_the_model_cannot_take_is_a_user_error(tiny_net):
    with pytest.raises(LisqError, match="cannot take input of shape"):
        prepare_model(tiny_net, QuantConfig(), torch.randn(1, 3, 16, 16))


def test_config_round_trips_and_validates():
    cfg = QuantConfig(method="adaround", w_bits=2, a_bits=4, round_beta=(10, 3))
    assert QuantConfig.from_dict(cfg.to_dict()) == cfg
    for bad in ({"w_bits": 1}, {"a_bits": 9}, {"method": "gptq"}, {"iters": 0}):
        with pytest.raises(LisqError):
            QuantConfig(**bad)
    with pytest.raises(LisqError, match="unknown quantization config keys"):
        QuantConfig.from_dict({"bits": 4})


class SamePadConv(nn.Conv2d):
    """A TF-style conv: asymmetric zero padding in forward, which nn.Conv2d's own padding cannot say."""

    def __init__(self, *args, pad=(0, 1, 0, 1), **kwargs):
        super().__init__(*args, **kwargs)
        self.pad = pad

    def forward(self, x):
        return super().forward(nn.functional.pad(x, self.pad))


class OddConv(SamePadConv):
    """Not registered: lisq cannot know what its forward does."""


def _padded_net(conv_class):
    torch.manual_seed(0)
    model = nn.Sequential(conv_class(1, 4, 3, stride=2, bias=False), nn.BatchNorm2d(4), nn.ReLU6(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    with torch.no_grad():
        model[1].running_mean.uniform_(-1, 1)
        model[1].running_var.uniform_(0.5, 2)
    return model.eval()


def test_registered_padded_conv_folds_and_keeps_its_padding(calib):
    register_padded_conv(SamePadConv, lambda conv: conv.pad)
    model = _padded_net(SamePadConv)
    qmodel, report = prepare_model(model, QuantConfig(), calib[:1])
    assert report.folded == [("0", "1")] and report.float_layers == []
    assert isinstance(qmodel[0], QuantConv2d) and qmodel[0].input_padding == (0, 1, 0, 1)
    set_quant_state(qmodel, weights=False, activations=False)
    with torch.no_grad():
        torch.testing.assert_close(qmodel(calib), model(calib), rtol=1e-5, atol=1e-5)


def test_unregistered_conv_subclass_stays_float(calib):
    """Its forward may do anything (weight standardisation, ...): neither folded nor quantized, and said so."""
    with pytest.warns(UserWarning, match="OddConv"):
        qmodel, report = prepare_model(_padded_net(OddConv), QuantConfig(), calib[:1])
    assert report.folded == [] and not isinstance(qmodel[0], QUANT_LAYERS)
