"""`quantize(model, calib, QuantConfig(...))`: the one entry point; a registry maps method -> handler."""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn as nn

from lisq.precision import channels_last_input, require_amp_device, to_channels_last, to_contiguous
from lisq.quant.bias import bake_biases, correct_biases, float_output_means
from lisq.quant.brecq import find_blocks, layer_blocks, reconstruct
from lisq.quant.calib import calibrate, collect_inputs, init_act_quantizers, init_weight_quantizers
from lisq.quant.config import QuantConfig
from lisq.quant.methods import METHOD_HANDLERS, register_method
from lisq.quant.modules import quant_layers
from lisq.quant.prepare import prepare_model
from lisq.quant.qat import train_qat
from lisq.quant.quantizer import set_quant_state


def _init_ranges(qmodel: nn.Module, calib: torch.Tensor, config: QuantConfig) -> None:
    init_weight_quantizers(qmodel, config.init, config.mse_p)
    set_quant_state(qmodel, weights=True, activations=True)
    init_act_quantizers(qmodel, calib, config.init, config.mse_p)


@register_method("minmax")
def _minmax(qmodel, _fp, calib, config, progress):
    calibrate(qmodel, calib, "minmax")
    return {}


@register_method("mse")
def _mse(qmodel, _fp, calib, config, progress):
    calibrate(qmodel, calib, "mse", config.mse_p)
    return {}


@register_method("adaround")
def _adaround(qmodel, _fp, calib, config, progress):
    _init_ranges(qmodel, calib, config)
    blocks = layer_blocks(qmodel, calib[:1])
    return {"blocks": blocks, "losses": reconstruct(qmodel, calib, config, blocks, False, 0.0, progress)}


@register_method("brecq")
def _brecq(qmodel, _fp, calib, config, progress):
    _init_ranges(qmodel, calib, config)
    blocks = find_blocks(qmodel, calib[:1])
    return {"blocks": blocks, "losses": reconstruct(qmodel, calib, config, blocks, True, config.qdrop, progress)}


@register_method("qat")
def _qat(qmodel, fp, calib, config, progress):
    _init_ranges(qmodel, calib, config)
    return {"epoch_losses": train_qat(qmodel, fp, calib, config, progress)}


@torch.no_grad()
def bake_weights(qmodel: nn.Module) -> None:
    """Store every weight as its quantized value, so the saved and exported weights lie on their grid."""
    for _, layer in quant_layers(qmodel):
        layer.weight.copy_(layer.weight_quantizer(layer.weight))


def quantize(
    model: nn.Module,
    calib: torch.Tensor | Iterable,
    config: QuantConfig | None = None,
    num_samples: int | None = None,
    progress: bool = False,
) -> nn.Module:
    """Quantized copy of `model` (the original is untouched), calibrated on `calib`.

    `calib`: a tensor of model inputs, a DataLoader, or any iterable of x or (x, label) batches; labels
    are never used. The result carries `lisq_report` (layer bits, folded BNs, float layers, diagnostics).
    It runs where `model` and `calib` are (move both to a GPU first); `config.amp` = "fp16" needs CUDA.
    With `config.channels_last` the copy is tuned in NHWC order and returned in the default order.
    """
    config = config or QuantConfig()
    calib = collect_inputs(calib, num_samples)
    param = next(model.parameters(), None)
    require_amp_device(config.amp, param.device if param is not None else calib.device)
    torch.manual_seed(config.seed)
    model = model.eval()
    qmodel, report = prepare_model(model, config, calib[:1])
    float_means = float_output_means(qmodel, calib) if config.bias_correction else None
    if config.channels_last:
        to_channels_last(qmodel)
        calib = channels_last_input(calib)
    info = METHOD_HANDLERS[config.method](qmodel, model, calib, config, progress)
    if float_means is not None:
        info["bias_correction"] = correct_biases(qmodel, calib, float_means)
    set_quant_state(qmodel, weights=True, activations=True)
    bake_weights(qmodel)
    if config.bake_bias:
        bake_biases(qmodel)  # on their int32 grid: what integer backends and ONNX Runtime compute
    if config.channels_last:
        to_contiguous(qmodel)  # safetensors, ONNX export and users expect NCHW weights
    qmodel.eval()
    qmodel.lisq_report = report
    qmodel.lisq_info = info
    return qmodel
