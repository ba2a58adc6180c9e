"""`synthesize`: one synthesis run, from a config to a dataset directory, on one worker or many.

The pieces: lisq.school.resolve (teachers and canvas), lisq.school.inversion (the loop, one batch
at a time), lisq.school.objective (the terms), lisq.school.augment, lisq.school.seeds (random
streams), lisq.school.distributed (torchrun) and lisq.school.writer (atomic, resumable output).
Each batch is an independent problem, so the dataset does not depend on the number of workers or
on where a run was resumed (SPEC section 6).
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch
import yaml
from tqdm import tqdm

import lisq
from lisq import runtime
from lisq.precision import require_amp_device
from lisq.school import revision
from lisq.school.config import SCHEMA_VERSION, SynthConfig
from lisq.school.courses import School
from lisq.school.distributed import barrier, dist_setup, pick_device, teardown
from lisq.school.inversion import Synthesizer, _f
from lisq.school.resolve import best_teacher, resolve_canvas, resolve_school
from lisq.school.seeds import derive_seed
from lisq.school.writer import DatasetWriter

__all__ = ["best_teacher", "derive_seed", "plan_synthesis", "resolve_canvas", "resolve_school", "resolved_config", "synthesize"]


def plan_synthesis(config: SynthConfig | None = None, *, teachers=None, school=None, add_teachers=None,
                   **overrides) -> tuple[SynthConfig, School | None]:
    """The resolved config (every default filled, canvas set) and the school of a request; loads no weights."""
    cfg = replace(config or SynthConfig(), **overrides).resolved()
    school_obj = resolve_school(cfg, teachers, school, add_teachers)
    cfg = resolve_canvas(cfg, school_obj)
    cfg = cfg.with_speed()  # the dataset's speed preset unless the config names one
    if cfg.sampler == "single" and school_obj is not None and cfg.teacher is not None:
        school_obj.index(cfg.teacher)
    return cfg, school_obj


def synthesize(
    out_dir: str | Path,
    config: SynthConfig | None = None,
    *,
    teachers=None,
    school: School | str | Path | None = None,
    add_teachers=None,
    resume: bool = False,
    overwrite: bool = False,
    quiet: bool = False,
    device: str = "auto",
    threads: int | str | None = None,
    **overrides,
) -> dict:
    """Synthesize a dataset into `out_dir` (ImageFolder PNGs + manifest.jsonl + config.yaml).

    `teachers`: nn.Modules, TeacherSpecs or model names; `school`: a School or a YAML path;
    neither: the dataset's default school (lis/mixmix) or its best teacher (zeroq/deepinversion).
    `add_teachers` (nn.Modules, TeacherSpecs or model names) join that school in every schedule, whatever the
    sampler draws: the way to put the model about to be quantized among the teachers.
    Under torchrun every rank takes the batches b with b % world_size == rank. `threads`: torch threads
    for this call; "auto" lets them follow the cores other jobs leave free (CPU only; same bytes).
    Returns a summary (seconds, image-iterations, teacher passes, teachers loaded here).
    """
    cfg, school_obj = plan_synthesis(config, teachers=teachers, school=school, add_teachers=add_teachers, **overrides)
    if threads not in (None, "auto"):
        torch.set_num_threads(threads)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = pick_device(device, local_rank)
    require_amp_device(cfg.amp, dev)
    initial = torch.get_num_threads()
    governor = None
    if threads == "auto" and dev.type == "cpu" and runtime.governor_allowed():
        governor = runtime.ThreadGovernor(initial)
    rank, world, owns_group = dist_setup(dev)
    try:
        return _run(out_dir, cfg, school_obj, dev, rank, world, resume, overwrite, quiet, governor)
    finally:
        teardown(owns_group)
        if governor is not None:
            torch.set_num_threads(initial)


def resolved_config(cfg: SynthConfig, school: School | None, world: int = 1, device: torch.device | str = "cpu") -> dict:
    """What config.yaml records: the schema version, the synth revision, every setting, the school, the runtime."""
    data = {
        "lisq_version": lisq.__version__,
        "schema": SCHEMA_VERSION,
        "synth_revision": revision.REVISION,
        "synth": cfg.to_dict(),
        "school": school.to_dict() if school is not None else None,
        "runtime": {"world_size": world, "device": str(device), "torch": str(torch.__version__)},
    }
    return yaml.safe_load(yaml.safe_dump(data, sort_keys=False))


def _run(out_dir, cfg: SynthConfig, school, dev, rank, world, resume, overwrite, quiet, governor=None) -> dict:
    writer = DatasetWriter(out_dir, cfg.num_images, cfg.num_batches, cfg.num_classes)
    config = resolved_config(cfg, school, world, dev)
    mode = writer.check(config, resume, overwrite)
    barrier(world)
    if rank == 0:
        writer.prepare(config, mode)
    barrier(world)
    synth = Synthesizer(cfg, school, dev)
    synth.pace = governor
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
    if governor is not None:
        summary["thread_changes"] = governor.changes
    return summary
