"""Train one registered architecture on a dataset's train split: the recipe behind the shipped schools.

Writes OUT/<arch>.<dataset>.safetensors and its JSON record (config, seed, epochs, seconds, test
top-1, input convention). A checkpoint OUT/.train/<arch>.<dataset>.pt is written atomically after
every epoch (model, optimiser, schedule, data-order and RNG state, seconds so far), so a run killed
at any point continues with `resume=True` (`lisq zoo train ... --resume`) and ends with the same
weights as an uninterrupted run on the same machine and thread count.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
import torch.nn as nn
from tqdm import tqdm

from lisq.data import get_dataset
from lisq.errors import LisqError
from lisq.metrics.accuracy import evaluate
from lisq.models.checkpoint import atomic_write, save_weights
from lisq.models.registry import create_model, get_entry, num_params, weights_name

# Fashion-MNIST epochs per architecture, chosen so every net clears 90 % test top-1 within a CPU budget.
DEFAULT_EPOCHS = {"resnet20": 8, "resnet14": 6, "vgg7": 6, "mobilenetv2_100": 7, "mobilenetv2_050": 8, "densenet_s": 6, "resnet8": 8, "plaincnn": 10, "shufflenetv2_s": 8}
# Random-shift padding per dataset (the standard CIFAR recipe pads 4 px; Fashion-MNIST was trained with 2).
DEFAULT_PAD = {"fmnist": 2, "cifar10": 4}
CHECKPOINT_DIR = ".train"


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
    dataset: str = "fmnist"

    def record_config(self) -> dict:
        """The config as written in the record; `dataset` only when it is not Fashion-MNIST (old records)."""
        d = asdict(self)
        if self.dataset == "fmnist":
            d.pop("dataset")
        return d


def checkpoint_path(out_dir: Path, cfg: TrainConfig) -> Path:
    return out_dir / CHECKPOINT_DIR / f"{weights_name(cfg.arch, cfg.dataset)}.pt"


def _same_run(saved: dict, cfg: TrainConfig) -> str | None:
    """First setting where a checkpoint's config differs from `cfg` (threads may differ), or None."""
    ours = asdict(cfg)
    for f in fields(TrainConfig):
        if f.name != "threads" and saved.get(f.name, f.default) != ours[f.name]:
            return f.name
    return None


def train_model(cfg: TrainConfig, out_dir: str | Path, progress: bool = True, resume: bool = False) -> dict:
    """Train, evaluate on the full test split, write the weights and the record; returns the record."""
    get_entry(cfg.arch)  # fail fast on unknown names
    dataset = get_dataset(cfg.dataset)
    if dataset.input is None:
        raise LisqError(f"dataset {cfg.dataset!r} has no input convention of its own; train your own model on it outside lisq")
    spec = dataset.input
    if (cfg.num_classes, cfg.in_channels) != (spec.num_classes, spec.channels):
        raise LisqError(f"{cfg.dataset} has {spec.num_classes} classes and {spec.channels} channels; "
                        f"the training config says {cfg.num_classes} and {cfg.in_channels}")
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    out_dir = Path(out_dir)
    model = create_model(cfg.arch, cfg.num_classes, cfg.in_channels).to(memory_format=torch.channels_last)
    train_split, test_split = dataset.split("train"), dataset.split("test")
    batches = train_split.train_batches(spec, cfg.batch_size, cfg.seed, cfg.augment_pad, cfg.augment_flip,
                                        channels_last=True, limit=cfg.limit)
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
    ckpt = checkpoint_path(out_dir, cfg)
    first_epoch, elapsed, history = 0, 0.0, []
    if resume and ckpt.is_file():
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        diff = _same_run(state["config"], cfg)
        if diff is not None:
            raise LisqError(f"checkpoint {ckpt} was made with another {diff!r}; rerun with its settings or delete it")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        batches.generator.set_state(state["data_rng"])
        torch.set_rng_state(state["torch_rng"])
        first_epoch, elapsed, history = int(state["epoch"]), float(state["seconds"]), list(state.get("history", []))
    elif ckpt.is_file() and not resume:
        raise LisqError(f"{ckpt} holds an unfinished training of {cfg.arch} on {cfg.dataset}; pass --resume to continue it or delete it")
    start = time.time() - elapsed
    for epoch in range(first_epoch, cfg.epochs):
        model.train()
        bar = tqdm(batches, desc=f"{cfg.arch}.{cfg.dataset} epoch {epoch + 1}/{cfg.epochs}", disable=not progress, mininterval=5)
        total, count = 0.0, 0
        for x, y in bar:
            loss = criterion(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total, count = total + loss.item() * len(y), count + len(y)
            bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
        history.append({"epoch": epoch + 1, "train_loss": round(total / max(count, 1), 5), "seconds": round(time.time() - start, 1)})
        state = {
            "config": asdict(cfg), "epoch": epoch + 1, "seconds": time.time() - start, "history": history,
            "model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
            "data_rng": batches.generator.get_state(), "torch_rng": torch.get_rng_state(),
        }
        atomic_write(ckpt, lambda tmp, s=state: torch.save(s, tmp))
    seconds = time.time() - start
    model = model.to(memory_format=torch.contiguous_format)
    result = evaluate(model, test_split.batches(spec, 500))
    record = {
        "arch": cfg.arch,
        "family": get_entry(cfg.arch).family,
        "params": num_params(model),
        "config": cfg.record_config(),
        "seed": cfg.seed,
        "epochs": cfg.epochs,
        "seconds": round(seconds, 1),
        "test_top1": result["top1"],
        "test_n": result["n"],
        "normalization": spec.norm.to_dict(),
        "input_size": [cfg.in_channels, spec.size, spec.size],
        "dataset": cfg.dataset,
        "input": spec.to_dict(),
        "history": history,
        "torch": torch.__version__,
    }
    name = weights_name(cfg.arch, cfg.dataset)
    save_weights(model, out_dir / f"{name}.safetensors")
    atomic_write(out_dir / f"{name}.json", lambda tmp: Path(tmp).write_text(json.dumps(record, indent=2) + "\n"))
    ckpt.unlink(missing_ok=True)
    return record
