"""`lisq export QDIR --onnx model.onnx`: ONNX graph with QuantizeLinear/DequantizeLinear."""

from __future__ import annotations

import json


def register(subparsers) -> None:
    p = subparsers.add_parser("export", help="export a quantized model (QDIR) to ONNX with Q/DQ nodes")
    p.add_argument("qdir", help="directory written by `lisq quantize --out`")
    p.add_argument("--onnx", required=True, help="output .onnx file")
    p.add_argument("--verify", type=int, default=0, metavar="N",
                   help="run the graph in ONNX Runtime on the first N real test images and compare with lisq")
    p.set_defaults(func=run)


def run(args) -> int:
    from lisq.export import export_onnx, onnx_logits
    from lisq.quant import load_quantized

    qmodel, meta = load_quantized(args.qdir)
    spec = meta["input"]
    path = export_onnx(qmodel, args.onnx, (spec["channels"], spec["size"], spec["size"]))
    print(f"wrote {path} (input: normalised {spec['channels']}x{spec['size']}x{spec['size']}, output: logits)")
    if args.verify:
        import torch

        from lisq.data import FASHION_MNIST_NORM, load_fashion_mnist
        from lisq.data.transforms import to_unit

        images, labels = load_fashion_mnist("test")
        x, y = FASHION_MNIST_NORM.normalize(to_unit(images[: args.verify])), labels[: args.verify]
        with torch.no_grad():
            sim = qmodel(x)
        ort = onnx_logits(path, x)
        out = {
            "n": len(y),
            "prediction_agreement": float((sim.argmax(1) == ort.argmax(1)).float().mean()),
            "top1_lisq": float((sim.argmax(1) == y).float().mean()),
            "top1_onnxruntime": float((ort.argmax(1) == y).float().mean()),
            "max_abs_logit_diff": float((sim - ort).abs().max()),
        }
        print(json.dumps(out))
    return 0
