import warnings

import pytest
import torch
import torch.nn as nn

from lisq.errors import LisqError
from lisq.quant import QuantConfig, prepare_model, quant_layers


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
