import json

import pytest
import torch

from lisq.data.spec import FASHION_MNIST_SPEC as FASHION_MNIST_INPUT
from lisq.data.spec import InputSpec
from lisq.errors import LisqError
from lisq.quant import QuantConfig, load_quantized, quantize, read_meta, save_quantized

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


class _FakeHub:
    """A stand-in torchvision: records how the architecture is requested, never downloads."""

    def __init__(self):
        self.calls = []

    def get_model(self, name, weights=None, num_classes=1000):
        self.calls.append((name, weights, num_classes))
        torch.manual_seed(len(self.calls))
        return torch.nn.Sequential(torch.nn.Conv2d(3, 6, 3), torch.nn.BatchNorm2d(6), torch.nn.ReLU(),
                                   torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(6, num_classes))

    def get_model_weights(self, name):
        raise AssertionError("a QDIR rebuild must not ask for pretrained weights")


def test_hub_model_qdir_rebuilds_with_recorded_classes_and_no_download(tmp_path, monkeypatch, capsys):
    """QDIR of a tv: model: eval --quantized and export rebuild the bare architecture with the recorded class
    count (7, not ImageNet's 1000) and load the QDIR's weights; the hub's pretrained path is never taken."""
    import sys
    import types

    from lisq.cli import main

    hub = _FakeHub()
    fake_tv = types.ModuleType("torchvision")
    fake_tv.models = hub
    monkeypatch.setitem(sys.modules, "torchvision", fake_tv)
    monkeypatch.setitem(sys.modules, "torchvision.models", hub)
    model = hub.get_model("fakenet", num_classes=7).eval()
    spec = InputSpec(3, 16, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), 7, "folder:somewhere")
    calib = torch.randn(16, 3, 16, 16)
    config = QuantConfig(method="minmax", w_bits=8, a_bits=8)
    qmodel = quantize(model, calib, config)
    qdir = save_quantized(tmp_path / "q", qmodel, config, "tv:fakenet", spec)
    hub.calls.clear()
    loaded, meta = load_quantized(qdir)
    assert hub.calls == [("fakenet", None, 7)] and meta["input"]["num_classes"] == 7
    torch.testing.assert_close(loaded(calib), qmodel(calib), rtol=0, atol=0)
    assert main(["export", str(qdir), "--onnx", str(tmp_path / "q.onnx")]) == 0
    assert hub.calls[-1] == ("fakenet", None, 7) and (tmp_path / "q.onnx").stat().st_size > 0
    capsys.readouterr()


def test_old_qdir_without_dataset_reads_as_fashion_mnist(saved):
    qdir, _ = saved
    meta = json.loads((qdir / "config.json").read_text())
    meta["input"] = {k: meta["input"][k] for k in ("channels", "size", "mean", "std")}  # as lisq <= 0.1 wrote it
    (qdir / "config.json").write_text(json.dumps(meta))
    from lisq.quant.qdir import input_spec_of

    assert input_spec_of(read_meta(qdir)) == FASHION_MNIST_INPUT
    load_quantized(qdir)
