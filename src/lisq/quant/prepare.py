"""Turn any nn.Module built from Conv2d / Linear / BN / activations into a fake-quantized copy.

Which layers are replaced: see lisq.quant.modules (exact Conv2d / Linear and registered padded convs).
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass, field

import torch
import torch.nn as nn

from lisq.errors import LisqError
from lisq.quant.config import QuantConfig
from lisq.quant.fold import _set, fold_batchnorms
from lisq.quant.modules import QUANT_LAYERS, quant_class
from lisq.quant.quantizer import FakeQuantizer


@dataclass
class PrepareReport:
    """What prepare_model did: layer -> (weight bits, input bits), folded BNs, layers left float."""

    layer_bits: dict[str, tuple[int, int]] = field(default_factory=dict)
    folded: list[tuple[str, str]] = field(default_factory=list)
    float_layers: list[str] = field(default_factory=list)


@torch.no_grad()
def execution_order(model: nn.Module, example_input: torch.Tensor, names: list[str]) -> list[str]:
    """Names of the given submodules in the order one forward pass calls them (uncalled ones dropped)."""
    order: list[str] = []
    handles = []
    for name in names:
        def hook(_m, _inp, name=name):
            if name not in order:
                order.append(name)
        handles.append(model.get_submodule(name).register_forward_pre_hook(hook))
    try:
        model(example_input)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise LisqError(
            f"the model cannot take input of shape {tuple(example_input.shape[1:])} ({first}); "
            "check the model's input size and channels against the data"
        ) from None
    finally:
        for h in handles:
            h.remove()
    return order


def assign_bits(order: list[str], config: QuantConfig) -> dict[str, tuple[int, int]]:
    bits = {name: (config.w_bits, config.a_bits) for name in order}
    if config.first_last_bits is not None and order:
        for name in (order[0], order[-1]):
            bits[name] = (config.first_last_bits, config.first_last_bits)
    return bits


def float_leftovers(model: nn.Module) -> list[str]:
    """Leaf modules that own parameters but are not quantized (unfolded BN, LayerNorm, Conv1d, ...)."""
    out = []
    for name, module in model.named_modules():
        if isinstance(module, QUANT_LAYERS + (FakeQuantizer,)):
            continue
        if any(True for _ in module.parameters(recurse=False)):
            out.append(f"{name} ({type(module).__name__})")
    return out


def prepare_model(
    model: nn.Module,
    config: QuantConfig,
    example_input: torch.Tensor | None = None,
    layer_bits: dict[str, tuple[int, int]] | None = None,
    warn: bool = True,
) -> tuple[nn.Module, PrepareReport]:
    """Copy `model`, fold BN, swap Conv2d/Linear for quantized versions; the original is untouched.

    Bits per layer come from `layer_bits` when given (loading a saved model), else from the config,
    with the first and last layer found by running `example_input` through the model (module
    registration order when no example is given).
    """
    qmodel = copy.deepcopy(model).eval()
    report = PrepareReport()
    report.folded = fold_batchnorms(qmodel) if config.fold_bn else []
    candidates = [n for n, m in qmodel.named_modules() if quant_class(m) is not None and n]
    if not candidates:
        raise LisqError(
            f"{type(model).__name__} has no nn.Conv2d or nn.Linear layer to quantize; "
            "lisq quantizes models built from Conv2d/Linear (+ BN and activations)"
        )
    if layer_bits is None:
        order = execution_order(qmodel, example_input, candidates) if example_input is not None else candidates
        if not order:
            raise LisqError("no Conv2d/Linear layer runs in the model's forward pass; nothing to quantize")
        layer_bits = assign_bits(order, config)
    for name in candidates:
        if name not in layer_bits:
            continue  # never called in forward: leave it float
        layer = qmodel.get_submodule(name)
        w_bits, a_bits = layer_bits[name]
        quant = quant_class(layer).from_float(
            layer, w_bits, a_bits, config.w_symmetric, config.w_per_channel, config.a_symmetric
        )
        _set(qmodel, name, quant)
    report.layer_bits = {n: tuple(b) for n, b in layer_bits.items()}
    report.float_layers = float_leftovers(qmodel)
    if warn and report.float_layers:
        warnings.warn(
            f"{len(report.float_layers)} layers stay float (not quantizable): " + ", ".join(report.float_layers),
            stacklevel=2,
        )
    return qmodel, report
