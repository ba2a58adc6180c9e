"""BRECQ (Li et al. 2021): block-wise output reconstruction, blocks found from the module tree.

Blocks: walk the model from the root; a quantized layer is a block; nn.Sequential / ModuleList /
ModuleDict and the root are containers whose children are visited; any other module (a residual
block, an inverted residual, a concat unit: a module whose forward combines its children in its own
way) is one block when it holds at most `max_block_layers` quantized layers, else its children are
visited. Plain nets therefore reconstruct layer by layer. A child's output depends only on its
inputs, so any split is valid: inputs and targets are captured with hooks at the block boundary.

Per block, in execution order: input = what the already-quantized model feeds the block, target =
the float model's output of the block. Both come from running the model up to the block, except where
the block's only input is the previous block's output, untouched in between (a chain, found once with
object identity and tensor version counters): then the input is the reconstructed previous block run
on its own inputs and the target the float block run on the previous target, the same tensors at the
cost of one block instead of the whole prefix (EfficientNet-Lite2 at 260 px: capture fell from 157 to
23 s of a 10-step BRECQ on 32 images, `benchmarks/brecq_speed.py`). Then Adam on the AdaRound variables (and, for BRECQ, on the
activation steps of the block's quantizers, LSQ-style) minimises
    sum over channels of (out - target)^2, averaged over the rest  +  round_reg * rounding regulariser.
QDrop (Wei et al. 2022): during reconstruction each activation of the block keeps its float value
with probability `qdrop`. We use the plain output MSE, not BRECQ's Fisher-weighted loss (our choice).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
from tqdm import tqdm

from lisq.metrics.accuracy import forward_batch_size
from lisq.precision import autocast, backward, grad_scaler, optimizer_step
from lisq.quant.adaround import attach_rounding, bake_rounding, beta_schedule
from lisq.quant.config import QuantConfig
from lisq.quant.modules import QUANT_LAYERS
from lisq.quant.prepare import execution_order
from lisq.quant.quantizer import scale_param_groups, set_quant_state

CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


class _StopForward(Exception):
    """Raised by a capture hook once the block of interest has been reached."""


def _num_quant_layers(module: nn.Module) -> int:
    return sum(isinstance(m, QUANT_LAYERS) for m in module.modules())


def find_blocks(model: nn.Module, example_input: torch.Tensor | None = None, max_block_layers: int = 8) -> list[str]:
    """Names of the reconstruction blocks, in execution order when an example input is given."""

    def visit(name: str, module: nn.Module, is_root: bool) -> list[str]:
        count = _num_quant_layers(module)
        if count == 0:
            return []
        if isinstance(module, QUANT_LAYERS):
            return [name]
        if is_root or isinstance(module, CONTAINERS) or count > max_block_layers:
            out = []
            for child_name, child in module.named_children():
                out += visit(f"{name}.{child_name}" if name else child_name, child, False)
            return out
        return [name]

    blocks = visit("", model, True)
    if example_input is not None:
        blocks = execution_order(model, example_input, blocks)
    return blocks


def layer_blocks(model: nn.Module, example_input: torch.Tensor | None = None) -> list[str]:
    """Every quantized layer on its own (AdaRound), in execution order."""
    names = [n for n, m in model.named_modules() if isinstance(m, QUANT_LAYERS)]
    return execution_order(model, example_input, names) if example_input is not None else names


def _clone(value):
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, list | tuple):
        return type(value)(_clone(v) for v in value)
    raise TypeError(f"block boundary carries a {type(value).__name__}; only tensors are supported")


@torch.no_grad()
def capture(model: nn.Module, block: nn.Module, calib: torch.Tensor, batch_size: int, output: bool):
    """Inputs (a tuple of tensors) or the output of `block` over all of `calib`, concatenated.

    Under autocast what is stored keeps its reduced type (half the memory).
    """
    store = []

    def pre_hook(_m, args):
        store.append(_clone(tuple(args)))
        raise _StopForward

    def post_hook(_m, _args, out):
        store.append(_clone(out))
        raise _StopForward

    handle = block.register_forward_hook(post_hook) if output else block.register_forward_pre_hook(pre_hook)
    try:
        for start in range(0, len(calib), batch_size):
            try:
                model(calib[start : start + batch_size])
            except _StopForward:
                pass
    finally:
        handle.remove()
    return _concat(store)


def _concat(parts):
    first = parts[0]
    if isinstance(first, torch.Tensor):
        return torch.cat(parts)
    return type(first)(_concat([p[i] for p in parts]) for i in range(len(first)))


def chained_blocks(model: nn.Module, blocks: list[str], example: torch.Tensor) -> list[bool]:
    """links[j]: block j is called once, with the output of block j-1 (called once) as its only
    positional input, that tensor unmodified in between (same object, same version counter)."""
    modules = [model.get_submodule(name) for name in blocks]
    calls = [0] * len(blocks)
    outputs: dict[int, tuple[torch.Tensor, int]] = {}
    linked = [False] * len(blocks)
    handles = []

    def pre_hook(j):
        def hook(_m, args):
            calls[j] += 1
            if j > 0 and j - 1 in outputs and len(args) == 1:
                tensor, version = outputs[j - 1]
                linked[j] = args[0] is tensor and tensor._version == version
        return hook

    def post_hook(j):
        def hook(_m, _args, out):
            if isinstance(out, torch.Tensor):
                outputs[j] = (out, out._version)
        return hook

    for j, module in enumerate(modules):
        handles += [module.register_forward_pre_hook(pre_hook(j)), module.register_forward_hook(post_hook(j))]
    try:
        with torch.no_grad():
            model(example)
    finally:
        for handle in handles:
            handle.remove()
    return [linked[j] and calls[j] == 1 and calls[j - 1] == 1 for j in range(len(blocks))]


@torch.no_grad()
def run_block(block: nn.Module, inputs: tuple, batch_size: int):
    """The block's output over all of `inputs` (a tuple of tensors), batch by batch."""
    n = len(inputs[0])
    return _concat([block(*_index(inputs, slice(s, s + batch_size))) for s in range(0, n, batch_size)])


