"""`lisq quantize`: PTQ (minmax, mse, adaround, brecq) or QAT of a model on a calibration set -> QDIR."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from lisq.data.registry import add_dataset_arg
from lisq.data.spec import add_input_spec_args
from lisq.errors import LisqError
from lisq.precision import AMP_MODES
from lisq.quant.config import QuantConfig
from lisq.quant.methods import method_names


def register(subparsers) -> None:
    p = subparsers.add_parser("quantize", help="quantize a model with calibration data (PTQ or QAT)")
    p.add_argument("--model", required=True, help="registry name (arch or arch.dataset), path/to/file.py:factory, package.module:factory, SOURCE:NAME")
    p.add_argument("--weights", default=None, help="safetensors or torch state-dict file (default: shipped weights)")
    p.add_argument("--data", required=True, help="'real' (class-balanced subset of the dataset's train split), 'gaussian', or DIR/<class>/<id>.png")
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
    add_dataset_arg(p, "; default: the one the model reference names")
    p.add_argument("--eval", action="store_true", help="also report top-1 on the dataset's real test split (or --val DIR)")
    p.add_argument("--val", default=None, metavar="DIR", help="labelled images for --eval (datasets without a test split, e.g. imagenet)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--device", default="cpu", help="where to quantize: cpu (default), cuda, cuda:1 ...")
    p.add_argument("--amp", default=None, choices=AMP_MODES,
                   help="reconstruction/QAT compute under autocast: off (default), bf16 (CPU or GPU), fp16 (CUDA only)")
    p.add_argument("--bake-bias", dest="bake_bias", action="store_true", default=None,
                   help="round biases to their int32 grid (what ONNX Runtime and integer backends compute; off by default)")
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
             "amp": args.amp, "channels_last": args.channels_last, "bake_bias": getattr(args, "bake_bias", None)}
    fields.update({k: v for k, v in flags.items() if v is not None})
    return QuantConfig.from_dict(fields)


def run(args) -> int:
    from lisq.commands.common import evaluation_source
    from lisq.data.spec import input_overrides
    from lisq.metrics import evaluate
    from lisq.quant.run import quantize_reference

    config = resolve_config(args)
    result = quantize_reference(
        args.model, args.data, config, args.out, weights=args.weights, dataset=args.dataset,
        overrides=input_overrides(args), num_samples=args.num_samples, device=args.device, progress=not args.quiet,
    )
    for message in result["warnings"]:
        print(f"lisq: warning: {message}")
    bits = f"W{config.w_bits}A{config.a_bits}"
    print(f"quantized {args.model} with {config.method} {bits} on {result['num_samples']} {args.data} images "
          f"in {result['seconds']:.0f} s -> {args.out}")
    if args.eval:
        ds, spec = result["dataset"], result["spec"]
        source = evaluation_source(ds, None, args.val)
        metrics = evaluate(result["qmodel"], source.batches(spec, 500), topk=(1, 5) if spec.num_classes > 10 else (1,))
        print(json.dumps({"qdir": str(args.out), "dataset": ds.name, "split": source.split, **metrics}))
    return 0
