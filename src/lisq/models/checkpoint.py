"""Load and save weights without executing code: safetensors, or torch state dicts with weights_only."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch
import torch.nn as nn

from lisq.errors import LisqError


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a safetensors file or a torch state dict (weights_only=True, no pickled code runs)."""
    path = Path(path)
    if not path.is_file():
        raise LisqError(f"weights file {str(path)!r} does not exist; check the path")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as exc:  # safetensors raises several types for corrupt files
            raise LisqError(f"weights file {str(path)!r} is not a valid safetensors file ({_short(exc)})") from None
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise LisqError(
            f"weights file {str(path)!r} is not a readable torch state dict ({_short(exc)}); "
            "save it with torch.save(model.state_dict(), path) or use .safetensors"
        ) from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise LisqError(f"weights file {str(path)!r} does not hold a state dict of tensors")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def load_weights(model: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Load weights into `model`, with one clear line when keys or shapes do not match."""
    state = read_state_dict(path)
    own = model.state_dict()
    for k in own:  # checkpoints saved without BN step counters (older torch, some trainers): keep the module's
        if k.endswith("num_batches_tracked") and k not in state:
            state[k] = own[k]
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        raise LisqError(
            f"weights {str(path)!r} do not match the model: {len(missing)} missing keys "
            f"(e.g. {missing[:2]}), {len(unexpected)} unexpected (e.g. {unexpected[:2]}); "
            "check that --model and --weights belong together"
        )
    bad = [k for k in own if own[k].shape != state[k].shape]
    if bad:
        k = bad[0]
        raise LisqError(
            f"weights {str(path)!r} do not match the model: {len(bad)} shape mismatches, e.g. {k} "
            f"{tuple(state[k].shape)} vs {tuple(own[k].shape)}; check --model, --num-classes and channels"
        )
    model.load_state_dict(state)
    return model


def save_weights(model_or_state: nn.Module | dict, path: str | os.PathLike) -> None:
    """Atomically write a safetensors file (temp file + rename)."""
    from safetensors.torch import save_file

    state = model_or_state.state_dict() if isinstance(model_or_state, nn.Module) else model_or_state
    state = {k: v.detach().contiguous().cpu() for k, v in state.items()}
    atomic_write(path, lambda tmp: save_file(state, tmp))


def atomic_write(path: str | os.PathLike, write) -> None:
    """Call write(tmp_path) then rename over `path`, so a kill never leaves a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:120]
