"""The registry of objective terms of the inversion (SPEC section 3) and how one step sums them.

    L(x, y) = (1/|S|) sum_{t in S} w_t * sum_{teacher terms}  a_term * term_t(logits_t, y, BN_t)
            + mean(w_t)            * sum_{image terms}    a_term * term(x)

A term is registered once here (or from any module) with its default weight and whether it is
computed per teacher or once on the images. Its weight is the SynthConfig key `a_<name>` for the
built-in terms, and `term_weights: {<name>: w}` for any other: adding a term is one `register_term`
call; the generators' presets, the CLI flag (`--a-<name>`), the resolved config and the manifest's
`loss` record follow from the registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from lisq.school.losses import ce_term, l2_term, tv_term


@dataclass(frozen=True)
class Term:
    """One objective term.

    scope 'teacher': fn(logits, target, recorder, cfg) per scheduled teacher, weighted by its w_t;
    scope 'image': fn(x, cfg) on the images, weighted by the schedule's mean w_t.
    `always`: computed (and recorded) even with weight 0 (the BN term, which the recorder measures anyway).
    """

    name: str
    scope: str
    fn: Callable
    default: float
    always: bool = False
    help: str = ""

    @property
    def key(self) -> str:
        return f"a_{self.name}"


TERMS: dict[str, Term] = {}


def register_term(term: Term) -> Term:
    if term.name in TERMS:
        raise ValueError(f"objective term {term.name!r} is registered twice")
    if term.scope not in ("teacher", "image"):
        raise ValueError(f"term scope must be 'teacher' or 'image', got {term.scope!r}")
    TERMS[term.name] = term
    return term


def teacher_terms() -> list[Term]:
    return [t for t in TERMS.values() if t.scope == "teacher"]


def image_terms() -> list[Term]:
    return [t for t in TERMS.values() if t.scope == "image"]


register_term(Term("ce", "teacher", lambda logits, target, recorder, cfg: ce_term(logits, target), 1.0,
                   help="cross entropy of the teacher on the target labels"))
register_term(Term("bn", "teacher", lambda logits, target, recorder, cfg: recorder.bn_loss(), 10.0, always=True,
                   help="BN statistics: mean over BN layers of ||mu - mu_t|| + ||var - var_t||"))
register_term(Term("tv", "image", lambda x, cfg: tv_term(x, cfg.tv_norm), 0.05, help="total variation prior"))
register_term(Term("l2", "image", lambda x, cfg: l2_term(x), 1e-3, help="l2 prior of the normalised images"))


def term_weights(cfg) -> dict[str, float]:
    """The resolved weight of every term in `cfg` (SynthConfig after `resolved()`): its `a_<name>` field,
    or for a term registered without one, `term_weights[name]`."""
    extra = cfg.term_weights or {}
    return {t.name: getattr(cfg, t.key) if hasattr(cfg, t.key) else extra.get(t.name, t.default) for t in TERMS.values()}


class StepObjective:
    """Sums the terms of one iteration in a fixed order (so results are reproducible bit for bit)."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.weights = term_weights(cfg)
        self.teacher = teacher_terms()
        self.image = image_terms()

    def teacher_values(self, logits: torch.Tensor, target, recorder, w: float) -> dict:
        """w_t * term_t for every teacher term (0.0 for a term that is off)."""
        out = {}
        for term in self.teacher:
            if self.weights[term.name] or term.always:
                out[term.name] = w * term.fn(logits, target, recorder, self.cfg)
            else:
                out[term.name] = 0.0
        return out

    def weighted_teacher_sum(self, values: dict):
        """sum over teacher terms of a_term * value, left to right in registry order."""
        total = None
        for term in self.teacher:
            part = self.weights[term.name] * values[term.name]
            total = part if total is None else total + part
        return total

    def image_values(self, x: torch.Tensor) -> dict:
        """Image terms that are on (None for a term that is off)."""
        return {t.name: (t.fn(x, self.cfg) if self.weights[t.name] or t.always else None) for t in self.image}

    def add_image_terms(self, loss, values: dict, w_mean: float):
        """loss + mean(w_t) * a_term * term for the image terms that are on; also returns their sum alone."""
        prior = 0.0
        for term in self.image:
            value = values[term.name]
            if value is not None:
                part = w_mean * self.weights[term.name] * value
                loss = loss + part
                prior = prior + part
        return loss, prior
