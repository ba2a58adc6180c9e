"""`lisq export QDIR --onnx model.onnx`: ONNX graph with QuantizeLinear/DequantizeLinear."""

from __future__ import annotations

import json


def register(subparsers) -> None:
    from lisq.data.registry import add_dataset_arg

    p = subparsers.add_parser("export", help="export a quantized model (QDIR) to ONNX with Q/DQ nodes")
    p.add_argument("qdir", help="directory written by `lisq quantize --out`")
    p.add_argument("--onnx", required=True, help="output .onnx file")
    p.add_argument("--verify", type=int, default=0, metavar="N",
                   help="run the graph in ONNX Runtime on the first N real test images and compare with lisq")
    add_dataset_arg(p, "; default: the one recorded in the QDIR")
    p.add_argument("--val", default=None, metavar="DIR", help="--verify on these labelled images instead of the test split")
    p.add_argument("--split", default=None, help="--verify on this split (default: the dataset's evaluation split; "
                                                   "with --val, val-eval/val-calib picks that part of DIR)")
    p.set_defaults(func=run)


def run(args) -> int:
    import torch

    from lisq.commands.common import evaluation_source
    from lisq.data import get_dataset
    from lisq.export import export_onnx, onnx_logits
    from lisq.quant import load_quantized
    from lisq.quant.qdir import input_spec_of

    qmodel, meta = load_quantized(args.qdir)
    spec = input_spec_of(meta)
    path = export_onnx(qmodel, args.onnx, spec.shape)
    print(f"wrote {path} (input: normalised {spec.channels}x{spec.size}x{spec.size}, output: logits)")
    if args.verify:
        ds = get_dataset(args.dataset or spec.dataset)
        ds.check_model(spec, f"quantized model {args.qdir!r}")
        source = evaluation_source(ds, args.split, args.val)
        n = min(args.verify, len(source))
        x, y = source.inputs(torch.arange(n), spec), source.labels[:n]
        with torch.no_grad():
            sim = qmodel(x)
        ort = onnx_logits(path, x)
        out = {
            "n": len(y),
            "dataset": ds.name,
            "prediction_agreement": float((sim.argmax(1) == ort.argmax(1)).float().mean()),
            "top1_lisq": float((sim.argmax(1) == y).float().mean()),
            "top1_onnxruntime": float((ort.argmax(1) == y).float().mean()),
            "max_abs_logit_diff": float((sim - ort).abs().max()),
        }
        print(json.dumps(out))
    return 0
