"""ONNX export: Q/DQ graph, same logits as the simulation, checked in ONNX Runtime."""

import sys
from pathlib import Path

import onnx
import pytest
import torch

from lisq.data import FASHION_MNIST_NORM, load_fashion_mnist
from lisq.data.transforms import to_unit
from lisq.export import export_onnx, onnx_logits
from lisq.models import create_model, pretrained_path
from lisq.quant import QuantConfig, quant_layers, quantize
from lisq.quant.data import balanced_real_subset

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "quant"))
from quant_fixtures import make_tiny_net  # noqa: E402


def assert_graph_agrees(qmodel, path, x):
    """ONNX Runtime and lisq's simulation: >= 99 % identical predictions, logits within 5 % of their range."""
    with torch.no_grad():
        sim = qmodel(x)
    ort = onnx_logits(path, x)
    assert (sim.argmax(1) == ort.argmax(1)).float().mean() >= 0.99
    assert (sim - ort).abs().max() < 0.05 * sim.abs().max()


@pytest.mark.parametrize("w_bits, a_bits, w_symmetric", [(2, 4, True), (4, 4, False), (8, 8, True)])
def test_graph_has_qdq_and_matches_simulation(tmp_path, w_bits, a_bits, w_symmetric):
    torch.set_num_threads(1)
    model = make_tiny_net()
    calib = torch.randn(64, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    qmodel = quantize(model, calib, QuantConfig(method="mse", w_bits=w_bits, a_bits=a_bits, w_symmetric=w_symmetric))
    path = export_onnx(qmodel, tmp_path / "m.onnx", (1, 16, 16))
    graph = onnx.load(str(path)).graph
    ops = [n.op_type for n in graph.node]
    assert ops.count("DequantizeLinear") >= len(quant_layers(qmodel)) + 1  # every weight + inputs (dedup allowed)
    assert "BatchNormalization" not in ops  # folded
    assert_graph_agrees(qmodel, path, torch.randn(200, 1, 16, 16, generator=torch.Generator().manual_seed(5)))


def _shipped_student():
    for name in ("resnet20", "resnet8", "plaincnn", "resnet14", "mobilenetv2_050"):
        if pretrained_path(name) is not None:
            return name
    return None


@pytest.mark.skipif(_shipped_student() is None, reason="no shipped Fashion-MNIST weights in this checkout yet")
def test_onnxruntime_agrees_on_the_fashion_mnist_test_split(tmp_path):
    """Acceptance: >= 99 % identical predictions and top-1 within 0.3 pt on all 10k test images (W4A4)."""
    torch.set_num_threads(2)
    model = create_model(_shipped_student(), pretrained=True)
    qmodel = quantize(model, balanced_real_subset(256, seed=0), QuantConfig(method="mse", w_bits=4, a_bits=4))
    path = export_onnx(qmodel, tmp_path / "student.onnx")
    images, labels = load_fashion_mnist("test")
    x = FASHION_MNIST_NORM.normalize(to_unit(images))
    with torch.no_grad():
        sim = torch.cat([qmodel(x[i : i + 1000]) for i in range(0, len(x), 1000)])
    ort = onnx_logits(path, x, batch_size=1000)
    agreement = (sim.argmax(1) == ort.argmax(1)).float().mean().item()
    top1_sim = (sim.argmax(1) == labels).float().mean().item()
    top1_ort = (ort.argmax(1) == labels).float().mean().item()
    assert agreement >= 0.99
    assert abs(top1_sim - top1_ort) <= 0.003


class SamePadConv(torch.nn.Conv2d):
    """A conv that pads in forward like TF "same" at stride 2 (more zeros right/bottom than left/top)."""

    def forward(self, x):
        return super().forward(torch.nn.functional.pad(x, (0, 1, 0, 1)))


def test_zero_pads_fold_into_the_convs_and_the_graph_still_agrees(tmp_path):
    from lisq.quant.modules import register_padded_conv

    register_padded_conv(SamePadConv, lambda conv: (0, 1, 0, 1))
    torch.manual_seed(0)
    model = torch.nn.Sequential(SamePadConv(1, 8, 3, stride=2), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
                                SamePadConv(8, 8, 3, stride=2, groups=8), torch.nn.ReLU(),
                                torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 10)).eval()
    calib = torch.randn(32, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    qmodel = quantize(model, calib, QuantConfig(method="minmax", w_bits=8, a_bits=8))
    path = export_onnx(qmodel, tmp_path / "m.onnx", (1, 16, 16))
    graph = onnx.load(str(path)).graph
    convs = [n for n in graph.node if n.op_type == "Conv"]
    assert not [n for n in graph.node if n.op_type == "Pad"] and len(convs) == 2
    pads = [list(onnx.helper.get_attribute_value(a)) for c in convs for a in c.attribute if a.name == "pads"]
    assert pads == [[0, 0, 1, 1], [0, 0, 1, 1]]  # (top, left, bottom, right) = the forward's F.pad
    assert_graph_agrees(qmodel, path, torch.randn(100, 1, 16, 16, generator=torch.Generator().manual_seed(1)))
