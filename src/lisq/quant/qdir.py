"""A quantized-model directory (QDIR): everything `lisq eval --quantized` and `lisq export` need.

    QDIR/config.json        format tag, model reference, input convention, resolved QuantConfig,
                            bits per layer, folded BNs, float layers, calibration data description
    QDIR/model.safetensors  the quantized model's state dict: BN-folded weights already on their grid
                            (learned rounding baked in), quantizer scales and zero points
    QDIR/model_def.py       a copy of the model file when the model was given as file.py:factory

The model is rebuilt from its reference (no weights needed), prepared with the stored bits, and the
state dict is loaded strictly. Files are written atomically; config.json is written last, so a
directory without it is an interrupted write.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
import torch.nn as nn

from lisq import __version__
from lisq.data.spec import InputSpec
from lisq.errors import LisqError
from lisq.models.checkpoint import atomic_write, read_state_dict, save_weights
from lisq.quant.config import QuantConfig
from lisq.quant.prepare import prepare_model

FORMAT = "lisq-quantized-model"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
MODEL_COPY = "model_def.py"


def save_quantized(
    qdir: str | Path, qmodel: nn.Module, config: QuantConfig, model_ref: str, input_spec: InputSpec | dict,
    extra: dict | None = None,
) -> Path:
    """Write QDIR; `input_spec` is the model's input convention (InputSpec, or its dict)."""
    if isinstance(input_spec, dict):
        input_spec = InputSpec.from_dict({"num_classes": (extra or {}).get("num_classes", 10), **input_spec})
    qdir = Path(qdir)
    if qdir.exists() and not qdir.is_dir():
        raise LisqError(f"output {str(qdir)!r} exists and is not a directory; choose another --out")
    qdir.mkdir(parents=True, exist_ok=True)
    report = getattr(qmodel, "lisq_report", None)
    if report is None:
        raise ValueError("save_quantized needs a model returned by lisq.quant.quantize")
    model_source = None
    target, sep, attr = model_ref.rpartition(":")
    if sep and target.endswith(".py"):
        shutil.copyfile(target, qdir / MODEL_COPY)
        model_source = f"{MODEL_COPY}:{attr}"
    save_weights(qmodel, qdir / WEIGHTS_FILE)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": model_ref,
        "model_source": model_source,
        "input": input_spec.to_dict(),
        "num_classes": input_spec.num_classes,
        "quant": config.to_dict(),
        "layer_bits": {k: list(v) for k, v in report.layer_bits.items()},
        "folded_bn": [list(p) for p in report.folded],
        "float_layers": report.float_layers,
        "lisq_version": __version__,
        "torch_version": torch.__version__,
        **{k: v for k, v in (extra or {}).items() if k != "num_classes"},
    }
    atomic_write(qdir / CONFIG_FILE, lambda tmp: Path(tmp).write_text(json.dumps(meta, indent=2) + "\n"))
    return qdir


def read_meta(qdir: str | Path) -> dict:
    qdir = Path(qdir)
    if not qdir.is_dir():
        raise LisqError(f"quantized model directory {str(qdir)!r} does not exist; create it with `lisq quantize --out`")
    path = qdir / CONFIG_FILE
    if not path.is_file():
        raise LisqError(f"{str(qdir)!r} has no {CONFIG_FILE}: not a lisq quantized model (or an interrupted write)")
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise LisqError(f"{path} is corrupt ({str(exc)[:80]}); quantize the model again") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise LisqError(f"{str(qdir)!r} is not a lisq quantized model directory (format tag missing or foreign)")
    if meta.get("format_version") != FORMAT_VERSION:
        raise LisqError(f"{str(qdir)!r} has format version {meta.get('format_version')}; this lisq reads {FORMAT_VERSION}")
    for key in ("model", "input", "quant", "layer_bits"):
        if key not in meta:
            raise LisqError(f"{path} lacks {key!r}; the directory is damaged, quantize the model again")
    return meta


def input_spec_of(meta: dict) -> InputSpec:
    """The model's input convention recorded in a QDIR (QDIRs of lisq <= 0.1: Fashion-MNIST label space)."""
    saved = dict(meta["input"])
    saved.setdefault("num_classes", int(meta.get("num_classes", 10)))
    return InputSpec.from_dict(saved)


def _build_architecture(meta: dict, qdir: Path) -> nn.Module:
    """The bare architecture of the QDIR's model: recorded class count and input, no pretrained weights."""
    from lisq.models.resolve import build_model, is_registry_name, source_of

    ref = meta["model"]
    spec = input_spec_of(meta)
    if is_registry_name(ref) or source_of(ref) is not None:
        return build_model(ref, None, spec, pretrained=False)
    source = meta.get("model_source")
    if source and (qdir / MODEL_COPY).is_file():
        file_part, _, attr = source.rpartition(":")
        return build_model(f"{qdir / file_part}:{attr}", None, spec)
    return build_model(ref, None, spec)


def load_quantized(qdir: str | Path) -> tuple[nn.Module, dict]:
    """Rebuild the quantized model saved in QDIR; returns (model in eval mode, config.json contents)."""
    qdir = Path(qdir)
    meta = read_meta(qdir)
    try:
        config = QuantConfig.from_dict(meta["quant"])
    except TypeError as exc:
        raise LisqError(f"{qdir / CONFIG_FILE} has an invalid quant section ({exc})") from None
    base = _build_architecture(meta, qdir)
    layer_bits = {k: tuple(v) for k, v in meta["layer_bits"].items()}
    qmodel, report = prepare_model(base, config, layer_bits=layer_bits, warn=False)
    if not (qdir / WEIGHTS_FILE).is_file():
        raise LisqError(f"{str(qdir)!r} has no {WEIGHTS_FILE}; the directory is incomplete, quantize again")
    state = read_state_dict(qdir / WEIGHTS_FILE)
    own = qmodel.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    bad_shape = [k for k in own if k in state and own[k].shape != state[k].shape]
    if missing or unexpected or bad_shape:
        raise LisqError(
            f"{qdir / WEIGHTS_FILE} does not fit model {meta['model']!r}: {len(missing)} missing, "
            f"{len(unexpected)} unexpected, {len(bad_shape)} mis-shaped tensors; quantize the model again"
        )
    qmodel.load_state_dict(state)
    qmodel.lisq_report = report
    return qmodel.eval(), meta
