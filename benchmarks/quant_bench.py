"""One quantization run, measured: seconds, peak RSS, float and quantized top-1 on the full test split.

    PYTHONPATH=src python benchmarks/quant_bench.py --model resnet20 --method brecq --w-bits 4 --a-bits 4 \
        --data real --threads 2 --jsonl out/quant_results.jsonl

Appends one JSON line (with the exact command) to --jsonl; RESULTS.md quotes these lines.
"""

import argparse
import json
import resource
import shlex
import sys
import time
from pathlib import Path

import torch

from lisq.data import FASHION_MNIST_NORM, TensorBatches, load_fashion_mnist
from lisq.metrics import evaluate
from lisq.models.resolve import build_model
from lisq.quant import QuantConfig, quantize
from lisq.quant.data import calibration_inputs


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--weights", default=None)
    p.add_argument("--method", default="brecq")
    p.add_argument("--w-bits", type=int, default=4)
    p.add_argument("--a-bits", type=int, default=4)
    p.add_argument("--data", default="real")
    p.add_argument("--num-samples", type=int, default=1024)
    p.add_argument("--iters", type=int, default=None)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="other QuantConfig fields (JSON values)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--onnx", action="store_true", help="also export and compare ONNX Runtime on the test split")
    p.add_argument("--jsonl", default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    fields = {"method": args.method, "w_bits": args.w_bits, "a_bits": args.a_bits, "seed": args.seed}
    if args.iters is not None:
        fields["iters"] = args.iters
    if args.epochs is not None:
        fields["epochs"] = args.epochs
    for item in args.set:
        key, _, value = item.partition("=")
        fields[key] = json.loads(value)
    config = QuantConfig(**fields)

    model = build_model(args.model, args.weights)
    images, labels = load_fashion_mnist("test")
    test = TensorBatches(images, labels, FASHION_MNIST_NORM, 1000)
    fp_top1 = evaluate(model, test)["top1"]
    calib = calibration_inputs(args.data, args.num_samples, args.seed)

    start = time.time()
    qmodel = quantize(model, calib, config)
    seconds = time.time() - start
    q_top1 = evaluate(qmodel, test)["top1"]
    row = {
        "model": args.model, "method": args.method, "setting": f"W{args.w_bits}A{args.a_bits}", "data": args.data,
        "num_samples": len(calib), "seed": args.seed, "fp_top1": round(100 * fp_top1, 2), "q_top1": round(100 * q_top1, 2),
        "drop_pt": round(100 * (fp_top1 - q_top1), 2), "seconds": round(seconds, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1), "threads": args.threads,
        "config": config.to_dict(),
    }
    if args.onnx:
        from lisq.data.transforms import to_unit
        from lisq.export import export_onnx, onnx_logits

        path = export_onnx(qmodel, Path("out") / f"bench_{args.model.split('/')[-1].replace(':', '_')}.onnx")
        x = FASHION_MNIST_NORM.normalize(to_unit(images))
        with torch.no_grad():
            sim = torch.cat([qmodel(x[i : i + 1000]) for i in range(0, len(x), 1000)])
        ort = onnx_logits(path, x, 1000)
        row["onnx_agreement"] = round(float((sim.argmax(1) == ort.argmax(1)).float().mean()), 4)
        row["onnx_top1"] = round(100 * float((ort.argmax(1) == labels).float().mean()), 2)
    row["command"] = "PYTHONPATH=src python " + " ".join(shlex.quote(a) for a in sys.argv)
    line = json.dumps(row)
    print(line)
    if args.jsonl:
        Path(args.jsonl).parent.mkdir(parents=True, exist_ok=True)
        with open(args.jsonl, "a") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    main()
