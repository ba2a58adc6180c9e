import json

import pytest
import torch

from lisq.errors import LisqError
from lisq.quant import QuantConfig, load_quantized, quantize, read_meta, save_quantized
from lisq.data.spec import FASHION_MNIST_SPEC as FASHION_MNIST_INPUT

MODEL_FILE = '''
import torch.nn as nn
from quant_fixtures import TinyNet

def factory():
    return TinyNet()
'''


@pytest.fixture
def saved(tmp_path, tiny_net, calib, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    model_file = tmp_path / "user_net.py"
    model_file.write_text(MODEL_FILE)
    config = QuantConfig(method="mse", w_bits=4, a_bits=4)
    qmodel = quantize(tiny_net, calib, config)
    qdir = save_quantized(tmp_path / "q", qmodel, config, f"{model_file}:factory", FASHION_MNIST_INPUT)
    return qdir, qmodel


def test_round_trip_reproduces_outputs(saved, calib):
    qdir, qmodel = saved
    loaded, meta = load_quantized(qdir)
    assert meta["quant"]["method"] == "mse" and (qdir / "model_def.py").is_file()
    torch.testing.assert_close(loaded(calib), qmodel(calib), rtol=0, atol=0)


def test_corrupt_config_is_a_user_error(saved):
    qdir, _ = saved
    (qdir / "config.json").write_text("{not json")
    with pytest.raises(LisqError, match="corrupt"):
        load_quantized(qdir)


def test_foreign_directory_is_a_user_error(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model": "resnet20"}))
    with pytest.raises(LisqError, match="not a lisq quantized model"):
        read_meta(tmp_path)
    with pytest.raises(LisqError, match="no config.json"):
        read_meta(tmp_path / "..")
    with pytest.raises(LisqError, match="does not exist"):
        read_meta(tmp_path / "missing")


def test_weights_that_do_not_fit_are_a_user_error(saved):
    qdir, _ = saved
    from safetensors.torch import load_file, save_file

    state = load_file(str(qdir / "model.safetensors"))
    state.pop(next(iter(state)))
    save_file(state, str(qdir / "model.safetensors"))
    with pytest.raises(LisqError, match="does not fit"):
        load_quantized(qdir)
