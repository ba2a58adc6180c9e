"""`lisq synth`: synthesize a calibration set (ImageFolder PNGs + manifest) with one of six generators."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path

import yaml

from lisq.data.registry import add_dataset_arg
from lisq.errors import LisqError
from lisq.precision import AMP_MODES
from lisq.school.config import GENERATORS, SPEEDS, SynthConfig
from lisq.school.courses import SAMPLERS
from lisq.school.objective import TERMS

# CLI flag -> SynthConfig field, for the settings a user usually touches (the objective terms' weights,
# --a-<term>, come from the term registry).
FLAG_FIELDS = {
    "num_images": int, "batch_size": int, "iters": int, "lr": float, "seed": int, "jitter": int, "sampler": str,
    "k": int, "resample_every": int, "teacher": str, "mix_prob": float, "image_size": int, "num_classes": int,
    "amp": str, "dataset": str, "stop_window": int, "stop_tol": float,
    "lowres_iters": int, "lowres_scale": float, "speed": str,
}


def register(subparsers) -> None:
    p = subparsers.add_parser("synth", help="synthesize calibration images by inverting teachers")
    p.add_argument("--generator", default=None, choices=list(GENERATORS), help="default: lis (or the --config file's)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--teachers", default=None, help="comma-separated model references (registry names or file.py:factory)")
    src.add_argument("--school", default=None, help="school YAML: courses -> teachers (default: the shipped school)")
    p.add_argument("--add-teachers", default=None, metavar="REFS",
                   help="comma-separated model references that join the school in every schedule, whatever the "
                        "sampler draws; e.g. the model you are about to quantize (closest to real-data calibration "
                        "for a model trained on other data, at the cost of a dataset made for it)")
    p.add_argument("--out", default=None, help="output directory (ImageFolder layout); required unless --dry-run")
    p.add_argument("--config", default=None, help="YAML of synthesis settings (flags override it), e.g. configs/synth_lis.yaml")
    p.add_argument("--num-images", type=int, default=None, help="default 1024")
    p.add_argument("--batch-size", type=int, default=None, help="images optimised together (default 64)")
    p.add_argument("--iters", type=int, default=None, help="Adam iterations per batch (default 400)")
    p.add_argument("--lr", type=float, default=None, help="Adam learning rate (default 0.2, cosine decay)")
    p.add_argument("--seed", type=int, default=None, help="run seed; every batch derives its streams from (seed, batch)")
    for term in TERMS.values():
        p.add_argument(f"--a-{term.name}", dest=f"term_{term.name}", type=float, default=None,
                       help=f"weight of the {term.name} term: {term.help} (default {term.default}; per generator)")
    p.add_argument("--jitter", type=int, default=None, help="random shift in pixels per iteration")
    p.add_argument("--no-flip", dest="flip", action="store_false", default=None, help="no random horizontal flips")
    p.add_argument("--sampler", default=None, choices=list(SAMPLERS))
    p.add_argument("--k", type=int, default=None, help=f"teachers (courses) drawn per schedule (default {SynthConfig.k})")
    p.add_argument("--resample-every", type=int, default=None, help="redraw the schedule every R iterations (0: per batch)")
    p.add_argument("--teacher", default=None, help="the teacher of the single sampler (a name in the school)")
    p.add_argument("--mix-prob", type=float, default=None, help="CutMix probability per iteration (mixmix: 0.5)")
    p.add_argument("--image-size", type=int, default=None, help="output resolution (default: largest teacher input)")
    p.add_argument("--speed", default=None, choices=list(SPEEDS),
                   help="fast: channels_last, the first 3/4 of --iters at half size, stop a batch when its loss "
                        "plateaus; full: every iteration at full size. Default: the dataset's (fast for fmnist and "
                        "cifar10, full elsewhere); the flags below override single parts")
    p.add_argument("--lowres-iters", type=int, default=None,
                   help="multi-resolution: run the first N iterations at --lowres-scale of the size (0: off; "
                        "default: --speed's, 3/4 of --iters for fast)")
    p.add_argument("--lowres-scale", type=float, default=None,
                   help=f"size of the low-resolution phase, relative (default {SynthConfig.lowres_scale})")
    p.add_argument("--lowres-restart", dest="lowres_restart", action=argparse.BooleanOptionalAction, default=None,
                   help="give each resolution its own cosine schedule: the learning rate starts again at --lr for the "
                        "full-size finish (default off: one schedule over all --iters)")
    p.add_argument("--stop-window", type=int, default=None,
                   help="stop a batch early when its loss plateaus: compare the means of successive windows of this "
                        "many iterations (0: run all --iters; default: --speed's, 20 for fast)")
    p.add_argument("--stop-tol", type=float, default=None,
                   help=f"relative loss drop per window below which a batch stops (default {SynthConfig.stop_tol})")
    p.add_argument("--num-classes", type=int, default=None)
    add_dataset_arg(p, "; picks the default school, the `real` images and the canvas of teacher-free generators")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    p.add_argument("--overwrite", action="store_true", help="replace an existing lisq dataset in --out")
    p.add_argument("--device", default="auto", help="auto (cuda:LOCAL_RANK if available), cpu, cuda:0 ...")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads per worker (default: the cores other jobs leave free, re-checked as it runs)")
    p.add_argument("--amp", default=None, choices=AMP_MODES,
                   help="teacher passes under autocast: off (default), bf16 (CPU or GPU), fp16 (CUDA only)")
    p.add_argument("--channels-last", dest="channels_last", action=argparse.BooleanOptionalAction, default=None,
                   help="run the teachers in NHWC memory order (1.1-1.3x on this project's CPU; default: --speed's, "
                        "on for fast)")
    p.add_argument("--grad-per-teacher", dest="grad_per_teacher", action="store_true", default=None,
                   help="backpropagate one teacher at a time: memory of one teacher's graph instead of k (large teachers)")
    p.add_argument("--dry-run", action="store_true",
                   help="validate the config and school (no weights loaded, nothing written) and print the resolved plan")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the run summary as JSON")
    p.set_defaults(func=run)


def build_config(args) -> SynthConfig:
    cfg = SynthConfig.from_yaml(args.config) if args.config else SynthConfig()
    known = {f.name for f in fields(SynthConfig)}
    overrides = {"generator": args.generator} if args.generator else {}
    for name in list(FLAG_FIELDS) + ["flip", "channels_last", "grad_per_teacher", "lowres_restart"]:
        value = getattr(args, name, None)
        if value is not None and name in known:
            overrides[name] = value
    for term in TERMS.values():
        value = getattr(args, f"term_{term.name}", None)
        if value is None:
            continue
        if term.key in known:
            overrides[term.key] = value
        else:
            overrides["term_weights"] = {**(cfg.term_weights or {}), **overrides.get("term_weights", {}), term.name: value}
    from dataclasses import replace

    if overrides.get("dataset"):
        from lisq.data import get_dataset

        get_dataset(overrides["dataset"])
    return replace(cfg, **overrides)


def school_from_config(args, cfg: SynthConfig):
    """The `school:` mapping of a --config file (paths relative to it), when --school/--teachers are not given."""
    if not args.config or args.school or args.teachers:
        return None

    from lisq.school.courses import school_from_dict

    data = yaml.safe_load(Path(args.config).read_text()) or {}
    if isinstance(data, dict) and data.get("school") is not None:
        return school_from_dict(data["school"], source=f"{args.config}: school", base=Path(args.config).parent,
                                dataset=cfg.dataset)
    return None


def dry_run(args, cfg: SynthConfig, school) -> int:
    """Resolve everything that needs no weights: settings, school tree, canvas, batch plan."""
    from lisq.school.synth import plan_synthesis

    final, school = plan_synthesis(cfg, teachers=None if school is not None else args.teachers,
                                   school=school if school is not None else args.school, add_teachers=args.add_teachers)
    quant = None
    if args.config:
        data = yaml.safe_load(Path(args.config).read_text()) or {}
        if isinstance(data, dict) and data.get("quant") is not None:
            from lisq.quant.config import QuantConfig

            quant = QuantConfig.from_dict(data["quant"]).to_dict()
    plan = {
        "synth": final.to_dict(),
        "school": school.to_dict() if school is not None else None,
        "batches": final.num_batches,
        "teachers": school.names() if school is not None else [],
        "quant": quant,
    }
    print(yaml.safe_dump(plan, sort_keys=False) if not args.json else json.dumps(plan))
    print(f"lisq synth --dry-run: config valid; {final.num_batches} batches of {final.batch_size} "
          f"{final.channels}x{final.image_size}x{final.image_size} {final.dataset} images, "
          f"{len(plan['teachers'])} teachers, speed {final.speed}, nothing written")
    return 0


def import_published(args, cfg: SynthConfig) -> None:
    """Published outside models named by --teachers / --add-teachers (`resnet20a.cifar10`), imported on first use
    as `lisq zoo import` does (a dry run imports nothing: it says which command would)."""
    from lisq.zoo.outside import ensure_published

    for refs in (args.teachers, args.add_teachers):
        for ref in [r.strip() for r in (refs or "").split(",") if r.strip() and ":" not in r]:
            name = ref if "." in ref else f"{ref}.{cfg.dataset}" if cfg.dataset else ref
            ensure_published(name, name.partition(".")[2], lambda line: print(line, file=sys.stderr))


def run(args) -> int:
    from lisq.school.synth import synthesize

    cfg = build_config(args)
    school = school_from_config(args, cfg)
    if args.dry_run:
        return dry_run(args, cfg, school)
    if args.out is None:
        raise LisqError("--out DIR is required (except with --dry-run)")
    import_published(args, cfg)
    summary = synthesize(
        args.out, cfg, teachers=args.teachers, school=school if school is not None else args.school,
        add_teachers=args.add_teachers, resume=args.resume, overwrite=args.overwrite,
        quiet=args.quiet, device=args.device, threads=args.threads if args.threads is not None else "auto",
    )
    if args.json:
        print(json.dumps(summary))
    elif summary["rank"] == 0 or summary["complete"]:
        state = "complete" if summary["complete"] else "waiting for other workers"
        print(f"lisq synth: rank {summary['rank']}/{summary['world_size']} made {summary['batches_done_here']} batches "
              f"in {summary['seconds']:.1f} s; {args.out}: {state}")
    return 0
