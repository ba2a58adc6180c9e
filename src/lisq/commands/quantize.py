"""`lisq quantize`: PTQ (minmax, mse, adaround, brecq) or QAT of a model on a calibration set -> QDIR."""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import yaml

from lisq.data.spec import FASHION_MNIST_SPEC, add_input_spec_args, input_spec_from_args
from lisq.errors import LisqError
from lisq.precision import AMP_MODES
from lisq.quant.config import QuantConfig
from lisq.quant.methods import method_names


def register(subparsers) -> None:
    p = subparsers.add_parser("quantize", help="quantize a model with calibration data (PTQ or QAT)")
    p.add_argument("--model", required=True, help="registry name, path/to/file.py:factory or package.module:factory")
    p.add_argument("--weights", default=None, help="safetensors or torch state-dict file (default: shipped weights)")
    p.add_argument("--data", required=True, help="'real' (class-balanced train subset), 'gaussian', or DIR/<class>/<id>.png")
    p.add_argument("--method", choices=method_names(), default=None, help="default: brecq")
    p.add_argument("--w-bits", type=int, default=None, help="weight bits, 2-8 (default 4)")
    p.add_argument("--a-bits", type=int, default=None, help="activation bits, 2-8 (default 4)")
    p.add_argument("--first-last-bits", type=int, default=None, help="bits of the first and last layer (default 8)")
    p.add_argument("--num-samples", type=int, default=1024, help="calibration images (default 1024)")
    p.add_argument("--iters", type=int, default=None, help="reconstruction steps per block, adaround/brecq (default 300)")
    p.add_argument("--epochs", type=int, default=None, help="QAT epochs over the calibration set")
    p.add_argument("--config", default=None, help="YAML/JSON file of QuantConfig fields; flags override it")
    p.add_argument("--seed", type=int, default=None, help="seed of data sampling and optimisation (default 0)")
    p.add_argument("--out", required=True, help="output directory QDIR")
    p.add_argument("--eval", action="store_true", help="also report top-1 on the real test split")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--device", default="cpu", help="where to quantize: cpu (default), cuda, cuda:1 ...")
    p.add_argument("--amp", default=None, choices=AMP_MODES,
                   help="reconstruction/QAT compute under autocast: off (default), bf16 (CPU or GPU), fp16 (CUDA only)")
    p.add_argument("--channels-last", dest="channels_last", action="store_true", default=None,
                   help="tune the model in NHWC memory order (faster convolutions on GPUs)")
    add_input_spec_args(p)
    p.set_defaults(func=run)


def load_config_file(path: str | None) -> dict:
    if path is None:
        return {}
    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise LisqError(f"cannot read config file {path!r} ({str(exc).splitlines()[0][:100]})") from None
    if not isinstance(data, dict):
        raise LisqError(f"config file {path!r} must hold a mapping of QuantConfig fields")
    return data.get("quant", data)


def resolve_config(args) -> QuantConfig:
    fields = load_config_file(args.config)
    flags = {"method": args.method, "w_bits": args.w_bits, "a_bits": args.a_bits, "iters": args.iters,
             "epochs": args.epochs, "seed": args.seed, "first_last_bits": args.first_last_bits,
             "amp": args.amp, "channels_last": args.channels_last}
    fields.update({k: v for k, v in flags.items() if v is not None})
    return QuantConfig.from_dict(fields)


def run(args) -> int:
    from lisq.models.resolve import build_model
    from lisq.precision import require_amp_device
    from lisq.quant import quantize, save_quantized
    from lisq.quant.data import calibration_inputs

    config = resolve_config(args)
    spec = input_spec_from_args(args)
    if args.data == "real" and spec != FASHION_MNIST_SPEC:
        raise LisqError("--data real is the Fashion-MNIST train split; for other inputs give a directory of images")
    input_spec = {"channels": spec.channels, "size": spec.size, "mean": list(spec.mean), "std": list(spec.std)}
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise LisqError(f"--out {args.out!r} exists and is not a directory; choose another path")
    device = _device(args.device)
    require_amp_device(config.amp, device)
    model = build_model(args.model, args.weights, spec.num_classes, spec.channels).to(device)
    calib = calibration_inputs(args.data, args.num_samples, config.seed, input_spec).to(device)
    start = time.time()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        qmodel = quantize(model, calib, config, progress=not args.quiet).cpu()
    for w in caught:
        print(f"lisq: warning: {w.message}")
    seconds = time.time() - start
    data_desc = {"source": args.data if args.data in ("real", "gaussian") else str(Path(args.data).resolve()),
                 "num_samples": len(calib), "seed": config.seed}
    extra = {"weights": str(Path(args.weights).resolve()) if args.weights else None, "calibration": data_desc,
             "seconds": round(seconds, 1), "num_classes": spec.num_classes, "device": str(device)}
    save_quantized(out, qmodel, config, _portable_ref(args.model), input_spec, extra)
    bits = f"W{config.w_bits}A{config.a_bits}"
    print(f"quantized {args.model} with {config.method} {bits} on {len(calib)} {args.data} images in {seconds:.0f} s -> {out}")
    if args.eval and spec == FASHION_MNIST_SPEC:
        from lisq.data import FASHION_MNIST_NORM, TensorBatches, load_fashion_mnist
        from lisq.metrics import evaluate

        x, y = load_fashion_mnist("test")
        result = evaluate(qmodel, TensorBatches(x, y, FASHION_MNIST_NORM, 500))
        print(json.dumps({"qdir": str(out), "split": "test", **result}))
    return 0


def _device(name: str):
    import torch

    try:
        device = torch.device(name)
    except RuntimeError:
        raise LisqError(f"--device {name!r} is not a torch device; use cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise LisqError(f"--device {name} but no CUDA GPU is visible here; use --device cpu")
    return device


def _portable_ref(ref: str) -> str:
    """file.py:factory with an absolute path, so the QDIR does not depend on the working directory."""
    target, sep, attr = ref.rpartition(":")
    if sep and target.endswith(".py"):
        return f"{Path(target).resolve()}:{attr}"
    return ref
