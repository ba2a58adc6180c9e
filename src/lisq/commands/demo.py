"""`lisq demo`: the main job on the shipped school (grows as the pipeline lands)."""

from __future__ import annotations

import time

from lisq.data import FASHION_MNIST_NORM, TensorBatches, load_fashion_mnist
from lisq.metrics import evaluate
from lisq.models import create_model, list_models, pretrained_path


def register(subparsers) -> None:
    p = subparsers.add_parser("demo", help="run the end-to-end demo on the shipped Fashion-MNIST school")
    p.add_argument("--limit", type=int, default=None, help="evaluate on the first N test images only")
    p.set_defaults(func=run)


def run(args) -> int:
    start = time.time()
    images, labels = load_fashion_mnist("test")
    if args.limit:
        images, labels = images[: args.limit], labels[: args.limit]
    print(f"lisq demo: the shipped school, evaluated on {len(labels)} real Fashion-MNIST test images")
    for name in list_models():
        if pretrained_path(name) is None:
            print(f"  {name:18s} (no shipped weights)")
            continue
        top1 = evaluate(create_model(name, pretrained=True), TensorBatches(images, labels, FASHION_MNIST_NORM, 500))["top1"]
        print(f"  {name:18s} top-1 {100 * top1:6.2f} %")
    print(f"done in {time.time() - start:.0f} s. Synthesis and quantization are not part of this demo yet.")
    return 0