def _index(value, idx):
    if isinstance(value, torch.Tensor):
        return value[idx]
    return type(value)(_index(v, idx) for v in value)


def reconstruction_loss(out, target, batch: int | None = None) -> torch.Tensor:
    """Sum over channels of the squared error, averaged over the rest; float32 whatever the autocast type.

    `batch`: these samples are a piece of a `batch`-sample step; the pieces' losses add up to its loss.
    """
    if isinstance(out, torch.Tensor):
        diff = out.float() - target.float()
        err = diff.pow(2).sum(dim=1) if out.dim() > 1 else diff.pow(2)
        if batch is None:
            return err.mean()
        return err.sum() / (err.numel() // max(len(err), 1) * batch)
    return sum(reconstruction_loss(o, t, batch) for o, t in zip(out, target, strict=True))


# Elements of a block's largest activation per piece of a step on CPU: the step's batch runs in pieces
# whose gradients add up to the batch's. EfficientNet-Lite2's blocks at 130 and 65 px (largest
# activations 0.54M and 0.61M per image) took 0.57 and 0.82 s a step in pieces of 4 against 1.28 and
# 1.87 s whole (RESULTS.md, "What a BRECQ cell costs"). GPUs take the whole batch.
CPU_STEP_ELEMENTS = 2_500_000


@torch.no_grad()
def step_piece(block: nn.Module, inputs: tuple, batch: int) -> int:
    """Samples per piece of a reconstruction step of `batch` samples, from one probe sample's activations."""
    first = inputs[0]
    if first.device.type != "cpu" or first.dim() < 2:
        return batch
    largest = [first[0].numel()]

    def hook(_m, _args, out):
        if isinstance(out, torch.Tensor):
            largest.append(out.numel())

    handles = [m.register_forward_hook(hook) for m in block.modules()]
    try:
        block(*_index(inputs, slice(0, 1)))
    finally:
        for handle in handles:
            handle.remove()
    return max(1, min(batch, CPU_STEP_ELEMENTS // max(largest)))


def step_gradients(block: nn.Module, inputs: tuple, target, piece: int, regularizer, amp, scaler) -> float:
    """Accumulate one step's gradients over `inputs` in pieces of `piece` samples; returns the step's
    reconstruction loss. The pieces' gradients add up to the whole batch's (up to summation order)."""
    batch = len(inputs[0])
    total = 0.0
    for start in range(0, batch, piece):
        part = slice(start, start + piece)
        with autocast(amp, inputs[0].device):
            out = block(*_index(inputs, part))
        rec = reconstruction_loss(out, _index(target, part), batch if piece < batch else None)
        loss = rec if regularizer is None or start > 0 else rec + regularizer()
        backward(loss, scaler)
        total += rec.item()
    return total


def reconstruct_block(
    model: nn.Module, block: nn.Module, calib: torch.Tensor, config: QuantConfig,
    learn_act: bool, qdrop: float, generator: torch.Generator, bar=None,
    given: tuple | None = None, carry: bool = False,
) -> tuple[float, tuple | None]:
    """Learn the rounding (and activation steps) of one block.

    `given`: (float input, quantized input) of the block when it is chained to the previous one, else
    None (captured from the model). Returns the final reconstruction loss and, with `carry`, (float
    output, quantized output) of the reconstructed block: the next block's `given`.
    """
    layers = [m for m in block.modules() if isinstance(m, QUANT_LAYERS)]
    capture_bs = forward_batch_size(calib, 256)  # cache-sized on CPU; the same pieces for both ways of capture
    amp, device = config.amp, calib.device
    with autocast(amp, device):
        if given is None:
            set_quant_state(model, weights=False, activations=False)
            target = capture(model, block, calib, capture_bs, output=True)
            set_quant_state(model, weights=True, activations=True)
            inputs = capture(model, block, calib, capture_bs, output=False)
        else:
            float_input, inputs = given
            set_quant_state(block, weights=False, activations=False)
            target = run_block(block, (float_input,), capture_bs)
            set_quant_state(block, weights=True, activations=True)
            inputs = (inputs,)
        del given

    batch = min(config.batch_size, len(calib))
    piece = step_piece(block, inputs, batch)  # before QDrop is on: the probe draws no random numbers
    roundings = [attach_rounding(layer) for layer in layers]
    groups = [{"params": [r.alpha for r in roundings], "lr": config.round_lr}]
    act_quantizers = [layer.input_quantizer for layer in layers]
    if learn_act:
        for q in act_quantizers:
            q.scale.requires_grad_(True)
        groups += scale_param_groups(act_quantizers, config.scale_lr)
    optimizer = torch.optim.Adam(groups)
    # cosine decay for the activation steps only (as BRECQ); the rounding keeps its learning rate
    cosine = lambda s: 0.5 * (1 + math.cos(math.pi * s / config.iters))  # noqa: E731
    decays = [lambda _s: 1.0] + [cosine] * (len(groups) - 1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, decays)
    for q in act_quantizers:
        q.drop_prob = qdrop
        q.train()
    warm_steps = config.round_warmup * config.iters
    scaler = grad_scaler(amp, device)  # fp16 on CUDA only
    n = len(calib)
    for q in act_quantizers:
        q.step_batch = batch  # LSQ's step gradient is scaled for the whole batch, whatever the piece
    loss_value = float("nan")
    try:
        for step in range(config.iters):
            idx = torch.randint(n, (batch,), generator=generator)
            regularizer = None
            if step >= warm_steps:
                beta = beta_schedule(step, config.iters, config.round_warmup, *config.round_beta)
                regularizer = lambda b=beta: config.round_reg * sum(r.regularizer(b) for r in roundings)  # noqa: E731
            optimizer.zero_grad(set_to_none=True)
            rec_value = step_gradients(block, _index(inputs, idx), _index(target, idx), piece, regularizer, amp, scaler)
            optimizer_step(optimizer, scaler)
            scheduler.step()
            with torch.no_grad():
                for q in act_quantizers:
                    q.scale.clamp_(min=1e-8)
            loss_value = rec_value
            if bar is not None:
                bar.update(1)
                if step % 50 == 0:
                    bar.set_postfix(rec=f"{loss_value:.4g}", refresh=False)
    finally:
        for q in act_quantizers:
            q.step_batch = None
            q.drop_prob = 0.0
            q.eval()
            q.scale.requires_grad_(False)
        for r in roundings:
            # hard rounding from now on; the float weight stays in place so that later blocks' targets
            # (quantizers disabled) are still the float model's. `reconstruct` bakes at the very end.
            r.hard = True
            r.alpha.requires_grad_(False)
    if not carry:
        return loss_value, None
    with autocast(amp, device):
        return loss_value, (target, run_block(block, inputs, capture_bs))


def reconstruct(
    model: nn.Module, calib: torch.Tensor, config: QuantConfig, blocks: list[str],
    learn_act: bool, qdrop: float, progress: bool = False, chain: bool = True,
) -> dict[str, float]:
    """Reconstruct `blocks` in order; model parameters are frozen meanwhile. Returns block -> final loss.

    `chain=False` captures every block's data from the model (the same tensors, slower; for tests).
    """
    generator = torch.Generator().manual_seed(config.seed)
    frozen = [(p, p.requires_grad) for p in model.parameters()]
    for p, _ in frozen:
        p.requires_grad_(False)
    losses = {}
    bar = tqdm(total=len(blocks) * config.iters, desc="reconstruct", disable=not progress, mininterval=2)
    links = chained_blocks(model, blocks, calib[:1]) if chain else [False] * len(blocks)
    links.append(False)
    given = None
    try:
        for j, name in enumerate(blocks):
            bar.set_description(f"reconstruct {name}")
            losses[name], given = reconstruct_block(
                model, model.get_submodule(name), calib, config, learn_act, qdrop, generator, bar,
                given=given if links[j] else None, carry=links[j + 1],
            )
    finally:
        bar.close()
        for p, flag in frozen:
            p.requires_grad_(flag)
        for layer in model.modules():
            if isinstance(layer, QUANT_LAYERS):
                bake_rounding(layer)
    set_quant_state(model, weights=True, activations=True)
    return losses
