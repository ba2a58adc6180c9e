"""The CLI contract: JSON shapes, and one clear line + exit 2 on every bad input."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from lisq.cli import main
from lisq.data import FASHION_MNIST_NORM, TensorBatches, load_fashion_mnist
from lisq.metrics import evaluate
from lisq.models import create_model, save_weights
from lisq.models.resolve import build_model


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_zoo_list_json(capsys):
    code, out, _ = run_cli(capsys, "zoo", "list", "--json")
    rows = json.loads(out)
    assert code == 0 and len(rows) >= 8
    for row in rows:
        assert set(row) >= {"name", "family", "params", "pretrained", "test_top1"}
        assert isinstance(row["pretrained"], bool) and row["params"] > 0
    assert len({r["family"] for r in rows if r["pretrained"]}) >= 4


def test_zoo_list_table(capsys):
    code, out, _ = run_cli(capsys, "zoo", "list")
    assert code == 0 and "resnet20" in out and "family" in out


def test_eval_registry_model_json(capsys):
    code, out, _ = run_cli(capsys, "eval", "--model", "resnet8", "--split", "test", "--limit", "300", "--json")
    result = json.loads(out.strip().splitlines()[-1])
    assert code == 0 and result["model"] == "resnet8" and result["n"] == 300
    assert 0.8 < result["top1"] <= 1.0


USER_NET = textwrap.dedent(
    """
    import torch.nn as nn

    def factory():
        return nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.GELU(),
            nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(128, 10),
        )
    """
)


def test_eval_user_factory_reproduces_accuracy(tmp_path, capsys):
    """A model outside the registry: CLI accuracy equals the in-process accuracy on the same images."""
    (tmp_path / "net.py").write_text(USER_NET)
    spec = f"{tmp_path / 'net.py'}:factory"
    torch.manual_seed(0)
    model = build_model(spec)
    x, y = load_fashion_mnist("test")
    x, y = x[:400], y[:400]
    # quick fit so accuracy is far from chance and a wrong load would show
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    model.train()
    for xb, yb in TensorBatches(*load_fashion_mnist("train"), FASHION_MNIST_NORM, 256):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(xb), yb).backward()
        opt.step()
        if opt.state[next(iter(model.parameters()))]["step"] >= 30:
            break
    save_weights(model, tmp_path / "w.safetensors")
    expected = evaluate(model, TensorBatches(x, y, FASHION_MNIST_NORM, 500))["top1"]
    code, out, _ = run_cli(capsys, "eval", "--model", spec, "--weights", str(tmp_path / "w.safetensors"),
                           "--limit", "400", "--json")
    assert code == 0
    got = json.loads(out.strip().splitlines()[-1])
    assert got["top1"] == expected and got["top1"] > 0.4


@pytest.fixture
def bad_inputs(tmp_path):
    (tmp_path / "net.py").write_text(USER_NET)
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"\x00" * 64)
    wrong = tmp_path / "wrong.safetensors"
    save_weights(create_model("resnet14"), wrong)
    return {
        "missing weights": ["--model", "resnet8", "--weights", str(tmp_path / "nope.safetensors")],
        "corrupt weights": ["--model", "resnet8", "--weights", str(corrupt)],
        "mismatched keys": ["--model", "resnet8", "--weights", str(wrong)],
        "unknown model": ["--model", "resnet999"],
        "missing factory": ["--model", f"{tmp_path / 'net.py'}:nofactory"],
        "missing file": ["--model", f"{tmp_path / 'nope.py'}:factory"],
        "wrong input": ["--model", "lisq.models.resnet:resnet8", "--weights", str(wrong)],
    }


@pytest.mark.parametrize(
    "case", ["missing weights", "corrupt weights", "mismatched keys", "unknown model", "missing factory", "missing file"]
)
def test_eval_bad_input_one_line_exit_2(capsys, bad_inputs, case):
    code, out, err = run_cli(capsys, "eval", *bad_inputs[case], "--json")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lisq: error:")
    assert "Traceback" not in err and out == ""


def test_real_process_prints_no_traceback(bad_inputs):
    proc = subprocess.run(
        [sys.executable, "-m", "lisq", "eval", *bad_inputs["corrupt weights"]],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_reader_that_closes_stdout_gets_no_traceback():
    """`lisq zoo list | head -1`: the reader goes away before lisq writes; lisq stops quietly (exit 141)."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody will ever read: the first write fails with EPIPE
    proc = subprocess.run([sys.executable, "-m", "lisq", "zoo", "list", "--json"], stdout=write_end,
                          stderr=subprocess.PIPE, text=True, timeout=120)
    os.close(write_end)
    assert proc.returncode == 141
    assert proc.stderr == ""


