"""Synthesis benchmarks (not tests): loop overhead vs raw teacher passes, peak RSS, P=1 vs P=2 wall time.

    python benchmarks/synth_bench.py overhead [--teachers a,b | default school] [--batch-size 64 --iters 50 --batches 4]
                                              [--amp bf16] [--channels-last]   (the ceiling stays fp32, contiguous)
    python benchmarks/synth_bench.py rss      [synth options...]
    python benchmarks/synth_bench.py world    [--num-images 256 ...]

`overhead` runs the real loop (Synthesizer.run_batch: augmentation, hooks, all loss terms, Adam, clamp)
and, on the SAME schedules and batch size, the ceiling: plain forward + backward to the input of hook-free
copies of the scheduled teachers (CE loss only). It prints image-iterations/s of both and the overhead.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from lisq.school import SynthConfig
from lisq.school.synth import Synthesizer, resolve_canvas, resolve_school


def _setup(args):
    cfg = SynthConfig(generator=args.generator, batch_size=args.batch_size, iters=args.iters, num_images=args.batch_size * args.batches,
                      k=args.k, sampler=args.sampler, amp=args.amp, channels_last=args.channels_last, speed="full",
                      dataset=args.dataset).resolved()
    school = resolve_school(cfg, args.teachers, args.school)
    cfg = resolve_canvas(cfg, school)
    return cfg, school


def raw_pass_seconds(synth: Synthesizer, batch: int, models: dict) -> float:
    """Forward + backward to the input of the batch's scheduled teachers, K iterations, no hooks/aug/priors."""
    cfg = synth.cfg
    segments = synth.plan(batch)
    start, n = synth.batch_slice(batch)
    x = torch.randn(n, cfg.channels, cfg.image_size, cfg.image_size).requires_grad_(True)
    labels = torch.arange(n) % cfg.num_classes
    bounds = [s for s, _ in segments] + [cfg.iters]
    t0, c0 = time.perf_counter(), time.process_time()
    for seg, (_, teachers) in enumerate(segments):
        for _ in range(bounds[seg], bounds[seg + 1]):
            loss = sum(F.cross_entropy(models[i](x), labels) for i in teachers)
            x.grad = None
            loss.backward()
    return time.perf_counter() - t0, time.process_time() - c0


def cmd_overhead(args) -> dict:
    torch.set_num_threads(args.threads)
    cfg, school = _setup(args)
    synth = Synthesizer(cfg, school, torch.device("cpu"))
    batches = list(range(cfg.num_batches))
    needed = sorted({i for b in batches for _, seg in synth.plan(b) for i in seg})
    models = {i: school.teachers[i].build() for i in needed}  # separate, hook-free copies
    for i in needed:
        synth.teacher(i)
    synth.run_batch(0) if args.warmup else None
    loop_t, raw_t, loop_c, raw_c, passes = [], [], [], [], 0
    for b in batches:  # interleaved, so load changes hit both alike
        t0, c0 = time.perf_counter(), time.process_time()
        result = synth.run_batch(b)
        loop_t.append(time.perf_counter() - t0)
        loop_c.append(time.process_time() - c0)
        wall, cpu = raw_pass_seconds(synth, b, models)
        raw_t.append(wall)
        raw_c.append(cpu)
        passes += result.teacher_passes
    image_iters = cfg.iters * cfg.batch_size * len(batches)
    out = {
        "teachers": [school.teachers[i].name for i in needed], "batch_size": cfg.batch_size, "iters": cfg.iters,
        "batches": len(batches), "threads": args.threads, "teacher_passes": passes, "amp": cfg.amp,
        "channels_last": cfg.channels_last, "image_size": cfg.image_size,
        "loop_seconds": round(sum(loop_t), 3), "raw_seconds": round(sum(raw_t), 3),
        "loop_image_iters_per_s": round(image_iters / sum(loop_t), 1),
        "raw_image_iters_per_s": round(image_iters / sum(raw_t), 1),
        "overhead": round(sum(loop_t) / sum(raw_t) - 1, 4),
        "overhead_median_batch": round(statistics.median(lt / rt for lt, rt in zip(loop_t, raw_t, strict=True)) - 1, 4),
        "overhead_cpu_time": round(sum(loop_c) / sum(raw_c) - 1, 4),
    }
    return out


def _synth_cmd(args, out: Path, nproc: int) -> list[str]:
    base = ["-m", "lisq", "synth", "--generator", args.generator, "--num-images", str(args.num_images), "--batch-size",
            str(args.batch_size), "--iters", str(args.iters), "--out", str(out), "--overwrite", "--quiet", "--json",
            "--threads", str(args.threads)]
    if args.teachers:
        base += ["--teachers", args.teachers]
    if args.school:
        base += ["--school", args.school]
    if nproc > 1:
        return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", *base]
    return [sys.executable, *base]


def cmd_rss(args) -> dict:
    out = Path(args.out) / "rss"
    t0 = time.perf_counter()
    proc = subprocess.run(_synth_cmd(args, out, 1), capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(proc.stderr)
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"num_images": args.num_images, "iters": args.iters, "batch_size": args.batch_size,
            "peak_rss_mib": round(peak_kib / 1024, 1), "wall_seconds": round(wall, 1)}


def cmd_world(args) -> dict:
    results = {}
    for nproc in (1, 2):
        out = Path(args.out) / f"p{nproc}"
        t0 = time.perf_counter()
        proc = subprocess.run(_synth_cmd(args, out, nproc), capture_output=True, text=True,
                              env={**os.environ, "OMP_NUM_THREADS": str(args.threads)})
        if proc.returncode:
            raise SystemExit(proc.stderr)
        results[f"P{nproc}_wall_seconds"] = round(time.perf_counter() - t0, 1)
    same = _digest(Path(args.out) / "p1") == _digest(Path(args.out) / "p2")
    return {**results, "speedup": round(results["P1_wall_seconds"] / results["P2_wall_seconds"], 3),
            "threads_per_rank": args.threads, "byte_identical": same, "num_images": args.num_images, "iters": args.iters}


def _digest(root: Path) -> dict:
    import hashlib

    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*.png"))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["overhead", "rss", "world"])
    p.add_argument("--generator", default="lis")
    p.add_argument("--teachers", default=None)
    p.add_argument("--school", default=None)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--iters", type=int, default=50)
    p.add_argument("--batches", type=int, default=4, help="overhead: batches timed")
    p.add_argument("--num-images", type=int, default=256, help="rss/world: images synthesised")
    p.add_argument("--k", type=int, default=2)
    p.add_argument("--sampler", default=None)
    p.add_argument("--amp", default="off", choices=["off", "bf16"], help="overhead: the loop's teacher passes under autocast")
    p.add_argument("--channels-last", action="store_true", help="overhead: the loop's teachers in NHWC")
    p.add_argument("--dataset", default=None, help="label space of the school (default: the school's)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-warmup", dest="warmup", action="store_false")
    p.add_argument("--out", default="/tmp/lisq_bench")
    args = p.parse_args()
    result = {"overhead": cmd_overhead, "rss": cmd_rss, "world": cmd_world}[args.what](args)
    print(json.dumps({"benchmark": args.what, **result, "torch": str(torch.__version__), "cpus": os.cpu_count()}))


if __name__ == "__main__":
    main()
