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
