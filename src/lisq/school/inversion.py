"""The one inversion loop: every generator is this loop with other objective terms and teacher samplers.

`Synthesizer.run_batch(b)` makes batch b from nothing but (config, school, b): its schedule, initial
noise, labels and augmentations come from its own random streams (lisq.school.seeds).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from lisq.errors import LisqError
from lisq.precision import autocast, backward_step, grad_scaler, to_contiguous
from lisq.school.augment import AugmentPlan
from lisq.school.config import SynthConfig
from lisq.school.courses import CourseSampler, School
from lisq.school.objective import StepObjective
from lisq.school.seeds import STREAM_NOISE, STREAM_REAL, STREAM_SCHEDULE, derive_seed
from lisq.school.teacher import Teacher

CHECK_EVERY = 25  # iterations between finite-loss checks (a host sync on GPU)


@dataclass
class BatchResult:
    pixels: torch.Tensor  # [n, C, H, W] in [0, 1]
    labels: list[int]
    rows: list[dict]
    teacher_passes: int
    image_iters: int


class _Diverged(Exception):
    pass


class Plateau:
    """Early stop of one batch: every `window` recorded losses, compare the mean of the last window with the window
    before; stop when it fell by less than `tol` of it. window 0 never stops. One host sync per window.

    A step whose loss is not `comparable` with the others is not recorded: MixMix's CutMix steps have other images
    and soft targets, so their loss sits well above the plain steps'. Counting them made a 50/50 mix of two levels
    look flat and stopped MixMix batches at 60-120 of 200 iterations on CIFAR-10 (RESULTS.md, "CIFAR-10 bench")."""

    def __init__(self, window: int, tol: float):
        self.window, self.tol, self.history, self.recorded = window, tol, [], 0

    def stop(self, loss: torch.Tensor, comparable: bool = True) -> bool:
        if not self.window or not comparable:
            return False
        self.history.append(loss.detach().float())
        self.recorded += 1
        if self.recorded % self.window or self.recorded < 2 * self.window:
            return False
        recent = torch.stack(self.history[-2 * self.window:]).double()
        before, last = float(recent[: self.window].mean()), float(recent[self.window:].mean())
        del self.history[: -2 * self.window]
        return before - last < self.tol * abs(before)


class Synthesizer:
    """Runs the inversion for single batches; holds the school, the canvas and the loaded teachers."""

    def __init__(self, cfg: SynthConfig, school: School | None, device: torch.device, quiet: bool = True):
        cfg = cfg.with_speed()  # idempotent; fills the dataset's preset for callers that skip plan_synthesis
        self.cfg, self.school, self.device, self.quiet = cfg, school, device, quiet
        self.preset = cfg.preset
        self.canvas = cfg.canvas
        self.norm = self.canvas.norm
        self.sampler = CourseSampler(cfg.sampler, cfg.k, cfg.resample_every, cfg.teacher) if school else None
        self._teachers: dict[int, Teacher] = {}
        mean = torch.tensor(cfg.mean).view(1, -1, 1, 1)
        std = torch.tensor(cfg.std).view(1, -1, 1, 1)
        self.lo, self.hi = ((0 - mean) / std).to(device), ((1 - mean) / std).to(device)
        self._real = None
        self.postfix = None
        self.pace = None  # called between iterations (lisq.runtime.ThreadGovernor); never inside an op

    # ------------------------------------------------------------ teachers
    def teacher(self, index: int) -> Teacher:
        """Load a teacher the first time one of this worker's batches draws it."""
        if index not in self._teachers:
            spec = self.school.teachers[index]
            self._teachers[index] = Teacher(spec, self.canvas, self.device, channels_last=self.cfg.channels_last,
                                            any_size=bool(self.cfg.lowres_iters),
                                            low_scale=self.cfg.lowres_scale if self.cfg.lowres_iters else None)
        return self._teachers[index]

    def close(self) -> None:
        """Remove the BN hooks and restore NCHW weights (teachers passed as nn.Modules are the caller's objects)."""
        for t in self._teachers.values():
            if t.recorder is not None:
                t.recorder.remove()
            if t.size_hooks is not None:
                t.size_hooks.remove()
            if t.channels_last:
                to_contiguous(t.model)

    def forward(self, t: Teacher, x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
        """Float32 logits of teacher t on canvas images x (the model compute under autocast when amp is on);
        `scale` < 1 during the low-resolution phase of multi-resolution synthesis."""
        with autocast(self.cfg.amp, self.device):
            logits = t.model(t.adapt(x, scale))
        return logits.float()

    def loaded(self) -> list[str]:
        return [self.school.teachers[i].name for i in sorted(self._teachers)]

    def plan(self, batch: int) -> list[tuple[int, list[int]]]:
        """The schedule of a batch: segments (first iteration, teacher indices)."""
        if self.school is None:
            return []
        rng = np.random.default_rng(derive_seed(self.cfg.seed, batch, 0, STREAM_SCHEDULE))
        return self.sampler.schedule(self.school, rng, max(self.cfg.iters, 1))

    # ------------------------------------------------------------ one batch
    def batch_slice(self, batch: int) -> tuple[int, int]:
        start = batch * self.cfg.batch_size
        return start, min(self.cfg.batch_size, self.cfg.num_images - start)

    def run_batch(self, batch: int) -> BatchResult:
        cfg = self.cfg
        if cfg.generator == "real":
            return self._real_batch(batch)
        segments = self.plan(batch)
        for attempt in range(cfg.max_restarts + 1):
            try:
                return self._invert(batch, attempt, segments)
            except _Diverged as exc:
                warnings.warn(f"batch {batch}: {exc}; restarting it from derived seed attempt {attempt + 1}", RuntimeWarning, stacklevel=2)
        raise LisqError(f"batch {batch} diverged {cfg.max_restarts + 1} times (NaN/Inf loss); lower --lr or the loss weights")

    def _invert(self, batch: int, attempt: int, segments) -> BatchResult:
        cfg, preset, dev = self.cfg, self.preset, self.device
        seed = derive_seed(cfg.seed, batch, attempt, STREAM_NOISE)
        gen = torch.Generator().manual_seed(seed)
        start, n = self.batch_slice(batch)
        C = cfg.num_classes
        labels = (torch.arange(start, start + n) % C).to(dev)
        x = torch.randn(n, cfg.channels, cfg.image_size, cfg.image_size, generator=gen).to(dev)
        x = torch.maximum(torch.minimum(x, self.hi), self.lo)
        K = cfg.iters if preset.optimise else 0
        terms = {}
        passes, used = 0, K
        if K > 0:
            x, terms, passes, used = self._optimise(x, labels, gen, segments, batch)
        x = x.detach()
        final_teachers = [self.teacher(i) for i in segments[-1][1]] if segments else []
        probs = None
        if final_teachers and (preset.labels == "teacher" or cfg.mix_prob > 0):
            with torch.no_grad():
                probs = sum(F.softmax(self.forward(t, x), 1) for t in final_teachers) / len(final_teachers)
        if preset.labels == "teacher" and probs is not None:
            labels = probs.argmax(1)
        label_list = labels.tolist()
        names = [[self.school.teachers[i].name for i in seg] for _, seg in segments]
        rows = []
        for j in range(n):
            row = {
                "file": None, "label": label_list[j], "id": start + j, "generator": cfg.generator,
                "seed": cfg.seed, "batch": batch, "attempt": attempt, "batch_seed": seed,
                "teachers": names[0] if len(names) == 1 else names,
                "loss": terms,
            }
            if cfg.stop_window:
                row["iters"] = used
            if cfg.mix_prob > 0 and probs is not None:
                row["soft_label"] = [round(float(p), 5) for p in probs[j].tolist()]
            rows.append(row)
        return BatchResult(self.norm.denormalize(x).clamp(0, 1).cpu(), label_list, rows, passes, n * used)

    def _optimise(self, x, labels, gen, segments, batch):
        cfg = self.cfg
        K, n = cfg.iters, x.shape[0]
        augment = AugmentPlan(K, n, cfg.jitter, cfg.flip, cfg.mix_prob, labels, cfg.num_classes, gen, self.device)
        objective = StepObjective(cfg)
        low = cfg.lowres_iters
        scale = cfg.lowres_scale if low else 1.0
        full_size = x.shape[-1]
        if low:
            x = F.interpolate(x, size=max(1, round(full_size * scale)), mode="bilinear", align_corners=False)
        x = x.clone().requires_grad_(True)
        opt = torch.optim.Adam([x], lr=cfg.lr, betas=tuple(cfg.betas))
        scaler = grad_scaler(cfg.amp, self.device)  # fp16 on CUDA only; one per batch, batches stay independent
        group = opt.param_groups[0]
        seg_starts = [s for s, _ in segments] + [K]
        seg = -1
        passes = 0
        per_teacher = cfg.grad_per_teacher
        plateau = Plateau(cfg.stop_window, cfg.stop_tol)
        # the schedule's phase: [start, start + length); with lowres_restart each resolution has its own
        phase_start, phase_len = 0, (low if low and cfg.lowres_restart else K)
        used = K
        for it in range(K):
            if self.pace is not None:
                self.pace()
            if low and it == low:  # to full size: upsample, fresh Adam state (the moments were per low-res pixel)
                with torch.no_grad():
                    x = F.interpolate(x, size=full_size, mode="bilinear", align_corners=False)
                    torch.maximum(torch.minimum(x, self.hi, out=x), self.lo, out=x)
                x.requires_grad_(True)
                opt = torch.optim.Adam([x], lr=cfg.lr, betas=tuple(cfg.betas))
                group = opt.param_groups[0]
                scale = 1.0
                if cfg.lowres_restart:
                    phase_start, phase_len = low, K - low
                    plateau = Plateau(cfg.stop_window, cfg.stop_tol)
            if it == seg_starts[seg + 1]:
                seg += 1
                active = [self.teacher(i) for i in segments[seg][1]]
                weights = [t.spec.weight for t in active]
                w_mean = sum(weights) / len(active)
            if cfg.lr_schedule == "cosine":
                group["lr"] = cfg.lr * 0.5 * (1 + math.cos(math.pi * (it - phase_start) / phase_len))
            xa, target = augment.apply(x, it, labels, scale)
            # per_teacher: backward through each teacher now, into a detached copy of the input; the
            # gradient reaches x through the augmentation below (one teacher graph alive at a time)
            xt = xa.detach().requires_grad_(True) if per_teacher else xa
            sums = {term.name: 0.0 for term in objective.teacher}
            for t, w in zip(active, weights, strict=True):
                with t.recorder:
                    logits = self.forward(t, xt, scale)
                values = objective.teacher_values(logits, target, t.recorder, w)
                if per_teacher:
                    part = objective.weighted_teacher_sum(values) / len(active)
                    (scaler.scale(part) if scaler is not None else part).backward()
                    values = {k: _detach(v) for k, v in values.items()}
                for k, v in values.items():
                    sums[k] = sums[k] + v
            passes += len(active)
            means = {k: v / len(active) for k, v in sums.items()}
            loss = objective.weighted_teacher_sum(means)
            image_values = objective.image_values(x)
            loss, prior = objective.add_image_terms(loss, image_values, w_mean)
            last = it == K - 1 or plateau.stop(loss, not augment.mixed(it))
            if last or (it + 1) % CHECK_EVERY == 0:
                if not bool(torch.isfinite(loss)):
                    raise _Diverged(f"non-finite loss at iteration {it}")
                if self.postfix is not None:
                    self.postfix(batch, it, means.get("ce", 0.0), means.get("bn", 0.0), loss)
            if last:
                terms = {**{k: _f(v) for k, v in means.items()}, **{k: _f(v) for k, v in image_values.items()}, "total": _f(loss)}
            opt.zero_grad(set_to_none=True)
            if per_teacher:
                tensors, grads = [xa], [xt.grad]
                if isinstance(prior, torch.Tensor):
                    tensors.append(scaler.scale(prior) if scaler is not None else prior)
                    grads.append(None)
                torch.autograd.backward(tensors, grads)
                if scaler is None:
                    opt.step()
                else:
                    scaler.step(opt)
                    scaler.update()
            else:
                backward_step(loss, opt, scaler)
            with torch.no_grad():
                torch.maximum(torch.minimum(x, self.hi, out=x), self.lo, out=x)
            if last:
                used = it + 1
                break
        if x.shape[-1] != full_size:  # stopped early inside the low-resolution phase
            with torch.no_grad():
                x = F.interpolate(x.detach(), size=full_size, mode="bilinear", align_corners=False)
                torch.maximum(torch.minimum(x, self.hi, out=x), self.lo, out=x)
        if not bool(torch.isfinite(x).all()):
            raise _Diverged("non-finite image values")
        return x, terms, passes, used

    # ------------------------------------------------------------ the `real` generator
    def _real_batch(self, batch: int) -> BatchResult:
        """Real images of the dataset's calibration split, in an order fixed by the run seed."""
        from lisq.data import get_dataset

        cfg = self.cfg
        if self._real is None:
            ds = get_dataset(cfg.dataset)
            split = ds.split(ds.calibration_split)
            order = torch.randperm(len(split), generator=torch.Generator().manual_seed(derive_seed(cfg.seed, 0, 0, STREAM_REAL)))
            self._real = (split, order)
        split, order = self._real
        start, n = self.batch_slice(batch)
        idx = order[start : start + n]
        labels = split.labels[idx]
        label_list = labels.tolist()
        rows = [{"file": None, "label": label_list[j], "id": start + j, "generator": "real", "seed": cfg.seed,
                 "batch": batch, "source_index": int(idx[j])} for j in range(n)]
        return BatchResult(split.pixels(idx, self.canvas), label_list, rows, 0, 0)


def _detach(value):
    return value.detach() if torch.is_tensor(value) else value


def _f(value) -> float | None:
    if value is None:
        return None
    return round(float(value.detach() if torch.is_tensor(value) else value), 6)
