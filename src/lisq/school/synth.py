"""The one synthesis loop: every generator is this loop with other objective terms and teacher samplers.

Each batch is an independent problem whose schedule, initial noise, labels and augmentations come
from its own random stream derived from (seed, batch index), so the dataset does not depend on
the number of workers or on where a run was resumed (SPEC section 6).
"""

from __future__ import annotations

import math
import os
import sys
import time
import warnings
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import yaml
from tqdm import tqdm

import lisq
from lisq.data.transforms import Normalization
from lisq.errors import LisqError
from lisq.precision import autocast, backward_step, grad_scaler, require_amp_device, to_contiguous
from lisq.school.config import SynthConfig
from lisq.school.courses import (
    CourseSampler,
    School,
    default_school,
    load_school,
    school_from_modules,
    school_from_names,
)
from lisq.school.losses import ce_term, l2_term, tv_term
from lisq.school.teacher import Teacher
from lisq.school.writer import DatasetWriter

STREAM_NOISE, STREAM_SCHEDULE, STREAM_REAL = 0, 1, 2
CHECK_EVERY = 25  # iterations between finite-loss checks (a host sync on GPU)


def derive_seed(seed: int, batch: int, attempt: int = 0, stream: int = STREAM_NOISE) -> int:
    """A 63-bit seed for one random stream of one batch, independent of worker count and resume point."""
    state = np.random.SeedSequence([seed, batch, attempt, stream]).generate_state(2, dtype=np.uint32)
    return int(state[0]) << 31 | int(state[1]) >> 1


@dataclass
class BatchResult:
    pixels: torch.Tensor  # [n, C, H, W] in [0, 1]
    labels: list[int]
    rows: list[dict]
    teacher_passes: int
    image_iters: int


class _Diverged(Exception):
    pass


