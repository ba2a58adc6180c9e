"""Top-k accuracy of a classifier on tensors or a DataLoader."""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn as nn


@torch.no_grad()
def evaluate(model: nn.Module, batches: Iterable, topk: tuple[int, ...] = (1,), progress: bool = False) -> dict:
    """Top-k accuracies over batches of (normalised inputs, labels); returns {'top1': .., 'n': ..}."""
    from tqdm import tqdm

    was_training = model.training
    model.eval()
    correct = {k: 0 for k in topk}
    n = 0
    for x, y in tqdm(batches, desc="eval", disable=not progress, leave=False):
        logits = model(x)
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
        logits = model(x)
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
