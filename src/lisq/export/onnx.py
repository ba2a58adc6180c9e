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


def fold_zero_pads(model) -> int:
    """Fold every constant-zero spatial `Pad` that feeds only one `Conv` into that conv's own `pads`.

    A padded conv (TF "same", e.g. EfficientNet-Lite) exports as DequantizeLinear -> Pad -> Conv, and the
    Pad in between keeps ONNX Runtime from fusing the conv into an integer QLinearConv. Zero padding after
    the dequantize is the conv's own zero padding (QLinearConv pads with the zero point, i.e. real 0), so
    the graph computes the same. Returns how many Pads were folded.
    """
    from onnx import helper

    graph = model.graph
    producer = {out: node for node in graph.node for out in node.output}
    users: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            users.setdefault(name, []).append(node)
    graph_outputs = {o.name for o in graph.output}
    folded = []
    for pad in [n for n in graph.node if n.op_type == "Pad"]:
        attrs = {a.name: helper.get_attribute_value(a) for a in pad.attribute}
        if attrs.get("mode", b"constant") not in (b"constant", "constant") or len(pad.input) < 2:
            continue
        pads = _constant_value(graph, producer, pad.input[1], model.opset_import)
        if pads is None:
            continue
        if len(pad.input) > 2 and pad.input[2]:
            fill = _constant_value(graph, producer, pad.input[2], model.opset_import)
            if fill is None or np.any(fill != 0):
                continue
        amounts = [int(v) for v in pads.reshape(-1)]
        consumers = users.get(pad.output[0], [])
        if len(amounts) != 8 or any(amounts[i] for i in (0, 1, 4, 5)) or min(amounts) < 0:
            continue
        if len(consumers) != 1 or consumers[0].op_type != "Conv" or pad.output[0] in graph_outputs:
            continue
        conv = consumers[0]
        conv_attrs = {a.name: helper.get_attribute_value(a) for a in conv.attribute}
        if conv_attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET") or conv.input[0] != pad.output[0]:
            continue
        own = list(conv_attrs.get("pads", [0, 0, 0, 0]))
        new = [own[0] + amounts[2], own[1] + amounts[3], own[2] + amounts[6], own[3] + amounts[7]]
        kept = [a for a in conv.attribute if a.name != "pads"]
        del conv.attribute[:]
        conv.attribute.extend(kept + [helper.make_attribute("pads", new)])
        conv.input[0] = pad.input[0]
        folded.append(pad)
    for pad in folded:
        graph.node.remove(pad)
    if folded:
        _drop_dead_nodes(graph)
    return len(folded)


def _constant_value(graph, producer: dict, name: str, opsets) -> np.ndarray | None:
    """The value of tensor `name` when it depends on initializers and constants only (else None), computed
    with ONNX's reference evaluator on the subgraph that makes it (the exporter leaves pads as a
    Constant -> Reshape -> Slice -> ... -> Cast chain)."""
    from onnx import helper, numpy_helper
    from onnx.reference import ReferenceEvaluator

    inits = {t.name: t for t in graph.initializer}
    if name in inits:
        return numpy_helper.to_array(inits[name])
    needed, stack, used_inits = [], [name], set()
    graph_inputs = {i.name for i in graph.input}
    while stack:
        tensor = stack.pop()
        if tensor in inits:
            used_inits.add(tensor)
            continue
        if tensor in graph_inputs or tensor not in producer:
            return None
        node = producer[tensor]
        if node not in needed:
            needed.append(node)
            stack.extend(i for i in node.input if i)
    order = [n for n in graph.node if n in needed]  # graph.node is topologically sorted
    sub = helper.make_graph(order, "constant", [], [helper.make_tensor_value_info(name, 0, None)],
                            [inits[i] for i in used_inits])
    try:
        return np.asarray(ReferenceEvaluator(helper.make_model(sub, opset_imports=list(opsets))).run(None, {})[0])
    except Exception:  # noqa: BLE001  (anything the reference evaluator cannot run: leave the Pad alone)
        return None


def _drop_dead_nodes(graph) -> None:
    """Remove nodes none of whose outputs is used (the pads computations left behind by fold_zero_pads)."""
    outputs = {o.name for o in graph.output}
    while True:
        used = {i for n in graph.node for i in n.input} | outputs
        dead = [n for n in graph.node if not any(o in used for o in n.output)]
        if not dead:
            return
        for n in dead:
            graph.node.remove(n)


def export_onnx(qmodel: nn.Module, path: str | Path, input_shape: tuple[int, ...] = (1, 28, 28), opset: int = OPSET) -> Path:
    """Write the ONNX graph of `qmodel` (atomically) and check it with onnx.checker; returns the path.
    Constant zero pads in front of convs are folded into the convs (`fold_zero_pads`)."""
    import onnx

    model = onnx.load_from_string(_export_bytes(qmodel, tuple(input_shape), opset))
    if fold_zero_pads(model):
        onnx.checker.check_model(model)
    data = model.SerializeToString()
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