class Synthesizer:
    """Runs the inversion for single batches; holds the school, the canvas and the loaded teachers."""

    def __init__(self, cfg: SynthConfig, school: School | None, device: torch.device, quiet: bool = True):
        self.cfg, self.school, self.device, self.quiet = cfg, school, device, quiet
        self.preset = cfg.preset
        self.norm = Normalization(tuple(cfg.mean), tuple(cfg.std))
        self.sampler = CourseSampler(cfg.sampler, cfg.k, cfg.resample_every, cfg.teacher) if school else None
        self._teachers: dict[int, Teacher] = {}
        mean = torch.tensor(cfg.mean).view(1, -1, 1, 1)
        std = torch.tensor(cfg.std).view(1, -1, 1, 1)
        self.lo, self.hi = ((0 - mean) / std).to(device), ((1 - mean) / std).to(device)
        self._real = None
        self.postfix = None

    # ------------------------------------------------------------ teachers
    def teacher(self, index: int) -> Teacher:
        """Load a teacher the first time one of this worker's batches draws it."""
        if index not in self._teachers:
            spec = self.school.teachers[index]
            self._teachers[index] = Teacher(spec, self.cfg.image_size, self.cfg.channels, self.norm, self.device,
                                            channels_last=self.cfg.channels_last)
        return self._teachers[index]

    def close(self) -> None:
        """Remove the BN hooks and restore NCHW weights (teachers passed as nn.Modules are the caller's objects)."""
        for t in self._teachers.values():
            if t.recorder is not None:
                t.recorder.remove()
            if t.channels_last:
                to_contiguous(t.model)

    def forward(self, t: Teacher, x: torch.Tensor) -> torch.Tensor:
        """Float32 logits of teacher t on canvas images x (the model compute under autocast when amp is on)."""
        with autocast(self.cfg.amp, self.device):
            logits = t.model(t.adapt(x))
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
        passes = 0
        if K > 0:
            x, terms, passes = self._optimise(x, labels, gen, segments, batch)
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
            if cfg.mix_prob > 0 and probs is not None:
                row["soft_label"] = [round(float(p), 5) for p in probs[j].tolist()]
            rows.append(row)
        return BatchResult(self.norm.denormalize(x).clamp(0, 1).cpu(), label_list, rows, passes, n * K)

    def _optimise(self, x, labels, gen, segments, batch):
        cfg = self.cfg
        K, n = cfg.iters, x.shape[0]
        H, W = x.shape[2], x.shape[3]
        jitter, flip = cfg.jitter, cfg.flip
        shifts = torch.randint(-jitter, jitter + 1, (K, 2), generator=gen).tolist() if jitter > 0 else None
        flips = (torch.rand(K, generator=gen) < 0.5).tolist() if flip else None
        mixing = None
        if cfg.mix_prob > 0:
            use = (torch.rand(K, generator=gen) < cfg.mix_prob).tolist()
            lam = torch.rand(K, generator=gen).tolist()
            centre = torch.rand(K, 2, generator=gen).tolist()
            perms = [torch.randperm(n, generator=gen).to(self.device) for _ in range(K)]
            mixing = (use, lam, centre, perms)
            onehot = F.one_hot(labels, cfg.num_classes).float()
        a_ce, a_bn, a_tv, a_l2 = cfg.a_ce, cfg.a_bn, cfg.a_tv, cfg.a_l2
        x = x.clone().requires_grad_(True)
        opt = torch.optim.Adam([x], lr=cfg.lr, betas=tuple(cfg.betas))
        scaler = grad_scaler(cfg.amp, self.device)  # fp16 on CUDA only; one per batch, batches stay independent
        group = opt.param_groups[0]
        seg_starts = [s for s, _ in segments] + [K]
        seg = -1
        passes = 0
        per_teacher = cfg.grad_per_teacher
        for it in range(K):
            if it == seg_starts[seg + 1]:
                seg += 1
                active = [self.teacher(i) for i in segments[seg][1]]
                weights = [t.spec.weight for t in active]
                w_mean = sum(weights) / len(active)
            if cfg.lr_schedule == "cosine":
                group["lr"] = cfg.lr * 0.5 * (1 + math.cos(math.pi * it / K))
            xa = x
            if shifts is not None:
                dy, dx = shifts[it]
                if dy or dx:
                    xa = torch.roll(xa, shifts=(dy, dx), dims=(2, 3))
            if flips is not None and flips[it]:
                xa = xa.flip(3)
            target = labels
            if mixing is not None and mixing[0][it]:
                xa, target = _cutmix(xa, onehot, mixing[3][it], mixing[1][it], mixing[2][it], H, W)
            # per_teacher: backward through each teacher now, into a detached copy of the input; the
            # gradient reaches x through the augmentation below (one teacher graph alive at a time)
            xt = xa.detach().requires_grad_(True) if per_teacher else xa
            ce = bn = 0.0
            for t, w in zip(active, weights, strict=True):
                with t.recorder:
                    logits = self.forward(t, xt)
                ce_t = w * ce_term(logits, target) if a_ce else 0.0
                bn_t = w * t.recorder.bn_loss()
                if per_teacher:
                    term = (a_ce * ce_t + a_bn * bn_t) / len(active)
                    (scaler.scale(term) if scaler is not None else term).backward()
                    ce_t, bn_t = _detach(ce_t), bn_t.detach()
                ce, bn = ce + ce_t, bn + bn_t
            passes += len(active)
            ce, bn = ce / len(active), bn / len(active)
            loss = a_ce * ce + a_bn * bn
            tv = tv_term(x, cfg.tv_norm) if a_tv else None
            l2 = l2_term(x) if a_l2 else None
            prior = 0.0  # the image-only terms (the per-teacher path backpropagates them separately)
            if tv is not None:
                loss = loss + w_mean * a_tv * tv
                prior = prior + w_mean * a_tv * tv
            if l2 is not None:
                loss = loss + w_mean * a_l2 * l2
                prior = prior + w_mean * a_l2 * l2
            last = it == K - 1
            if last or (it + 1) % CHECK_EVERY == 0:
                if not bool(torch.isfinite(loss)):
                    raise _Diverged(f"non-finite loss at iteration {it}")
                if self.postfix is not None:
                    self.postfix(batch, it, ce, bn, loss)
            if last:
                terms = {"ce": _f(ce), "bn": _f(bn), "tv": _f(tv), "l2": _f(l2), "total": _f(loss)}
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
        if not bool(torch.isfinite(x).all()):
            raise _Diverged("non-finite image values")
        return x, terms, passes

    def _real_batch(self, batch: int) -> BatchResult:
        from lisq.data import load_fashion_mnist

        cfg = self.cfg
        if self._real is None:
            if (cfg.image_size, cfg.channels) != (28, 1):
                raise LisqError("the real generator reads Fashion-MNIST (1x28x28); drop --image-size/--channels")
            images, labels = load_fashion_mnist("train")
            order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(derive_seed(cfg.seed, 0, 0, STREAM_REAL)))
            self._real = (images, labels, order)
        images, labels, order = self._real
        start, n = self.batch_slice(batch)
        idx = order[start : start + n]
        label_list = labels[idx].tolist()
        rows = [{"file": None, "label": label_list[j], "id": start + j, "generator": "real", "seed": cfg.seed,
                 "batch": batch, "source_index": int(idx[j])} for j in range(n)]
        return BatchResult(images[idx].float() / 255.0, label_list, rows, 0, 0)


