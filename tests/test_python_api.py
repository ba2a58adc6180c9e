"""The README's Python example, at tiny sizes: every stage takes plain objects."""

import torch

from lisq.data import FASHION_MNIST_NORM, SyntheticDataset, TensorBatches, load_fashion_mnist
from lisq.metrics import evaluate
from lisq.models import create_model
from lisq.quant import QuantConfig, quantize
from lisq.school import SynthConfig, synthesize


def test_readme_pipeline(tmp_path):
    synthesize(tmp_path / "lis", SynthConfig(generator="lis", num_images=8, batch_size=4, iters=2), quiet=True)
    student = create_model("mobilenetv2_050", pretrained=True)
    calib = SyntheticDataset(tmp_path / "lis", FASHION_MNIST_NORM)
    assert len(calib) == 8
    qmodel = quantize(student, calib, QuantConfig(method="brecq", w_bits=4, a_bits=4, iters=2), progress=False)
    x, y = load_fashion_mnist("test")
    result = evaluate(qmodel, TensorBatches(x[:200], y[:200], FASHION_MNIST_NORM))
    assert result["n"] == 200 and 0.0 <= result["top1"] <= 1.0
    assert any(type(m).__name__.startswith("Quant") for m in qmodel.modules())
    assert torch.isfinite(qmodel(x[:2].float() / 255)).all()
