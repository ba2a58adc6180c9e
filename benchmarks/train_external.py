"""Train benchmarks/external/gelu_concat_net.py on Fashion-MNIST (the 'model from outside lisq').

    PYTHONPATH=src python benchmarks/train_external.py --epochs 4 --out out/gelu_concat_net.safetensors
    PYTHONPATH=src python benchmarks/train_external.py --factory dense_factory --epochs 4 --out out/gelu_concat_dense.safetensors
"""

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn as nn

from lisq.data import FASHION_MNIST_NORM, TensorBatches, load_fashion_mnist
from lisq.metrics import evaluate
from lisq.models.checkpoint import save_weights
from lisq.models.resolve import build_model

MODEL_FILE = str(Path(__file__).parent / "external" / "gelu_concat_net.py")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--factory", default="factory", help="factory in gelu_concat_net.py (factory, dense_factory)")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="out/gelu_concat_net.safetensors")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    model_ref = f"{MODEL_FILE}:{args.factory}"
    model = build_model(model_ref).train()
    x, y = load_fashion_mnist("train")
    batches = TensorBatches(x, y, FASHION_MNIST_NORM, 128, shuffle=True, augment_pad=2, augment_flip=True, seed=args.seed)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 0.1, total_steps=args.epochs * len(batches), pct_start=0.15)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    start = time.time()
    for _ in range(args.epochs):
        for xb, yb in batches:
            loss = loss_fn(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    model.eval()
    tx, ty = load_fashion_mnist("test")
    result = evaluate(model, TensorBatches(tx, ty, FASHION_MNIST_NORM, 500))
    save_weights(model, args.out)
    print(json.dumps({"model": model_ref, "epochs": args.epochs, "seconds": round(time.time() - start, 1), **result}))


if __name__ == "__main__":
    main()
