"""ONNX export of a lisq quantized model: QuantizeLinear/DequantizeLinear pairs around every quantized
input and weight, float everything else, same normalised input and logits as the PyTorch model.

Sub-8-bit values in 8-bit containers: ONNX (opset 13) integer tensors are int8/uint8, so a b-bit
quantizer with grid [qmin, qmax] (b < 8) is written as
    Clip(x, (qmin - z) * s, (qmax - z) * s) -> QuantizeLinear(s, z) -> DequantizeLinear(s, z)
with an int8 zero point (symmetric, grid inside [-128, 127]) or a uint8 one (asymmetric, grid inside
[0, 255]). After the clip, rounding cannot leave [qmin, qmax], so the 8-bit container only ever holds
b-bit values and the graph computes exactly what lisq simulates. Weights are stored in float already
on their grid (learned rounding baked in) and pass through a per-channel (axis 0) Q/DQ pair.
Rounding is half-to-even on both sides (torch.round / ONNX QuantizeLinear).
ONNX Runtime rounds a conv/linear bias to int32 in units of (input step x weight step) (its
WeightBiasQuantization pass); `QuantConfig(bake_bias=True)` puts every bias on that grid (lisq.quant.bias.bake_biases).
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from lisq.errors import LisqError
from lisq.models.checkpoint import atomic_write
from lisq.quant.quantizer import quantizers

OPSET = 13


def _export_bytes(qmodel: nn.Module, input_shape: tuple[int, ...], opset: int) -> bytes:
    qs = [q for _, q in quantizers(qmodel)]
    if not qs:
        raise LisqError("the model has no quantizers; export a model made by `lisq quantize`")
    was_training = qmodel.training
    qmodel.eval()
    for q in qs:
        q.export_mode = True
        q.freeze_export_constants(True)
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                qmodel, (torch.zeros(1, *input_shape),), buffer, dynamo=False, opset_version=opset,
                input_names=["input"], output_names=["logits"],
                dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                do_constant_folding=True,
            )
    finally:
        for q in qs:
            q.export_mode = False
            q.freeze_export_constants(False)
        qmodel.train(was_training)
    return buffer.getvalue()


def export_onnx(qmodel: nn.Module, path: str | Path, input_shape: tuple[int, ...] = (1, 28, 28), opset: int = OPSET) -> Path:
    """Write the ONNX graph of `qmodel` (atomically) and check it with onnx.checker; returns the path."""
    import onnx

    data = _export_bytes(qmodel, tuple(input_shape), opset)
    onnx.checker.check_model(onnx.load_from_string(data))
    path = Path(path)
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))
    return path


def onnx_logits(path: str | Path, inputs: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Run the exported graph in ONNX Runtime (CPU) over `inputs`; returns the logits as a tensor.

    x64quantprecision: on AVX2 CPUs without VNNI, ONNX Runtime's fast u8 x s8 kernels add pairs of
    products in int16 and saturate with 8-bit weights (measured: W8A8 EfficientNet-Lite off by 25 % of
    the logits); the exact kernels check the graph, not that shortcut.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.add_session_config_entry("session.x64quantprecision", "1")
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    outs = []
    for start in range(0, len(inputs), batch_size):
        x = inputs[start : start + batch_size].numpy().astype(np.float32)
        outs.append(torch.from_numpy(session.run(["logits"], {"input": x})[0]))
    return torch.cat(outs)
