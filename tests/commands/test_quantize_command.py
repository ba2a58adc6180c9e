"""`lisq quantize`, `lisq eval --quantized`, `lisq export` end to end on a tiny user model."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from lisq.cli import main

USER_MODEL = '''
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, in_channels=1):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8), nn.GELU())
        self.a = nn.Conv2d(8, 4, 1)
        self.b = nn.Conv2d(8, 4, 3, padding=1)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        x = self.stem(x)
        x = torch.cat([self.a(x), torch.nn.functional.gelu(self.b(x))], 1)
        return self.fc(x.mean((2, 3)))


def factory():
    torch.manual_seed(0)
    return Net()


def rgb_factory():
    return Net(in_channels=3)


def no_layers():
    return nn.Sequential(nn.Flatten(), nn.Softmax(1))
'''


@pytest.fixture
def user_model(tmp_path):
    path = tmp_path / "user_net.py"
    path.write_text(USER_MODEL)
    return path


@pytest.fixture
def image_dir(tmp_path):
    rng = np.random.default_rng(0)
    for c in range(3):
        folder = tmp_path / "synth" / f"{c:03d}"
        folder.mkdir(parents=True)
        for i in range(4):
            Image.fromarray(rng.integers(0, 255, (28, 28), dtype=np.uint8)).save(folder / f"{i:05d}.png")
    return tmp_path / "synth"


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("lisq: error:"), err
    return err[0]


def test_quantize_eval_export_round_trip(tmp_path, user_model, image_dir, capsys):
    qdir = tmp_path / "q"
    rc = main(["quantize", "--model", f"{user_model}:factory", "--data", str(image_dir), "--method", "mse",
               "--w-bits", "4", "--a-bits", "4", "--num-samples", "8", "--out", str(qdir), "--quiet", "--eval"])
    assert rc == 0
    printed = capsys.readouterr().out.strip().splitlines()
    direct = json.loads(printed[-1])
    meta = json.loads((qdir / "config.json").read_text())
    assert meta["quant"]["w_bits"] == 4 and meta["calibration"]["num_samples"] == 8

    assert main(["eval", "--quantized", str(qdir), "--split", "test", "--json"]) == 0
    reloaded = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert reloaded["top1"] == direct["top1"] and reloaded["n"] == 10000

    onnx_path = tmp_path / "model.onnx"
    assert main(["export", str(qdir), "--onnx", str(onnx_path), "--verify", "500"]) == 0
    check = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert onnx_path.is_file() and check["prediction_agreement"] >= 0.99


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--w-bits", "9"], "2 to 8"),
        (["--a-bits", "1"], "2 to 8"),
        (["--data", "MISSING"], "neither 'real', 'gaussian' nor an existing directory"),
        (["--data", "EMPTY"], "no images"),
        (["--model", "RGB"], "cannot take input"),
        (["--model", "NOLAYERS"], "no nn.Conv2d or nn.Linear"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, user_model, image_dir, capsys, extra, message):
    (tmp_path / "empty").mkdir()
    subst = {"MISSING": str(tmp_path / "nope"), "EMPTY": str(tmp_path / "empty"),
             "RGB": f"{user_model}:rgb_factory", "NOLAYERS": f"{user_model}:no_layers"}
    extra = [subst.get(e, e) for e in extra]
    args = {"--model": f"{user_model}:factory", "--data": str(image_dir), "--out": str(tmp_path / "q")}
    for flag, value in zip(extra[::2], extra[1::2], strict=False):
        args[flag] = value
    argv = ["quantize", "--method", "minmax", "--num-samples", "4", "--quiet"] + [x for kv in args.items() for x in kv]
    assert main(argv) == 2
    assert message in _one_error_line(capsys)


def test_corrupt_or_foreign_qdir_is_one_line_and_exit_2(tmp_path, capsys):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "config.json").write_text(json.dumps({"hello": 1}))
    assert main(["eval", "--quantized", str(foreign)]) == 2
    assert "not a lisq quantized model" in _one_error_line(capsys)
    (foreign / "config.json").write_text("\x00garbage")
    assert main(["export", str(foreign), "--onnx", str(tmp_path / "m.onnx")]) == 2
    assert "corrupt" in _one_error_line(capsys)


def test_gaussian_and_real_calibration_sources():
    from lisq.quant.data import balanced_real_subset, calibration_inputs

    real = balanced_real_subset(40, seed=0)
    assert real.shape == (40, 1, 28, 28)
    assert torch.equal(real, balanced_real_subset(40, seed=0))
    noise = calibration_inputs("gaussian", 16, seed=2)
    assert noise.shape == (16, 1, 28, 28) and abs(float(noise.mean())) < 0.2
