"""`lisq eval`: top-1 (and top-5) of a model on real data: the Fashion-MNIST splits or an image folder."""

from __future__ import annotations

import json

import torch

from lisq.data import TensorBatches, load_fashion_mnist
from lisq.data.image_folder import ImageFolderDataset
from lisq.data.spec import FASHION_MNIST_SPEC, InputSpec, add_input_spec_args, input_spec_from_args
from lisq.errors import LisqError
from lisq.metrics import evaluate
from lisq.models.resolve import build_model


def register(subparsers) -> None:
    p = subparsers.add_parser("eval", help="accuracy of a model on real data")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--model", help="registry name, path/to/file.py:factory, package.module:factory, tv:NAME, timm:NAME")
    which.add_argument("--quantized", metavar="QDIR", help="a quantized model directory written by `lisq quantize`")
    p.add_argument("--weights", default=None, help="safetensors or torch state-dict file (default: shipped weights)")
    p.add_argument("--split", default="test", choices=["train", "test"], help="Fashion-MNIST split (ignored with --val)")
    p.add_argument("--val", default=None, metavar="DIR", help="evaluate on an image folder DIR/<class>/<image> instead")
    p.add_argument("--class-index", default=None, help="JSON file mapping --val folder names to class indices")
    p.add_argument("--crop-pct", type=float, default=None,
                   help="--val preprocessing: resize the short side to input-size/crop-pct, center-crop (default 0.875 for inputs >= 112 px, else 1)")
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers for --val")
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N images")
    p.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    add_input_spec_args(p)
    p.set_defaults(func=run)


def real_batches(args, spec):
    """(batches, description) for --val DIR or the Fashion-MNIST split."""
    if args.val:
        crop = args.crop_pct or (0.875 if spec.size >= 112 else 1.0)
        dataset = ImageFolderDataset(args.val, spec.size, spec.channels, spec.norm,
                                     resize=round(spec.size / crop), class_index=args.class_index)
        if args.limit:
            dataset = torch.utils.data.Subset(dataset, range(min(args.limit, len(dataset))))
        loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, num_workers=args.workers)
        return loader, args.val
    if (spec.channels, spec.size, spec.mean, spec.std) != (1, 28, FASHION_MNIST_SPEC.mean, FASHION_MNIST_SPEC.std):
        raise LisqError(f"model takes {spec.channels}x{spec.size}x{spec.size} input with its own normalisation; evaluate it on your data with --val DIR")
    images, labels = load_fashion_mnist(args.split)
    if spec.num_classes != 10:
        raise LisqError(f"model has {spec.num_classes} classes, Fashion-MNIST 10; evaluate it on your data with --val DIR")
    if args.limit:
        images, labels = images[: args.limit], labels[: args.limit]
    return TensorBatches(images, labels, spec.norm, args.batch_size), args.split


def run(args) -> int:
    spec = input_spec_from_args(args)
    meta = None
    if args.quantized:
        from lisq.quant import load_quantized

        if args.weights:
            raise LisqError("--weights goes with --model; a QDIR (--quantized) holds its own weights")
        model, meta = load_quantized(args.quantized)
        name = args.quantized
        saved = meta["input"]
        spec = InputSpec(int(saved["channels"]), int(saved["size"]), tuple(saved["mean"]), tuple(saved["std"]),
                         int(meta.get("num_classes", spec.num_classes)))
    else:
        model = build_model(args.model, args.weights, spec.num_classes, spec.channels)
        name = args.model
    batches, source = real_batches(args, spec)
    topk = (1, 5) if spec.num_classes > 10 else (1,)
    try:
        result = evaluate(model, batches, topk=topk)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0][:160]
        raise LisqError(
            f"model {name!r} cannot take {spec.channels}x{spec.size}x{spec.size} input ({first}); "
            "set --input-size/--channels to what it expects"
        ) from None
    out = {"model": name, "weights": args.weights, "split": source, **result}
    if meta is not None:
        q = meta["quant"]
        out = {"quantized": args.quantized, "model": meta["model"], "method": q["method"], "w_bits": q["w_bits"],
               "a_bits": q["a_bits"], "split": source, **result}
    if args.json:
        print(json.dumps(out))
    else:
        extra = f", top-5 {100 * out['top5']:.2f} %" if "top5" in out else ""
        print(f"{name}: top-1 {100 * out['top1']:.2f} %{extra} on {out['n']} images of {source}")
    return 0
