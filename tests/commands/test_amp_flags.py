"""`--amp` and `--channels-last` on `lisq synth` and `lisq quantize`: resolved configs and the fp16-on-CPU refusal."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from lisq.cli import main
from lisq.quant import load_quantized

TINY = Path(__file__).resolve().parents[1] / "school" / "tiny_models.py"


@pytest.fixture
def image_dir(tmp_path):
    rng = np.random.default_rng(0)
    for c in range(2):
        (tmp_path / "imgs" / f"{c:02d}").mkdir(parents=True)
        for i in range(4):
            Image.fromarray(rng.integers(0, 255, (28, 28), dtype=np.uint8)).save(tmp_path / "imgs" / f"{c:02d}" / f"{i}.png")
    return tmp_path / "imgs"


def synth_argv(out, *extra):
    return ["synth", "--generator", "deepinversion", "--teachers", f"{TINY}:tiny_a", "--num-images", "4",
            "--batch-size", "4", "--iters", "3", "--out", str(out), "--quiet", "--device", "cpu", *extra]


def quantize_argv(data, out, *extra):
    return ["quantize", "--model", f"{TINY}:tiny_a", "--data", str(data), "--method", "brecq", "--iters", "3",
            "--num-samples", "8", "--out", str(out), "--quiet", *extra]


@pytest.mark.parametrize("verb", ["synth", "quantize"])
def test_fp16_on_cpu_is_one_line_and_exit_2(verb, tmp_path, image_dir, capsys):
    argv = synth_argv(tmp_path / "d", "--amp", "fp16") if verb == "synth" else quantize_argv(image_dir, tmp_path / "q", "--amp", "fp16")
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("lisq: error:") and "fp16" in err[0] and "use --amp bf16 on CPU" in err[0]
    assert not (tmp_path / "d").exists() and not (tmp_path / "q").exists()


def test_synth_flags_reach_the_resolved_config(tmp_path, capsys):
    assert main(synth_argv(tmp_path / "d", "--amp", "bf16", "--channels-last")) == 0
    written = yaml.safe_load((tmp_path / "d" / "config.yaml").read_text())["synth"]
    assert written["amp"] == "bf16" and written["channels_last"] is True


def test_quantize_flags_reach_the_qdir_config(tmp_path, image_dir, capsys):
    assert main(quantize_argv(image_dir, tmp_path / "q", "--amp", "bf16", "--channels-last")) == 0
    meta = json.loads((tmp_path / "q" / "config.json").read_text())
    assert meta["quant"]["amp"] == "bf16" and meta["quant"]["channels_last"] is True and meta["device"] == "cpu"
    qmodel, _ = load_quantized(tmp_path / "q")  # NCHW weights on disk, loads strictly
    assert torch.isfinite(qmodel(torch.randn(2, 1, 28, 28))).all()
