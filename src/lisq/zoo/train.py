"""Train one registered architecture on a dataset's train split: the recipe behind the shipped schools.

Writes OUT/<arch>.<dataset>.safetensors and its JSON record (config, seed, epochs, seconds, test
top-1, input convention). A checkpoint OUT/.train/<arch>.<dataset>.pt is written atomically after
every epoch (model, optimiser, schedule, data-order and RNG state, seconds so far), so a run killed
at any point continues with `resume=True` (`lisq zoo train ... --resume`) and ends with the same
weights as an uninterrupted run on the same machine and thread count.

`init` starts from existing weights instead of a fresh initialisation (a warm restart: a new one-cycle
schedule, usually at a lower peak lr, over `epochs` more epochs). The record then carries where the
weights came from (file, SHA-256, and that file's own record), and `seconds_total` adds its seconds.
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
from lisq.models.checkpoint import atomic_write, load_weights, save_weights
from lisq.models.registry import (
    create_model,
    get_entry,
    is_registered,
    num_params,
    pretrained_path,
    pretrained_record,
    split_name,
    weights_name,
)

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
    init: str | None = None  # weights to start from (a .safetensors/.pt file or a zoo name ARCH.DATASET)

    def record_config(self) -> dict:
        """The config as written in the record; `dataset` only when it is not Fashion-MNIST (old records)."""
        d = asdict(self)
        if self.dataset == "fmnist":
            d.pop("dataset")
        if self.init is None:
            d.pop("init")
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


def resolve_init(init: str, arch: str, dataset: str) -> tuple[Path, dict | None]:
    """The weights file `init` names and the training record beside it (None when it has none)."""
    path = Path(init)
    if not path.is_file():
        name = init if "." in init and not init.endswith((".safetensors", ".pt", ".pth", ".th")) else None
        found = pretrained_path(name) if name and is_registered(name) else None
        if found is None:
            raise LisqError(f"--init {init!r} is neither a weights file nor a zoo model with weights; "
                            f"give a .safetensors/.pt path or e.g. {weights_name(arch, dataset)}")
        if split_name(name)[0] != arch:
            raise LisqError(f"--init {init!r} holds {split_name(name)[0]} weights, not {arch}; give weights of {arch}")
        return found, pretrained_record(name)
    side = path.with_suffix(".json")
    return path, (json.loads(side.read_text()) if side.is_file() else None)


def _init_summary(path: Path, record: dict | None) -> dict:
    from lisq.zoo.outside import sha256_of

    summary = {"file": path.name, "sha256": sha256_of(path)}
    if record:
        summary["record"] = {k: record[k] for k in ("epochs", "seconds", "seconds_total", "test_top1", "config") if k in record}
    return summary


def _seconds_before(init: dict) -> float:
    """Training seconds behind the init weights, as far as their record tells (0 without one)."""
    record = init.get("record") or {}
    return float(record.get("seconds_total", record.get("seconds", 0.0)))


def train_model(cfg: TrainConfig, out_dir: str | Path, progress: bool = True, resume: bool = False,
                eval_every: int = 0) -> dict:
    """Train, evaluate on the full test split, write the weights and the record; returns the record.

    `eval_every` N > 0 also measures test top-1 after every N-th epoch, into that epoch's history entry (and
    the progress line). It does not change the weights (eval mode, no random numbers drawn), and its time is
    kept out of the training seconds."""
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
    model = create_model(cfg.arch, cfg.num_classes, cfg.in_channels)
    init = None
    if cfg.init is not None:
        init_path, init_record = resolve_init(cfg.init, cfg.arch, cfg.dataset)
        init = _init_summary(init_path, init_record)  # read before training: the output may overwrite this file
        load_weights(model, init_path)
    model = model.to(memory_format=torch.channels_last)
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
        if eval_every > 0 and (epoch + 1) % eval_every == 0:
            t0 = time.time()
            history[-1]["test_top1"] = evaluate(model, test_split.batches(spec, 500))["top1"]
            start += time.time() - t0  # the training seconds leave the evaluation out
            if progress:
                tqdm.write(f"{cfg.arch}.{cfg.dataset} epoch {epoch + 1}: test top-1 {100 * history[-1]['test_top1']:.2f}")
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
        **({"init": init, "seconds_total": round(seconds + _seconds_before(init), 1)} if init else {}),
        "torch": torch.__version__,
    }
    name = weights_name(cfg.arch, cfg.dataset)
    save_weights(model, out_dir / f"{name}.safetensors")
    atomic_write(out_dir / f"{name}.json", lambda tmp: Path(tmp).write_text(json.dumps(record, indent=2) + "\n"))
    ckpt.unlink(missing_ok=True)
    return record
