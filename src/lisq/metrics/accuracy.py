"""Top-k accuracy of a classifier on tensors or a DataLoader."""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn as nn

# Pixels per forward pass on CPU: 64 images at 32 px, 16 at 64 px, 1 at 224-260 px. Larger batches spill
# the activations out of the caches: EfficientNet-Lite2 at 260 px took 63 ms per image at batch 1 and
# 227 ms at batch 64 on one thread; the CIFAR-10 mobilenetv2_100 2.2x longer at batch 256 than at 64
# (`benchmarks/forward_batch.py`, RESULTS.md "Forward batch size on CPU"). GPUs keep the batch they are given.
CPU_FORWARD_PIXELS = 1 << 16


def forward_batch_size(x: torch.Tensor, requested: int | None = None) -> int:
    """Images per forward pass for inputs like `x`: the pixel budget on CPU, else `requested` (or all)."""
    requested = requested or len(x)
    if x.device.type != "cpu" or x.dim() != 4:
        return requested
    return max(1, min(requested, CPU_FORWARD_PIXELS // (x.shape[-1] * x.shape[-2])))


def batched_forward(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """model(x) in cache-sized pieces (an eval-mode model treats samples independently)."""
    n = forward_batch_size(x)
    if n >= len(x):
        return model(x)
    return torch.cat([model(part) for part in x.split(n)])


@torch.no_grad()
def evaluate(model: nn.Module, batches: Iterable, topk: tuple[int, ...] = (1,), progress: bool = False) -> dict:
    """Top-k accuracies over batches of (normalised inputs, labels); returns {'top1': .., 'n': ..}."""
    from tqdm import tqdm

    was_training = model.training
    model.eval()
    correct = {k: 0 for k in topk}
    n = 0
    for x, y in tqdm(batches, desc="eval", disable=not progress, leave=False):
        logits = batched_forward(model, x)
        kmax = min(max(topk), logits.shape[1])
        pred = logits.topk(kmax, dim=1).indices
        hits = pred.eq(y.view(-1, 1))
        for k in topk:
            correct[k] += int(hits[:, : min(k, kmax)].any(dim=1).sum())
        n += len(y)
    model.train(was_training)
    return {**{f"top{k}": correct[k] / max(n, 1) for k in topk}, "n": n}


@torch.no_grad()
def predictions(model: nn.Module, batches: Iterable, k: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    """(top-k class indices [N, k], labels [N]) over batches of (normalised inputs, labels)."""
    was_training = model.training
    model.eval()
    preds, labels = [], []
    for x, y in batches:
        logits = batched_forward(model, x)
        preds.append(logits.topk(min(k, logits.shape[1]), dim=1).indices)
        labels.append(y)
    model.train(was_training)
    return torch.cat(preds), torch.cat(labels)


def prediction_metrics(pred: torch.Tensor, labels: torch.Tensor, reference: torch.Tensor | None = None) -> dict:
    """top1, top5 (of the k predicted) and, given the full-precision model's predictions, the top-1 agreement."""
    hits = pred.eq(labels.view(-1, 1))
    out = {"top1": hits[:, 0].float().mean().item(), "top5": hits[:, :5].any(dim=1).float().mean().item(), "n": len(labels)}
    if reference is not None:
        out["agreement"] = pred[:, 0].eq(reference[:, 0]).float().mean().item()
    return out
