"""Fold BatchNorm into the conv/linear layer that feeds it (inference statistics).

Pairs are found from the model's graph (torch.fx) when it traces, else from nn.Sequential neighbours:
a BN qualifies when its only input is the output of a Conv2d/Linear that feeds nothing else. The BN
module is replaced by nn.Identity, so the model's own forward code runs unchanged afterwards.
BNs that follow something else (pre-activation DenseNet, BN after a concat) stay float.
The trace keeps every layer lisq knows (lisq.quant.modules.float_kind) as one call: a registered
nn.Conv2d subclass that pads in forward would otherwise dissolve into pad + F.conv2d, and its BN
would look like it follows a function, not a layer.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from torch import fx

from lisq.quant.modules import float_kind

FOLDABLE = {nn.Conv2d: nn.BatchNorm2d, nn.Linear: nn.BatchNorm1d}


def _foldable(layer: nn.Module, bn: nn.Module) -> bool:
    kind = float_kind(layer)
    return kind is not None and isinstance(bn, FOLDABLE[kind])


def _get(model: nn.Module, name: str) -> nn.Module:
    return model.get_submodule(name) if name else model


def _set(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(_get(model, parent), child, module)


class LayerLeafTracer(fx.Tracer):
    """torch.fx tracer that records every layer lisq knows (float_kind) as one call_module node."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return float_kind(m) is not None or super().is_leaf_module(m, module_qualified_name)


def _pairs_fx(model: nn.Module) -> list[tuple[str, str]] | None:
    try:
        graph = LayerLeafTracer().trace(model)
    except Exception:  # models with data-dependent control flow do not trace; fall back
        return None
    pairs = []
    for node in graph.nodes:
        if node.op != "call_module":
            continue
        bn = _get(model, node.target)
        if not isinstance(bn, nn.BatchNorm1d | nn.BatchNorm2d) or len(node.args) != 1:
            continue
        src = node.args[0]
        if not isinstance(src, fx.Node) or src.op != "call_module" or len(src.users) != 1:
            continue
        if _foldable(_get(model, src.target), bn):
            pairs.append((src.target, node.target))
    return pairs


def _pairs_sequential(model: nn.Module) -> list[tuple[str, str]]:
    pairs = []
    for name, module in model.named_modules():
        if not isinstance(module, nn.Sequential):
            continue
        children = list(module.named_children())
        for (a_name, a), (b_name, b) in zip(children, children[1:], strict=False):
            if _foldable(a, b):
                prefix = f"{name}." if name else ""
                pairs.append((prefix + a_name, prefix + b_name))
    return pairs


def find_bn_pairs(model: nn.Module) -> list[tuple[str, str]]:
    """(layer name, BN name) pairs that can be folded; a layer or BN used twice is never folded."""
    pairs = _pairs_fx(model)
    if pairs is None:
        pairs = _pairs_sequential(model)
    seen_layers = [p[0] for p in pairs]
    seen_bns = [p[1] for p in pairs]
    return [p for p in pairs if seen_layers.count(p[0]) == 1 and seen_bns.count(p[1]) == 1]


@torch.no_grad()
def fold_bn_into(layer: nn.Module, bn: nn.modules.batchnorm._BatchNorm) -> None:
    """w' = w * g / sqrt(var + eps) per output channel; b' = (b - mean) * g / sqrt(var + eps) + beta."""
    var, mean = bn.running_var, bn.running_mean
    gamma = bn.weight if bn.affine else torch.ones_like(var)
    beta = bn.bias if bn.affine else torch.zeros_like(mean)
    factor = gamma / torch.sqrt(var + bn.eps)
    layer.weight.mul_(factor.view(-1, *([1] * (layer.weight.dim() - 1))))
    bias = layer.bias if layer.bias is not None else torch.zeros_like(mean)
    new_bias = (bias - mean) * factor + beta
    if layer.bias is None:
        layer.bias = nn.Parameter(new_bias.clone())
    else:
        layer.bias.copy_(new_bias)


def fold_batchnorms(model: nn.Module) -> list[tuple[str, str]]:
    """Fold every foldable BN of `model` in place (BN -> nn.Identity); returns the folded pairs."""
    folded = []
    for layer_name, bn_name in find_bn_pairs(model):
        bn = _get(model, bn_name)
        if bn.running_mean is None or bn.running_var is None:
            continue  # BN without running statistics normalises with batch statistics: not foldable
        fold_bn_into(_get(model, layer_name), bn)
        _set(model, bn_name, nn.Identity())
        folded.append((layer_name, bn_name))
    return folded
