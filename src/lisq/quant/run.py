"""`quantize_reference`: a model reference + calibration source -> a QDIR, the API behind `lisq quantize`."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

from lisq.errors import LisqError
from lisq.quant.config import QuantConfig


def portable_ref(ref: str) -> str:
    """file.py:factory with an absolute path, so the QDIR does not depend on the working directory."""
    target, sep, attr = ref.rpartition(":")
    if sep and target.endswith(".py"):
        return f"{Path(target).resolve()}:{attr}"
    return ref


def quantize_reference(ref: str, data: str, config: QuantConfig, out: str | Path, *, weights: str | None = None,
                       dataset: str | None = None, overrides: dict | None = None, num_samples: int = 1024,
                       device: str = "cpu", progress: bool = False) -> dict:
    """Quantize the model `ref` calibrated on `data` ('real', 'gaussian' or a directory) and write QDIR `out`.

    Returns {"qdir", "model", "spec" (InputSpec), "dataset" (DatasetSpec), "qmodel", "seconds", "warnings"}.
    The model's convention comes from its reference (flags in `overrides`); a model of another label
    space than `dataset`, or data of another convention, is refused with one line.
    """
    import torch

    from lisq.data import get_dataset
    from lisq.models.resolve import build_model, model_input
    from lisq.precision import require_amp_device
    from lisq.quant.api import quantize
    from lisq.quant.data import calibration_inputs
    from lisq.quant.qdir import save_quantized

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise LisqError(f"--out {str(out)!r} exists and is not a directory; choose another path")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise LisqError(f"--device {device!r} is not a torch device; use cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise LisqError(f"--device {device} but no CUDA GPU is visible here; use --device cpu")
    require_amp_device(config.amp, dev)
    spec = model_input(ref, weights, dataset, overrides)
    ds = get_dataset(dataset or spec.dataset)
    if dataset and ds.input is None:
        spec = spec.replace(dataset=ds.name)
    ds.check_model(spec, f"model {ref!r}")
    model = build_model(ref, weights, spec, dataset=dataset).to(dev)
    calib = calibration_inputs(data, num_samples, config.seed, spec, ds).to(dev)
    start = time.time()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            qmodel = quantize(model, calib, config, progress=progress).cpu()
        except RuntimeError as exc:
            if "size" in str(exc) or "shape" in str(exc):
                first = str(exc).strip().splitlines()[0][:160]
                raise LisqError(f"model {ref!r} cannot take {spec.describe()} input ({first}); fix --input-size/--channels") from None
            raise
    seconds = time.time() - start
    data_desc = {"source": data if data in ("real", "gaussian") else str(Path(data).resolve()),
                 "num_samples": len(calib), "seed": config.seed, "dataset": ds.name}
    if data == "real":
        data_desc["split"] = ds.calibration_split
    extra = {"weights": str(Path(weights).resolve()) if weights else None, "calibration": data_desc,
             "seconds": round(seconds, 1), "device": str(dev)}
    save_quantized(out, qmodel, config, portable_ref(ref), spec, extra)
    return {"qdir": out, "model": ref, "spec": spec, "dataset": ds, "qmodel": qmodel, "seconds": seconds,
            "num_samples": len(calib), "warnings": [str(w.message) for w in caught]}
