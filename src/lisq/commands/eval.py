"""`lisq eval`: top-1 of a model on the real Fashion-MNIST split."""

from __future__ import annotations

import json

from lisq.data import FASHION_MNIST_NORM, TensorBatches, load_fashion_mnist
from lisq.errors import LisqError
from lisq.metrics import evaluate
from lisq.models.resolve import build_model


def register(subparsers) -> None:
    p = subparsers.add_parser("eval", help="accuracy of a model on real data")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--model", help="registry name, path/to/file.py:factory or package.module:factory")
    which.add_argument("--quantized", metavar="QDIR", help="a quantized model directory written by `lisq quantize`")
    p.add_argument("--weights", default=None, help="safetensors or torch state-dict file (default: shipped weights)")
    p.add_argument("--split", default="test", choices=["train", "test"])
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N images")
    p.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.quantized:
        from lisq.quant import load_quantized

        if args.weights:
            raise LisqError("--weights goes with --model; a QDIR (--quantized) holds its own weights")
        model, _meta = load_quantized(args.quantized)
        name = args.quantized
    else:
        model = build_model(args.model, args.weights)
        name = args.model
    images, labels = load_fashion_mnist(args.split)
    if args.limit:
        images, labels = images[: args.limit], labels[: args.limit]
    try:
        result = evaluate(model, TensorBatches(images, labels, FASHION_MNIST_NORM, args.batch_size))
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0][:160]
        raise LisqError(f"model {name!r} cannot take 1x28x28 Fashion-MNIST input ({first})") from None
    out = {"model": name, "weights": args.weights, "split": args.split, **result}
    if args.quantized:
        out = {"quantized": args.quantized, "model": _meta["model"], "method": _meta["quant"]["method"],
               "w_bits": _meta["quant"]["w_bits"], "a_bits": _meta["quant"]["a_bits"], "split": args.split, **result}
    if args.json:
        print(json.dumps(out))
    else:
        print(f"{name}: top-1 {100 * out['top1']:.2f} % on {out['n']} {args.split} images")
    return 0