def test_model_that_cannot_take_input(tmp_path, capsys):
    (tmp_path / "rgb.py").write_text("import torch.nn as nn\n\ndef factory():\n    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.LazyLinear(10))\n")
    code, _, err = run_cli(capsys, "eval", "--model", f"{tmp_path / 'rgb.py'}:factory", "--limit", "10")
    assert code == 2 and "cannot take 1x28x28" in err


def test_zoo_train_writes_weights_and_record(tmp_path, capsys):
    code, out, _ = run_cli(capsys, "zoo", "train", "plaincnn", "--epochs", "1", "--limit", "512", "--out", str(tmp_path), "--quiet")
    assert code == 0
    record = json.loads((tmp_path / "plaincnn.fmnist.json").read_text())
    assert record["epochs"] == 1 and record["config"]["limit"] == 512 and record["test_n"] == 10000
    model = build_model("plaincnn", str(tmp_path / "plaincnn.fmnist.safetensors"))
    x, y = load_fashion_mnist("test")
    acc = evaluate(model, TensorBatches(x, y, FASHION_MNIST_NORM, 1000))["top1"]
    assert acc == record["test_top1"]
    assert json.loads(out.strip().splitlines()[-1])["arch"] == "plaincnn"


def test_zoo_train_unknown_arch(capsys, tmp_path):
    code, _, err = run_cli(capsys, "zoo", "train", "nope", "--out", str(tmp_path))
    assert code == 2 and "unknown model" in err


def test_eval_on_image_folder_top5(tmp_path, capsys):
    """--val DIR: class folders sorted to indices, 3-channel non-standard normalisation, top-5 for > 10 classes."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in range(12):
        (tmp_path / "val" / f"class{c:02d}").mkdir(parents=True)
        for i in range(2):
            Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(tmp_path / "val" / f"class{c:02d}" / f"{i}.png")
    (tmp_path / "net.py").write_text(
        "import torch.nn as nn\n\ndef factory():\n    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(),"
        " nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 12))\n"
    )
    code, out, err = run_cli(capsys, "eval", "--model", f"{tmp_path / 'net.py'}:factory", "--val", str(tmp_path / "val"),
                             "--input-size", "32", "--mean", "0.3,0.3,0.3", "--std", "0.5,0.5,0.5", "--num-classes", "12", "--json")
    assert code == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["n"] == 24 and 0 <= result["top1"] <= result["top5"] <= 1


def test_eval_non_fmnist_model_needs_val(capsys):
    code, _, err = run_cli(capsys, "eval", "--model", "lisq.models.resnet:resnet8", "--input-size", "64")
    assert code == 2 and "--val DIR" in err


def test_hub_model_without_extra_is_one_line(capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "timm", None)  # simulate the optional extra being absent
    code, _, err = run_cli(capsys, "eval", "--model", "timm:resnet18", "--limit", "10")
    assert code == 2 and "lisq[zoo]" in err


def test_hub_model_uses_local_cache_only(capsys, monkeypatch, tmp_path):
    """A fake torchvision whose pretrained weights are not in the torch cache: one clear line, no download
    attempted (the model is never built), and lisq leaves os.environ alone."""
    import os
    import sys
    import types

    calls = []

    def get_model(name, weights=None, num_classes=1000):
        calls.append((name, weights, num_classes))
        raise AssertionError("must not be called without cached weights")

    weights = types.SimpleNamespace(url="https://example.invalid/resnet18-f37072fd.pth", meta={"categories": [0] * 1000})
    fake_tv = types.ModuleType("torchvision")
    fake_tv.models = types.SimpleNamespace(get_model=get_model, get_model_weights=lambda name: types.SimpleNamespace(DEFAULT=weights))
    monkeypatch.setitem(sys.modules, "torchvision", fake_tv)
    monkeypatch.setitem(sys.modules, "torchvision.models", fake_tv.models)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv("LISQ_ALLOW_DOWNLOAD", raising=False)
    env_before = dict(os.environ)
    code, _, err = run_cli(capsys, "eval", "--model", "tv:resnet18", "--limit", "10")
    assert code == 2 and "LISQ_ALLOW_DOWNLOAD" in err and "torch cache" in err and calls == []
    assert dict(os.environ) == env_before
