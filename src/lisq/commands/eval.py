"""`lisq eval`: top-1 (and top-5) of a model on real data: a dataset's split or an image folder."""

from __future__ import annotations

import json

from lisq.commands.common import model_and_dataset, real_batches
from lisq.data import get_dataset
from lisq.data.registry import add_dataset_arg
from lisq.data.spec import add_input_spec_args, apply_overrides, input_overrides
from lisq.errors import LisqError
from lisq.metrics import evaluate


def register(subparsers) -> None:
    p = subparsers.add_parser("eval", help="accuracy of a model on real data")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--model", help="registry name (arch or arch.dataset), path/to/file.py:factory, package.module:factory, SOURCE:NAME")
    which.add_argument("--quantized", metavar="QDIR", help="a quantized model directory written by `lisq quantize`")
    add_dataset_arg(p, "; default: the one the model reference names")
    p.add_argument("--weights", default=None, help="safetensors or torch state-dict file (default: shipped weights)")
    p.add_argument("--split", default=None, help="the dataset's split: train, test (default), val; val-calib/val-eval: the calibration or evaluation "
                        "part of the ImageNet val folder or of --val DIR (one image in four calibrates)")
    p.add_argument("--val", default=None, metavar="DIR",
                   help="evaluate on labelled images DIR/<class>/<image> (or a flat DIR of <wnid>_*.JPEG for imagenet)")
    p.add_argument("--class-index", default=None, help="JSON file mapping --val folder names to class indices")
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers for image files")
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N images")
    p.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    add_input_spec_args(p)
    p.set_defaults(func=run)


def run(args) -> int:
    meta = None
    if args.quantized:
        from lisq.quant import load_quantized
        from lisq.quant.qdir import input_spec_of

        if args.weights:
            raise LisqError("--weights goes with --model; a QDIR (--quantized) holds its own weights")
        model, meta = load_quantized(args.quantized)
        spec = apply_overrides(input_spec_of(meta), {k: v for k, v in input_overrides(args).items() if k == "crop_pct"})
        ds = get_dataset(args.dataset or spec.dataset)
        ds.check_model(spec, f"quantized model {args.quantized!r}")
        name = args.quantized
    else:
        model, spec, ds = model_and_dataset(args.model, args.weights, args.dataset, args)
        name = args.model
    batches, source = real_batches(ds, spec, args.split, args.val, args.batch_size, args.limit, args.class_index, args.workers)
    topk = (1, 5) if spec.num_classes > 10 else (1,)
    try:
        result = evaluate(model, batches, topk=topk)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0][:160]
        raise LisqError(
            f"model {name!r} cannot take {spec.channels}x{spec.size}x{spec.size} input ({first}); "
            "set --input-size/--channels to what it expects"
        ) from None
    out = {"model": name, "weights": args.weights, "dataset": ds.name, "split": source, **result}
    if meta is not None:
        q = meta["quant"]
        out = {"quantized": args.quantized, "model": meta["model"], "method": q["method"], "w_bits": q["w_bits"],
               "a_bits": q["a_bits"], "dataset": ds.name, "split": source, **result}
    if args.json:
        print(json.dumps(out))
    else:
        extra = f", top-5 {100 * out['top5']:.2f} %" if "top5" in out else ""
        print(f"{name}: top-1 {100 * out['top1']:.2f} %{extra} on {out['n']} images of {ds.name} {source}")
    return 0