def _detach(value):
    return value.detach() if torch.is_tensor(value) else value


def _f(value) -> float | None:
    if value is None:
        return None
    return round(float(value.detach() if torch.is_tensor(value) else value), 6)


def _cutmix(x, onehot, perm, lam, centre, H, W):
    """Paste a box of a permuted copy of the batch into each image; area-weighted soft labels (MixMix)."""
    ratio = math.sqrt(1.0 - lam)
    ch, cw = int(H * ratio), int(W * ratio)
    cy, cx = int(centre[0] * H), int(centre[1] * W)
    y0, y1 = max(cy - ch // 2, 0), min(cy + ch // 2, H)
    x0, x1 = max(cx - cw // 2, 0), min(cx + cw // 2, W)
    area = (y1 - y0) * (x1 - x0) / (H * W)
    if area == 0:
        return x, onehot
    mask = torch.zeros(1, 1, H, W, device=x.device)
    mask[..., y0:y1, x0:x1] = 1
    return x * (1 - mask) + x[perm] * mask, onehot * (1 - area) + onehot[perm] * area


# ------------------------------------------------------------------- set-up


def resolve_school(cfg: SynthConfig, teachers=None, school=None) -> School | None:
    """The school for a config: explicit school, --teachers, or the defaults of SPEC/issue #3."""
    preset = cfg.preset
    if not preset.uses_teachers:
        if teachers or school:
            raise LisqError(f"generator {cfg.generator!r} uses no teachers; drop --teachers/--school")
        return None
    if school is not None:
        result = school if isinstance(school, School) else load_school(school)
    elif teachers:
        if isinstance(teachers, str):
            teachers = [t.strip() for t in teachers.split(",") if t.strip()]
        if all(isinstance(t, str) for t in teachers):
            result = school_from_names(list(teachers))
        else:
            result = school_from_modules(list(teachers))
    elif preset.multi_teacher:
        result = default_school()
    else:
        result = school_from_names([best_teacher(default_school())])
    if not preset.multi_teacher and len(result.teachers) > 1 and cfg.teacher is None:
        raise LisqError(
            f"{cfg.generator} inverts one teacher but {len(result.teachers)} were given "
            f"({', '.join(result.names())}); pass one with --teachers, or --teacher NAME to pick one"
        )
    return result


def best_teacher(school: School) -> str:
    """The school's teacher with the highest shipped test top-1 (the model-specific baseline's teacher)."""
    from lisq.models import pretrained_record

    scored = [((pretrained_record(t.model) or {}).get("test_top1", 0.0), t.name) for t in school.teachers]
    return max(scored)[1]


def resolve_canvas(cfg: SynthConfig, school: School | None) -> SynthConfig:
    """Fill the output image size, channels, normalisation and class count from the school."""
    from lisq.data import FASHION_MNIST_NORM

    fill = {}
    if school is not None:
        first = school.teachers[0]
        if cfg.num_classes is not None and cfg.num_classes != school.num_classes:
            raise LisqError(f"--num-classes {cfg.num_classes} but the teachers have {school.num_classes} classes")
        fill["num_classes"] = school.num_classes
        fill["image_size"] = cfg.image_size or max(t.input_size for t in school.teachers)
        fill["channels"] = cfg.channels or max(t.channels for t in school.teachers)
        same = [t for t in school.teachers if t.channels == fill["channels"]] or [first]
        fill["mean"] = cfg.mean or tuple(same[0].mean)
        fill["std"] = cfg.std or tuple(same[0].std)
    else:
        fill["num_classes"] = cfg.num_classes or 10
        fill["image_size"] = cfg.image_size or 28
        fill["channels"] = cfg.channels or 1
        fill["mean"] = cfg.mean or FASHION_MNIST_NORM.mean
        fill["std"] = cfg.std or FASHION_MNIST_NORM.std
    if len(fill["mean"]) != fill["channels"] or len(fill["std"]) != fill["channels"]:
        raise LisqError(f"output normalisation has {len(fill['mean'])} channels for {fill['channels']}-channel images")
    return replace(cfg, **fill)


def _device(device: str, local_rank: int) -> torch.device:
    if device == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    return torch.device(device)


def _dist_setup(device: torch.device) -> tuple[int, int, bool]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if world <= 1:
        return 0, 1, False
    import torch.distributed as dist

    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size(), False
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=timedelta(minutes=30))
    return rank, world, True


def _barrier(world: int) -> None:
    if world > 1:
        import torch.distributed as dist

        dist.barrier()


def synthesize(
    out_dir: str | Path,
    config: SynthConfig | None = None,
    *,
    teachers=None,
    school: School | str | Path | None = None,
    resume: bool = False,
    overwrite: bool = False,
    quiet: bool = False,
    device: str = "auto",
    threads: int | None = None,
    **overrides,
) -> dict:
    """Synthesize a dataset into `out_dir` (ImageFolder PNGs + manifest.jsonl + config.yaml).

    `teachers`: nn.Modules, TeacherSpecs or model names; `school`: a School or a YAML path;
    neither: the default school (lis/mixmix) or its best teacher (zeroq/deepinversion).
    Under torchrun every rank takes the batches b with b % world_size == rank.
    Returns a summary (seconds, image-iterations, teacher passes, teachers loaded here).
    """
    cfg = replace(config or SynthConfig(), **overrides).resolved()
    school_obj = resolve_school(cfg, teachers, school)
    cfg = resolve_canvas(cfg, school_obj)
    if cfg.sampler == "single" and school_obj is not None and cfg.teacher is not None:
        school_obj.index(cfg.teacher)
    if threads:
        torch.set_num_threads(threads)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = _device(device, local_rank)
    require_amp_device(cfg.amp, dev)
    rank, world, owns_group = _dist_setup(dev)
    try:
        return _run(out_dir, cfg, school_obj, dev, rank, world, resume, overwrite, quiet)
    finally:
        if owns_group:
            import torch.distributed as dist

            dist.destroy_process_group()


def resolved_config(cfg: SynthConfig, school: School | None, world: int, device: torch.device) -> dict:
    data = {
        "lisq_version": lisq.__version__,
        "synth": cfg.to_dict(),
        "school": school.to_dict() if school is not None else None,
        "runtime": {"world_size": world, "device": str(device), "torch": str(torch.__version__)},
    }
    return yaml.safe_load(yaml.safe_dump(data, sort_keys=False))


def _run(out_dir, cfg: SynthConfig, school, dev, rank, world, resume, overwrite, quiet) -> dict:
    writer = DatasetWriter(out_dir, cfg.num_images, cfg.num_batches, cfg.num_classes)
    config = resolved_config(cfg, school, world, dev)
    mode = writer.check(config, resume, overwrite)
    _barrier(world)
    if rank == 0:
        writer.prepare(config, mode)
    _barrier(world)
    synth = Synthesizer(cfg, school, dev)
    mine = [b for b in range(rank, cfg.num_batches, world) if not writer.batch_done(b)]
    show = not quiet and rank == 0
    bar = tqdm(total=len(mine), desc=f"synth {cfg.generator}", unit="batch", disable=not show, file=sys.stderr,
               dynamic_ncols=True)
    if show:
        def postfix(batch, it, ce, bn, loss):
            bar.set_postfix_str(f"b{batch} it {it + 1}/{cfg.iters} ce {_f(ce):.3f} bn {_f(bn):.3f} loss {_f(loss):.3f}")

        synth.postfix = postfix
    start = time.time()
    passes = image_iters = 0
    for b in mine:
        result = synth.run_batch(b)
        for row, label in zip(result.rows, result.labels, strict=True):
            row["file"] = writer.file_for(row["id"], label)
        writer.write_batch(b, result.pixels, result.rows)
        passes += result.teacher_passes
        image_iters += result.image_iters
        bar.update(1)
    bar.close()
    synth.close()
    seconds = time.time() - start
    complete = writer.finalize()
    summary = {
        "out": str(out_dir), "rank": rank, "world_size": world, "batches_done_here": len(mine),
        "seconds": round(seconds, 3), "image_iters": image_iters, "teacher_passes": passes,
        "teachers_loaded": synth.loaded() if school is not None else [], "complete": complete,
    }
    return summary
