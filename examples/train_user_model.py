"""Train a user-defined model (any file.py:factory) on Fashion-MNIST with the zoo's recipe.

    python examples/train_user_model.py examples/concat_gelu_net.py:factory out/concat_gelu.safetensors --epochs 4
"""

import argparse
import time

import torch
import torch.nn as nn

from lisq.data import FASHION_MNIST_NORM, TensorBatches, load_fashion_mnist
from lisq.metrics import evaluate
from lisq.models import save_weights
from lisq.models.resolve import build_model


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("out")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    model = build_model(args.model).train().to(memory_format=torch.channels_last)
    x, y = load_fashion_mnist("train")
    batches = TensorBatches(x, y, FASHION_MNIST_NORM, 128, shuffle=True, augment_pad=2, augment_flip=True,
                            seed=args.seed, channels_last=True)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 0.1, total_steps=args.epochs * len(batches), pct_start=0.15)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    start = time.time()
    for _ in range(args.epochs):
        for xb, yb in batches:
            opt.zero_grad(set_to_none=True)
            loss_fn(model(xb), yb).backward()
            opt.step()
            sched.step()
    model = model.to(memory_format=torch.contiguous_format)
    save_weights(model, args.out)
    tx, ty = load_fashion_mnist("test")
    print({"test_top1": evaluate(model, TensorBatches(tx, ty, FASHION_MNIST_NORM, 500))["top1"],
           "seconds": round(time.time() - start, 1)})


if __name__ == "__main__":
    main()
