"""Milliseconds per image of a model's forward pass on CPU against the batch size: why lisq evaluates in
cache-sized pieces (lisq.metrics.accuracy.CPU_FORWARD_PIXELS).

    python benchmarks/forward_batch.py --models effnet:lite2,resnet20.cifar10,mobilenetv2_100.cifar10 \
        --batches 1,4,16,64,256 --threads 1,2 --json results/runtime/forward_batch.json

Random inputs at each model's own size; one warm-up pass, then at least --images images per setting.
Not a test: the figures depend on the machine's caches and on what else runs (stop other jobs first).
"""

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import torch

from lisq.metrics.accuracy import CPU_FORWARD_PIXELS
from lisq.models.resolve import resolve_model


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", required=True, help="comma-separated model references")
    p.add_argument("--batches", default="1,4,16,64,256")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--images", type=int, default=32, help="images timed per setting (at least one batch)")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    rows = []
    for ref in args.models.split(","):
        model, spec = resolve_model(ref)
        model.eval()
        size = spec.size
        for threads in map(int, args.threads.split(",")):
            torch.set_num_threads(threads)
            for bs in map(int, args.batches.split(",")):
                x = torch.randn(bs, spec.channels, size, size)
                reps = max(1, -(-args.images // bs))
                with torch.no_grad():
                    model(x[:1])
                    start = time.perf_counter()
                    for _ in range(reps):
                        model(x)
                    ms = (time.perf_counter() - start) / (reps * bs) * 1000
                rows.append({"model": ref, "size": size, "threads": threads, "batch": bs, "ms_per_image": round(ms, 2),
                             "lisq_batch": max(1, CPU_FORWARD_PIXELS // (size * size))})
                print(json.dumps(rows[-1]), flush=True)
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"command": "python " + " ".join(shlex.quote(a) for a in sys.argv), "rows": rows},
                                  indent=1) + "\n")
        tmp.replace(path)


if __name__ == "__main__":
    main()
