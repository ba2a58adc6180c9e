"""Quantization: fake quantizers, quantized layers, BN folding, PTQ (minmax, mse, adaround, brecq), QAT.

    from lisq.quant import QuantConfig, quantize
    qmodel = quantize(model, calib_loader, QuantConfig(method="brecq", w_bits=4, a_bits=4))
"""

from lisq.quant.api import quantize
from lisq.quant.brecq import find_blocks
from lisq.quant.config import QuantConfig
from lisq.quant.fold import fold_batchnorms
from lisq.quant.methods import METHOD_HANDLERS, method_names, register_method
from lisq.quant.modules import QuantConv2d, QuantLinear, quant_layers
from lisq.quant.prepare import prepare_model
from lisq.quant.qdir import load_quantized, read_meta, save_quantized
from lisq.quant.quantizer import FakeQuantizer, fake_quantize, quant_range, set_quant_state

__all__ = [
    "METHOD_HANDLERS",
    "FakeQuantizer",
    "QuantConfig",
    "QuantConv2d",
    "QuantLinear",
    "fake_quantize",
    "find_blocks",
    "fold_batchnorms",
    "load_quantized",
    "method_names",
    "prepare_model",
    "quant_layers",
    "quant_range",
    "quantize",
    "read_meta",
    "register_method",
    "save_quantized",
    "set_quant_state",
]
