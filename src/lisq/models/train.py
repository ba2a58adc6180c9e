"""Train one registered architecture on Fashion-MNIST: the recipe behind the shipped demo school."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn as nn
from tqdm import tqdm

from lisq.data import FASHION_MNIST_NORM, TensorBatches, load_fashion_mnist
from lisq.metrics import evaluate
from lisq.models.checkpoint import atomic_write, save_weights
from lisq.models.registry import create_model, get_entry, num_params

# Epochs per architecture, chosen so every net clears 90 % test top-1 within a CPU budget.
DEFAULT_EPOCHS = {"resnet20": 8, "resnet14": 6, "vgg7": 6, "mobilenetv2_100": 7, "mobilenetv2_050": 8, "densenet_s": 6, "resnet8": 8, "plaincnn": 10, "shufflenetv2_s": 8}


@dataclass
class TrainConfig:
    arch: str
    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    augment_pad: int = 2
    augment_flip: bool = True
    seed: int = 0
    num_classes: int = 10
    in_channels: int = 1
    threads: int = 1
    limit: int | None = None  # train on the first N images only (smoke tests)
    extra: dict = field(default_factory=dict)


def train_model(cfg: TrainConfig, out_dir: str | Path, progress: bool = True) -> dict:
    """Train, evaluate on the full test split, write OUT/<arch>.safetensors and OUT/<arch>.json."""
    get_entry(cfg.arch)  # fail fast on unknown names
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    out_dir = Path(out_dir)
    model = create_model(cfg.arch, cfg.num_classes, cfg.in_channels).to(memory_format=torch.channels_last)
    train_x, train_y = load_fashion_mnist("train")
    test_x, test_y = load_fashion_mnist("test")
    if cfg.limit:
        train_x, train_y = train_x[: cfg.limit], train_y[: cfg.limit]
    batches = TensorBatches(
        train_x, train_y, FASHION_MNIST_NORM, cfg.batch_size, shuffle=True,
        augment_pad=cfg.augment_pad, augment_flip=cfg.augment_flip, seed=cfg.seed, channels_last=True,
    )
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    optimizer = torch.optim.SGD(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.lr, momentum=cfg.momentum, nesterov=True,
    )
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=cfg.lr, total_steps=cfg.epochs * len(batches), pct_start=0.15
    )
    criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    start = time.time()
    for epoch in range(cfg.epochs):
        model.train()
        bar = tqdm(batches, desc=f"{cfg.arch} epoch {epoch + 1}/{cfg.epochs}", disable=not progress, mininterval=5)
        for x, y in bar:
            loss = criterion(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    seconds = time.time() - start
    model = model.to(memory_format=torch.contiguous_format)
    result = evaluate(model, TensorBatches(test_x, test_y, FASHION_MNIST_NORM, 500))
    record = {
        "arch": cfg.arch,
        "family": get_entry(cfg.arch).family,
        "params": num_params(model),
        "config": asdict(cfg),
        "seed": cfg.seed,
        "epochs": cfg.epochs,
        "seconds": round(seconds, 1),
        "test_top1": result["top1"],
        "test_n": result["n"],
        "normalization": FASHION_MNIST_NORM.to_dict(),
        "input_size": [cfg.in_channels, 28, 28],
        "torch": torch.__version__,
    }
    save_weights(model, out_dir / f"{cfg.arch}.safetensors")
    atomic_write(out_dir / f"{cfg.arch}.json", lambda tmp: Path(tmp).write_text(json.dumps(record, indent=2) + "\n"))
    return record
