"""Quality of a synthetic image set seen by judge models (SPEC section 10).

fidelity   share of images the judge classifies as their target label
diversity  mean pairwise cosine distance of judge penultimate features (overall and per class)
bn_dist    the BN term of SPEC section 3 on the judge, with mean/var taken over the WHOLE set
           (not per batch), so sets of any size and batch size compare on one scale
frechet    Frechet distance between Gaussian fits of judge features of the set and of real images
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from lisq.data.spec import InputSpec
from lisq.data.transforms import Normalization
from lisq.metrics.accuracy import batched_forward
from lisq.school.hooks import BNMomentsAccumulator, bn_layers
from lisq.school.losses import bn_term


class Judge:
    """A model used only to score data, with the input convention it expects (an InputSpec)."""

    def __init__(self, name: str, model: nn.Module, spec: InputSpec | Normalization | None = None):
        if isinstance(spec, Normalization):  # Judge(name, model, norm): a model of the Fashion-MNIST shape
            spec = InputSpec(len(spec.mean), 28, spec.mean, spec.std)
        self.name, self.model, self.spec = name, model, spec or InputSpec()

    @property
    def input_size(self) -> int:
        return self.spec.size

    @property
    def channels(self) -> int:
        return self.spec.channels

    def prepare(self, pixels: torch.Tensor) -> torch.Tensor:
        """[N, C, H, W] pixels in [0, 1] -> this judge's normalised input."""
        if pixels.shape[1] != self.channels:
            grey = pixels.mean(1, keepdim=True)
            pixels = grey if self.channels == 1 else grey.expand(-1, self.channels, -1, -1)
        if pixels.shape[-1] != self.input_size or pixels.shape[-2] != self.input_size:
            pixels = F.interpolate(pixels, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False)
        return self.spec.norm.normalize(pixels)


def judge_from_reference(ref: str, weights: str | None = None, dataset: str | None = None) -> Judge:
    """A judge from any model reference (registry name with shipped weights, file.py:factory + weights, SOURCE:NAME)."""
    from lisq.school.teacher import spec_from_reference

    spec = spec_from_reference(ref, weights, dataset)
    return Judge(spec.name, spec.build("cpu"), spec.input)


def _last_linear(model: nn.Module) -> nn.Linear | None:
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    return linears[-1] if linears else None


@torch.no_grad()
def judge_outputs(judge: Judge, pixels: torch.Tensor, batch_size: int = 256, with_bn: bool = True) -> dict:
    """Logits, penultimate features (input of the last Linear; logits if none) and whole-set BN moments."""
    model = judge.model.eval()
    head = _last_linear(model)
    feats: list[torch.Tensor] = []
    handle = head.register_forward_pre_hook(lambda m, inp: feats.append(inp[0].flatten(1).double())) if head else None
    acc = BNMomentsAccumulator(model, judge.name) if with_bn and bn_layers(model) else None
    logits = []
    try:
        for i in range(0, len(pixels), batch_size):
            logits.append(batched_forward(model, judge.prepare(pixels[i : i + batch_size].float())).double())
    finally:
        if handle is not None:
            handle.remove()
        if acc is not None:
            acc.remove()
    logits_t = torch.cat(logits)
    return {
        "logits": logits_t,
        "features": torch.cat(feats) if feats else logits_t,
        "bn_moments": acc.moments() if acc is not None else None,
    }


def fidelity(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return float((logits.argmax(1) == labels).double().mean())


def mean_pairwise_cosine_distance(features: torch.Tensor) -> float:
    """1 - mean cosine similarity over all pairs i != j, in O(N) via the sum of unit vectors."""
    n = len(features)
    if n < 2:
        return float("nan")
    unit = F.normalize(features.double(), dim=1)
    total = unit.sum(0)
    similarity = (total.dot(total) - n) / (n * (n - 1))
    return float(1 - similarity)


def diversity(features: torch.Tensor, labels: torch.Tensor) -> dict:
    """Mean pairwise cosine distance overall and per class; None where fewer than 2 images (JSON null, not NaN)."""
    def value(x: float) -> float | None:
        return x if np.isfinite(x) else None

    per_class = {int(c): value(mean_pairwise_cosine_distance(features[labels == c])) for c in labels.unique().tolist()}
    finite = [v for v in per_class.values() if v is not None]
    return {
        "overall": value(mean_pairwise_cosine_distance(features)),
        "mean_per_class": float(np.mean(finite)) if finite else None,
        "per_class": per_class,
    }


def bn_distance(moments) -> float:
    return float(bn_term(moments))


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2)), via symmetric eigendecompositions (stable)."""
    a, b = a.double().numpy(), b.double().numpy()
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(s_a)
    root_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    cross = np.linalg.eigvalsh(root_a @ s_b @ root_a)
    trace_sqrt = np.sqrt(np.clip(cross, 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2 * trace_sqrt)


def judge_report(judge: Judge, pixels: torch.Tensor, labels: torch.Tensor, real: tuple | None = None,
                 reference: dict | None = None) -> dict:
    """All section-10 metrics of one image set for one judge; `real` = (pixels, labels) adds Frechet + references
    (`reference`: the judge's outputs on those real pixels, if already computed)."""
    out = judge_outputs(judge, pixels)
    report = {
        "fidelity": fidelity(out["logits"], labels),
        "diversity": diversity(out["features"], labels),
        "bn_distance": bn_distance(out["bn_moments"]) if out["bn_moments"] is not None else None,
    }
    if real is not None:
        ref = reference if reference is not None else judge_outputs(judge, real[0])
        report["frechet"] = frechet_distance(out["features"], ref["features"])
        report["real_reference"] = {
            "n": len(real[1]),
            "fidelity": fidelity(ref["logits"], real[1]),
            "diversity": mean_pairwise_cosine_distance(ref["features"]),
            "bn_distance": bn_distance(ref["bn_moments"]) if ref["bn_moments"] is not None else None,
        }
    return report
