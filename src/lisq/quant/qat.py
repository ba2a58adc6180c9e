"""Quantization-aware training: LSQ steps + distillation from the float model on the calibration set.

No labels are used: the loss is KL(teacher || student) on temperature-softened logits. The model
stays in eval mode while training (dropout off; BatchNorms that could not be folded keep their
running statistics instead of re-estimating them from a small synthetic set) - our choice.
Under torchrun (torch.distributed initialised by the caller) the model is wrapped in DDP and every
epoch's shuffled order is split into equal disjoint shards, one per rank.
"""

from __future__ import annotations

import math

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from tqdm import tqdm

from lisq.quant.config import QuantConfig
from lisq.quant.quantizer import quantizers, scale_param_groups, set_quant_state


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    t = temperature
    return F.kl_div(F.log_softmax(student_logits / t, dim=1), F.softmax(teacher_logits / t, dim=1), reduction="batchmean") * t * t


def _world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def train_qat(
    qmodel: nn.Module, teacher: nn.Module, calib: torch.Tensor, config: QuantConfig, progress: bool = False
) -> list[float]:
    """LSQ fine-tuning of an initialised quantized model; returns the mean loss per epoch (this rank)."""
    rank, world = _world()
    set_quant_state(qmodel, weights=True, activations=True)
    for _, q in quantizers(qmodel):
        q.scale.requires_grad_(True)
    teacher = teacher.eval()
    scale_ids = {id(q.scale) for _, q in quantizers(qmodel)}
    weights = [p for p in qmodel.parameters() if p.requires_grad and id(p) not in scale_ids]
    groups = [{"params": weights, "lr": config.qat_lr}] + scale_param_groups([q for _, q in quantizers(qmodel)], config.scale_lr)
    model = qmodel
    if world > 1:
        model = nn.parallel.DistributedDataParallel(qmodel, find_unused_parameters=False)
    n_local = len(calib) // world
    if n_local == 0:
        raise ValueError(f"{len(calib)} calibration samples cannot be split over {world} ranks")
    steps_per_epoch = math.ceil(n_local / config.qat_batch_size)
    total = config.epochs * steps_per_epoch
    optimizer = torch.optim.Adam(groups)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * s / total)))
    qmodel.eval()
    history = []
    bar = tqdm(total=total, desc="qat", disable=not progress or rank != 0, mininterval=2)
    try:
        for epoch in range(config.epochs):
            order = torch.randperm(len(calib), generator=torch.Generator().manual_seed(config.seed * 1000 + epoch))
            shard = order[rank * n_local : (rank + 1) * n_local]
            losses = []
            for start in range(0, n_local, config.qat_batch_size):
                x = calib[shard[start : start + config.qat_batch_size]]
                with torch.no_grad():
                    target = teacher(x)
                loss = distillation_loss(model(x), target, config.kd_temperature)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                with torch.no_grad():
                    for _, q in quantizers(qmodel):
                        q.scale.clamp_(min=1e-8)
                losses.append(loss.item())
                bar.update(1)
            history.append(sum(losses) / len(losses))
            bar.set_postfix(kd=f"{history[-1]:.4f}", refresh=False)
    finally:
        bar.close()
        for _, q in quantizers(qmodel):
            q.scale.requires_grad_(False)
    return history
