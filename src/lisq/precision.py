"""Mixed precision (autocast) and channels_last, shared by synthesis and quantization.

`amp` is "off" (float32 everywhere, the default and the tested path), "bf16" (CPU or CUDA) or
"fp16" (CUDA only, with loss scaling by torch.amp.GradScaler). Only the model compute runs in the
reduced type; optimised tensors, statistics, losses and fake-quant arithmetic stay float32.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn as nn

from lisq.errors import LisqError

AMP_MODES = ("off", "bf16", "fp16")
AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
REDUCED_DTYPES = (torch.bfloat16, torch.float16)


def check_amp(value) -> str:
    """The amp mode as a string; YAML 1.1 reads an unquoted `off` as False, which means "off" too."""
    if value is None or value is False:
        return "off"
    if value not in AMP_MODES:
        raise LisqError(f"amp must be one of {', '.join(AMP_MODES)}, got {value!r}")
    return value


def require_amp_device(amp: str, device: torch.device | str) -> None:
    """Refuse fp16 off CUDA: CPU autocast has no fp16 loss scaling and its fp16 kernels are slow or missing."""
    device = torch.device(device)
    if amp == "fp16" and device.type != "cuda":
        raise LisqError(f"--amp fp16 needs a CUDA device but this run is on {device.type}; use --amp bf16 on CPU")


def autocast(amp: str, device: torch.device | str):
    """Autocast context for the model compute; a no-op context when amp is off (bit-identical path)."""
    if amp == "off":
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=AMP_DTYPES[amp])


def grad_scaler(amp: str, device: torch.device | str) -> torch.amp.GradScaler | None:
    """A GradScaler for fp16 on CUDA (gradients of fp16 activations underflow without it), else None."""
    device = torch.device(device)
    if amp == "fp16" and device.type == "cuda":
        return torch.amp.GradScaler("cuda")
    return None


def backward_step(loss: torch.Tensor, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler | None) -> None:
    """loss.backward() + optimizer.step(), through the scaler when there is one."""
    backward(loss, scaler)
    optimizer_step(optimizer, scaler)


def backward(loss: torch.Tensor, scaler: torch.amp.GradScaler | None) -> None:
    """loss.backward() through the scaler when there is one (gradients accumulate until `optimizer_step`)."""
    (loss if scaler is None else scaler.scale(loss)).backward()


def optimizer_step(optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler | None) -> None:
    if scaler is None:
        optimizer.step()
        return
    scaler.step(optimizer)
    scaler.update()


def to_channels_last(model: nn.Module) -> nn.Module:
    """4-D parameters and buffers in NHWC order (in place); values unchanged."""
    return model.to(memory_format=torch.channels_last)


def to_contiguous(model: nn.Module) -> nn.Module:
    """Back to the default NCHW order (safetensors and most tools want contiguous tensors)."""
    return model.to(memory_format=torch.contiguous_format)


def channels_last_input(x: torch.Tensor) -> torch.Tensor:
    """A 4-D batch in NHWC order (other ranks unchanged)."""
    return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x
